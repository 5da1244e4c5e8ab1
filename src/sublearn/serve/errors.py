"""The server's refusals, as OpenAI error bodies."""

from __future__ import annotations


class ServeError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``param`` the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
