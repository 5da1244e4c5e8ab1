"""Server-sent events for ``stream: true``: text chunks as the model writes them, then each choice's finish reason,
then (when ``stream_options.include_usage``) a last chunk with the usage and no choices, then ``data: [DONE]``, as
OpenAI and vLLM stream.

Generation runs in a worker thread and hands its deltas to the event loop; a client that goes away, a server that
stops or a passed deadline ends it. Refusals come before the stream starts, as plain JSON errors with their status;
a failure after it started is sent as an event holding OpenAI's error body, which the official client raises.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sublearn.models.types import ChatChoice
from sublearn.serve.errors import ServeError, error_body

#: Work that generates, handing (choice, text) deltas to its argument; returns the finished choices.
Generate = Callable[[Callable[[int, str], None]], list[ChatChoice]]


@dataclass
class ChunkShape:
    """How one endpoint's stream looks: ``chunk(entries, usage)`` wraps choice entries (and, in the usage chunk,
    the usage) into a chunk object; ``delta(i, text, first)`` and ``finish(i, choice)`` build a choice's entry."""

    chunk: Callable[[list[dict[str, Any]], dict[str, int] | None], dict[str, Any]]
    delta: Callable[[int, str, bool], dict[str, Any]]
    finish: Callable[[int, ChatChoice], dict[str, Any]]
    usage: Callable[[list[ChatChoice]], dict[str, int]]
    n_choices: int


def event(doc: dict[str, Any] | str) -> bytes:
    """One server-sent event."""
    return f"data: {doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)}\n\n".encode()


async def stream_events(generate: Generate, shape: ChunkShape, include_usage: bool, gone: threading.Event,
                        deadline: float, timeout_s: float, release: Callable[[], None]) -> AsyncIterator[bytes]:
    """The events of one streamed answer, shaped by ``shape``. ``gone`` is set when the client leaves (or the
    stream ends), which stops generation; ``release`` frees the request's place in the model's queue."""
    from starlette.concurrency import run_in_threadpool

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    started = [False] * shape.n_choices

    def on_delta(index: int, text: str) -> None:  # in the generating thread
        loop.call_soon_threadsafe(queue.put_nowait, (index, text))

    work = asyncio.ensure_future(run_in_threadpool(generate, on_delta))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                if queue.empty():
                    break
                continue
            index, text = getter.result()
            yield event(shape.chunk([shape.delta(index, text, not started[index])], None))
            started[index] = True
        choices = work.result()
        if time.monotonic() > deadline:
            raise ServeError(504, f"request: not answered within the server's {timeout_s:g} s", None, "timeout")
        for index, choice in enumerate(choices):
            if not started[index]:
                yield event(shape.chunk([shape.delta(index, "", True)], None))
            yield event(shape.chunk([shape.finish(index, choice)], None))
        if include_usage:
            yield event(shape.chunk([], shape.usage(choices)))
        yield event("[DONE]")
    except ServeError as exc:
        yield event(error_body(exc.status, exc.message, exc.param, exc.code))
    except Exception as exc:  # a failure mid-stream: said in the stream, whose status was sent already
        yield event(error_body(500, f"generation failed: {type(exc).__name__}: {str(exc)[:300]}", None,
                               "server_error"))
    finally:
        gone.set()  # a client that left (the generator closed early) stops its generation
        release()
