"""The HTTP protocol the server speaks: uvicorn's h11 protocol with a deadline on each request's head.

uvicorn closes a keep-alive connection left idle after a response, but a client that connects and sends its
headers slowly, or never, holds a connection (and a slot of the server's) for as long as it likes. Here a request
head must arrive whole within ``header_timeout_s`` of the connection (or of the previous response); otherwise the
connection is closed. The body has its own deadline (:class:`~sublearn.serve.limits.BodySizeLimit`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineH11(H11Protocol):
    """h11 with a deadline on request heads (``header_timeout_s``; a subclass per server sets it)."""

    header_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_head_timer()  # the head arrived: the request's own deadlines take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()  # the next request's head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def protocol_with_head_deadline(seconds: float) -> Any:
    """The protocol class to give uvicorn (``Config(http=...)``) for a head deadline of ``seconds``."""
    return type("HeadDeadlineH11", (HeadDeadlineH11,), {"header_timeout_s": seconds})
