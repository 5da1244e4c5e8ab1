"""Logging: the ``sublearn`` logger, shown on stderr from the level ``--log-level`` sets, and a log file per
invocation in the folder a command works on (``RUN/logs/``), which keeps at least every INFO line, warnings, and
the whole traceback of a failure that the console shows as one line."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The package's logger; modules log to its children (``logging.getLogger(__name__)``).
LOGGER = logging.getLogger("sublearn")
#: The levels ``--log-level`` takes.
LEVELS = ("debug", "info", "warning", "error")
#: How a log line reads in a file.
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_CONSOLE_HANDLER = "sublearn-console"
#: ``extra`` of a record kept in log files only (a traceback the console shows as one line already).
FILE_ONLY = {"file_only": True}


def configure_console(level: str = "warning") -> None:
    """Show the package's log lines from ``level`` on stderr (rich-formatted); idempotent per process."""
    if level not in LEVELS:
        raise ValueError(f"log level {level!r}: one of {', '.join(LEVELS)}")
    from rich.console import Console
    from rich.logging import RichHandler

    for handler in list(LOGGER.handlers):
        if handler.get_name() == _CONSOLE_HANDLER:
            LOGGER.removeHandler(handler)
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False)
    handler.set_name(_CONSOLE_HANDLER)
    handler.setLevel(level.upper())
    handler.addFilter(lambda record: not getattr(record, next(iter(FILE_ONLY)), False))  # the console has its one line
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers = [handler]


def log_file_name(command: str) -> str:
    """``YYYYmmdd-HHMMSS-COMMAND-PID.log`` (UTC): one file per invocation, sorted by time."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{command.replace(' ', '-')}-{os.getpid()}.log"


@contextmanager
def run_log(folder: Path, command: str, level: str = "info", arguments: dict[str, Any] | None = None
            ) -> Iterator[Path | None]:
    """Keep this invocation's log lines (from ``level``, at least INFO) in ``folder/logs/``; the command line
    opens the file, and the outcome (finished, or the failure with its traceback) closes it. A folder that cannot
    be written (a run read from a read-only copy) gets no file, and a warning says so."""
    path = folder / "logs" / log_file_name(command)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        LOGGER.warning("no log file in %s (%s)", path.parent, exc.strerror or exc)
        yield None
        return
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(min(logging.INFO, logging.getLevelName(level.upper())))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    from sublearn import __version__

    given = " ".join(f"{k}={v}" for k, v in (arguments or {}).items())
    LOGGER.info("sublearn %s %s %s (python %s; argv %s)", __version__, command, given, sys.version.split()[0],
                " ".join(sys.argv))
    try:
        yield path
    except BaseException as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 1))  # click's Exit, or SystemExit
        if code in (0, None):
            LOGGER.info("finished")
        elif hasattr(exc, "exit_code") or isinstance(exc, SystemExit):
            LOGGER.error("exited with status %s", code)
        else:
            LOGGER.error("failed: %s: %s", type(exc).__name__, exc, exc_info=True, extra=FILE_ONLY)
        raise
    else:
        LOGGER.info("finished")
    finally:
        LOGGER.removeHandler(handler)
        warnings_logger.removeHandler(handler)
        handler.close()
