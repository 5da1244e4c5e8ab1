"""What every command shares: the consoles, and the handler that turns user errors into one red line."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from sublearn.config.grid import readable_path
from sublearn.util.errors import SublearnError, validation_messages

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
#: The ``--quiet`` flag of every long-running command.
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.", show_default="off")]
#: Set for each invocation by ``sublearn --debug``: errors are raised with their traceback, not printed as one line.
SETTINGS = {"debug": False}


def format_validation_error(exc: ValidationError) -> str:
    """One line naming every bad field: ``field.path: message; ...`` (union tags of a spec left out)."""
    path_of = readable_path if exc.title == "ExperimentSpec" else None
    return "; ".join(validation_messages(exc, path_of))


def error_line(message: str) -> None:
    """Print one red ``error:`` line on stderr."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True, markup=True)


def user_errors(func: F) -> F:
    """Turn user-facing errors into one red line on stderr and exit status 2, without a traceback (unless
    ``--debug``)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SublearnError, ValidationError) as exc:
            if SETTINGS["debug"]:
                raise
            from rich.markup import escape

            text = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            error_line(escape(text))
        raise typer.Exit(code=2)

    return wrapper  # type: ignore[return-value]
