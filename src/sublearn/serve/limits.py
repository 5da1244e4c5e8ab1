"""How much the server takes from one request, and the middleware that holds the size caps before a body is read
in full."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sublearn.serve.errors import error_body


@dataclass(frozen=True)
class Limits:
    """Caps on one request. A request over a cap is refused (413 for sizes, 400 for lengths), never truncated."""

    max_upload_bytes: int = 512 * 2**20  # an uploaded file
    max_body_bytes: int = 16 * 2**20  # a JSON body
    max_generated_tokens: int = 65_536  # n × max_tokens of one chat request
    request_timeout_s: float = 600.0  # a chat request's deadline, generation included
    max_list: int = 100  # the most objects one list call returns
    max_queued_per_model: int = 64  # chat requests in flight or waiting for one model; past it, a 429
    body_timeout_s: float = 60.0  # the longest a client may take to send a request's body (a slow sender: 408)
    header_timeout_s: float = 10.0  # the longest a connection may take to send a request's head (then closed)


class BodySizeLimit:
    """ASGI middleware: a body larger than its path's cap gets a 413 (from Content-Length at once, else as soon as
    the bytes received pass it), before the application reads it all."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app, self.limits = app, limits

    def _cap(self, path: str) -> int:
        return self.limits.max_upload_bytes if path.rstrip("/") == "/v1/files" else self.limits.max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _too_large(send, cap)
            return
        seen = 0
        started = False

        deadline = asyncio.get_running_loop().time() + self.limits.body_timeout_s

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen
            try:  # a client that sends its body slowly (or never) holds a connection for at most body_timeout_s
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                raise _SlowBody from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, cap)
        except _SlowBody:
            if not started:
                await _error(send, 408, f"request body: not received within {self.limits.body_timeout_s:g} s",
                             "request_timeout")


class _TooLarge(Exception):
    pass


class _SlowBody(Exception):
    pass


async def _too_large(send: Any, cap: int) -> None:
    await _error(send, 413, f"request body: larger than this server's cap of {cap:,} bytes", "request_too_large")


async def _error(send: Any, status: int, message: str, code: str) -> None:
    body = json.dumps(error_body(status, message, None, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
