"""Errors that the command line reports as one clear line instead of a traceback, and the one formatter of
validation errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SublearnError(Exception):
    """A user-facing error: bad input, a missing or corrupt file, an impossible setting.

    The message names the field, file or line at fault and says what to do.
    """


class DataError(SublearnError):
    """A data file is missing, corrupt or malformed."""


class ConfigError(SublearnError):
    """A setting is invalid."""


def validation_messages(exc: Any, path_of: Callable[[tuple[Any, ...]], str] | None = None) -> list[str]:
    """``path: message`` for every error of a pydantic ``ValidationError``; ``path_of`` renders an error's location
    (dotted field names by default). Errors of a whole section (a check across its fields) are their message
    alone, which names the fields."""
    out = []
    for err in exc.errors():
        path = path_of(err["loc"]) if path_of else ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {message}" if path else message)
    return out
