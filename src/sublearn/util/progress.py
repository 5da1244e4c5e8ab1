"""Rich progress bars behind the small ``progress(phase, total)`` callback the libraries take."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Called as ``progress(phase, total_steps)`` once per phase, then ``progress(phase, None)`` after each step.
ProgressFn = Callable[[str, int | None], None]


def no_progress(phase: str, total: int | None) -> None:
    """A progress callback that shows nothing."""
    return None


@contextmanager
def rich_progress(console: Console | None = None, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a callback that shows one bar per phase; ``progress(phase, n)`` opens it, ``(phase, None)`` steps."""
    if not enabled:
        yield no_progress
        return
    columns = (TextColumn("[bold]{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("steps"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def update(phase: str, total: int | None) -> None:
            if total is not None:
                tasks[phase] = bars.add_task(phase, total=total)
            elif phase in tasks:
                bars.advance(tasks[phase])

        yield update


def step_counter(progress: ProgressFn, phase: str) -> Callable[[int, int], None]:
    """Adapt ``progress`` to callbacks of the form ``(done, total)``: opens the bar on the first call."""
    opened = False

    def step(done: int, total: int) -> None:
        nonlocal opened
        if not opened:
            progress(phase, total)
            opened = True
        progress(phase, None)

    return step
