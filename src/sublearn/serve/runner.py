"""Run the API in a background thread on a free local port (for tests, notebooks and in-process pipelines)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from sublearn.serve.limits import Limits


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A uvicorn server running in a thread; ``url`` is its ``/v1`` base URL."""

    server: Any
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 30.0,
                    header_timeout_s: float = Limits.header_timeout_s) -> RunningServer:
    """Serve ``app`` with uvicorn in a daemon thread (request heads due within ``header_timeout_s``); returns once
    it accepts connections."""
    import uvicorn

    from sublearn.serve.protocol import protocol_with_head_deadline

    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           http=protocol_with_head_deadline(header_timeout_s)))
    thread = threading.Thread(target=server.run, name="sublearn-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    return RunningServer(server, thread, f"http://{host}:{port}/v1")


def serve_until_stopped(state: Any, api_key: str | None, host: str, port: int) -> None:
    """Serve in the foreground; SIGINT or SIGTERM stops work in flight at once (generation stops at its next token,
    a training job's process is ended), then the server exits."""
    import uvicorn

    from sublearn.serve.app import create_app
    from sublearn.serve.protocol import protocol_with_head_deadline

    class StoppingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            state.stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(create_app(state, api_key), host=host, port=port, log_level="info",
                            timeout_graceful_shutdown=10,
                            http=protocol_with_head_deadline(state.limits.header_timeout_s))
    StoppingServer(config).run()
