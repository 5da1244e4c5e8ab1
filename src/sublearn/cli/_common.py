"""What every command shares: the consoles, and the handler that turns user errors into one red line."""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from sublearn.config.grid import readable_path
from sublearn.util.errors import ConfigError, SublearnError, validation_messages

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
#: The ``--quiet`` flag of every long-running command.
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.", show_default="off")]
#: The ``--json`` flag of every command that prints results: one JSON document on stdout, nothing else.
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout (no tables, "
                                      "no progress bars).", show_default="off")]
#: Set for each invocation by ``sublearn --debug`` (errors are raised with their traceback, not printed as one line)
#: and ``--log-level``.
SETTINGS: dict[str, Any] = {"debug": False, "log_level": "warning"}


def format_validation_error(exc: ValidationError) -> str:
    """One line naming every bad field: ``field.path: message; ...`` (union tags of a spec left out)."""
    path_of = readable_path if exc.title == "ExperimentSpec" else None
    return "; ".join(validation_messages(exc, path_of))


def error_line(message: str) -> None:
    """Print one red ``error:`` line on stderr."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True, markup=True)


def writable_folder(folder: Path, option: str = "--out") -> Path:
    """Create ``folder`` and check that files can be written in it, before any computation starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {folder}: cannot write there ({exc.strerror or exc})") from exc
    return folder


def writable_file(path: Path | None, option: str = "--out") -> Path | None:
    """Check, before any computation starts, that a result file can be written at ``path`` (not a folder; its
    folder created and writable); ``None`` passes through."""
    if path is None:
        return None
    if path.is_dir():
        raise ConfigError(f"{option} {path}: a folder; give a file name (e.g. {path / 'result.json'})")
    writable_folder(path.parent if str(path.parent) else Path("."), option)
    return path


def error_text(exc: BaseException) -> str:
    """The one line that names what went wrong with a user's input or files."""
    if isinstance(exc, ValidationError):
        return format_validation_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}); give a UTF-8 file"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        reason = (exc.strerror or os.strerror(exc.errno)) if exc.errno else str(exc)
        return f"{where}: {reason}" if where else reason
    return str(exc)


def user_errors(func: F) -> F:
    """Turn user-facing errors (sublearn's, validation, and file-system, JSON and text-encoding errors) into one
    red line on stderr and exit status 2, without a traceback (unless ``--debug``)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SublearnError, ValidationError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            if SETTINGS["debug"]:
                raise
            from rich.markup import escape

            error_line(escape(error_text(exc)))
        raise typer.Exit(code=2)

    return wrapper  # type: ignore[return-value]


def run_logged(folder_param: str, command: str, existing: bool = False) -> Callable[[F], F]:
    """Keep the command's log in ``FOLDER/logs/`` (:func:`sublearn.util.logs.run_log`), where FOLDER is the
    value of its parameter ``folder_param``; with ``existing``, only when that folder exists already (a command
    that reads a run does not create one). Put it under :func:`user_errors`, so a failure's traceback is logged
    before the console shows it as one line."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from sublearn.util.logs import run_log

            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            folder = bound.arguments.get(folder_param)
            if folder is None or (existing and not Path(folder).is_dir()):
                return func(*args, **kwargs)
            with run_log(Path(folder), command, SETTINGS["log_level"], dict(bound.arguments)):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def print_json(doc: Any) -> None:
    """``doc`` as one JSON document on stdout (NaN and infinities as null, which JSON has no other way to say)."""
    print(json.dumps(_finite(doc), indent=1, ensure_ascii=False, default=str, allow_nan=False))
