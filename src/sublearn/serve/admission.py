"""A bounded queue of chat requests per model: past its size a request gets a 429, so the work waiting (and the
memory it holds) stays bounded whatever the clients send."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sublearn.serve.errors import ServeError


class Admission:
    """Places in each model's queue of chat requests (in flight or waiting), at most ``size`` per model."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, model_id: Any) -> Iterator[None]:
        """Hold a place in ``model_id``'s queue while the request runs; none left: a 429 saying to retry later."""
        release = self.hold(model_id)
        try:
            yield
        finally:
            release()

    def hold(self, model_id: Any) -> Callable[[], None]:
        """Take a place in ``model_id``'s queue (none left: a 429); returns the call that gives it back, which
        gives it back once however often it is called (a stream ends in several ways)."""
        name = str(model_id)
        with self._lock:
            if self._held.get(name, 0) >= self.size:
                raise ServeError(429, f"model {name!r}: {self.size} requests are already waiting or running; "
                                 "retry later", "model", "rate_limit_exceeded")
            self._held[name] = self._held.get(name, 0) + 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._held[name] -= 1

        return release
