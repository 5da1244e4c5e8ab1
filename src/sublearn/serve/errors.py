"""The server's refusals, as OpenAI error bodies."""

from __future__ import annotations

from typing import Any


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body: ``invalid_request_error`` below 500, ``server_error`` from 500."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class ServeError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``param`` the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
