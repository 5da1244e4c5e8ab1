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


class FolderLogHandler(logging.Handler):
    """Log lines into ``folder/logs/name``, opened once ``folder`` exists: a command that creates its folder
    only after checking its input leaves nothing behind when the input is refused. Lines before then are held
    (at most :data:`HELD_LINES`). A folder that cannot be written gets no file (``failed`` says why)."""

    HELD_LINES = 10_000

    def __init__(self, folder: Path, name: str, level: int) -> None:
        super().__init__(level)
        self.folder, self.path = folder, folder / "logs" / name
        self.held: list[str] = []
        self.stream: Any = None
        self.failed: str | None = None
        self.setFormatter(logging.Formatter(FILE_FORMAT))

    def _open(self) -> bool:
        if self.stream is None and self.failed is None and self.folder.is_dir():
            try:
                self.path.parent.mkdir(exist_ok=True)
                self.stream = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
                self.held.clear()
                return False
            self.stream.write("".join(self.held))
            self.held.clear()
        return self.stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record) + "\n"
        if self._open():
            self.stream.write(line)
            self.stream.flush()
        elif self.failed is None and len(self.held) < self.HELD_LINES:
            self.held.append(line)

    def close(self) -> None:
        if self._open():
            self.stream.close()
        super().close()


@contextmanager
def run_log(folder: Path, command: str, level: str = "info", arguments: dict[str, Any] | None = None
            ) -> Iterator[Path]:
    """Keep this invocation's log lines (from ``level``, at least INFO) in ``folder/logs/`` (once the folder
    exists; see :class:`FolderLogHandler`); the command and its arguments open the file, and the outcome
    (finished, or the failure with its traceback) closes it. Yields the log file's path."""
    handler = FolderLogHandler(folder, log_file_name(command),
                               min(logging.INFO, logging.getLevelName(level.upper())))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    from sublearn import __version__

    given = " ".join(f"{k}={v}" for k, v in (arguments or {}).items())
    LOGGER.info("sublearn %s %s %s (python %s; argv %s)", __version__, command, given, sys.version.split()[0],
                " ".join(sys.argv))
    try:
        yield handler.path
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
        if handler.failed:
            LOGGER.warning("no log file in %s (%s)", handler.path.parent, handler.failed)
