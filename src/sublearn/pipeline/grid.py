"""Run a grid of experiment cells through an executor, then write the summary and the analysis tables.

The executor interface is one method, ``map(run_cell, cells)``; :class:`LocalExecutor` runs cells one after
another in this process. A distributed executor (Ray, :mod:`~sublearn.pipeline.ray_executor`) implements the
same method.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sublearn.analysis.records import parse_summary, write_cell_report, write_summary
from sublearn.analysis.summary import summarise, summary_markdown
from sublearn.analysis.tables import selective_transfer_analyses, write_analysis
from sublearn.backends.base import Backend
from sublearn.config.experiment import ExperimentSpec
from sublearn.pipeline.cell import run_cell
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.integrity import StoreError
from sublearn.pipeline.store import ArtifactStore
from sublearn.pipeline.tracking import track_cell, track_effects
from sublearn.util.atomic import atomic_write_text
from sublearn.util.logs import FILE_ONLY
from sublearn.util.progress import ProgressFn, no_progress

LOG = logging.getLogger(__name__)

CellFn = Callable[[ExperimentSpec], dict[str, Any]]


class Executor(Protocol):
    """Runs ``fn`` on every cell; returns one result per cell (a report, or ``{"error": ...}``)."""

    def map(self, fn: CellFn, cells: Sequence[ExperimentSpec]) -> list[dict[str, Any]]: ...


class LocalExecutor:
    """One cell after another in this process; a failing cell is reported and the others still run."""

    def map(self, fn: CellFn, cells: Sequence[ExperimentSpec]) -> list[dict[str, Any]]:
        """Run the cells in order."""
        results = []
        for cell in cells:
            try:
                results.append(fn(cell))
            except Exception as exc:  # reported per cell; artifacts already written are kept
                results.append({"cell": cell.cell_id(), "error": f"{type(exc).__name__}: {exc}"})
        return results


def run_grid(cells: Sequence[ExperimentSpec], out_dir: Path, executor: Executor | None = None,
             progress: ProgressFn = no_progress, log: Callable[[str], None] = lambda _: None,
             store: ArtifactStore | None = None, backend: Backend | None = None) -> dict[str, Any]:
    """Run every cell into ``out_dir`` (one shared artifact store), write reports, the summary and the tidy tables.

    A cell whose report already exists is finished: it is read back, never run again. ``store`` may be a store
    with a remote mirror (an fsspec URL) for executors whose workers do not share ``out_dir``. ``backend``: one
    backend object for every cell instead of the spec's (a stand-in, as in tests; local executor only).
    """
    store = store or ArtifactStore(out_dir)
    done: dict[str, dict[str, Any]] = {}
    for cell in cells:
        try:
            report = store.read_cell_report(cell.cell_id())
        except StoreError as exc:  # the cell runs again; its finished stages are reused
            aside = store.set_aside_cell_report(cell.cell_id())
            log(f"{exc.args[0].split(';')[0]}; moved it to {aside} and running the cell again")
            report = None
        if report is not None:
            done[cell.cell_id()] = report
    todo = [c for c in cells if c.cell_id() not in done]
    if done:
        log(f"{len(done)} of {len(cells)} cell(s) already finished; running {len(todo)}")
    results = (executor or LocalExecutor()).map(make_cell_fn(store, progress, log, backend), todo) if todo else []
    by_id = {**done, **{c.cell_id(): r for c, r in zip(todo, results, strict=True)}}
    reports = [by_id[c.cell_id()] for c in cells]
    for report in reports:  # reports that workers wrote elsewhere (a remote store) are also kept with the run
        local = out_dir / "cells" / report.get("cell", "") / "report.json"
        if "error" not in report and not local.is_file():
            write_cell_report(local, report)
    finished = [r for r in reports if "error" not in r]
    analyses = selective_transfer_analyses(finished)
    summary = summarise(reports, {f"selective_transfer/{k}": v for k, v in analyses.items() if "error" not in v})
    write_summary(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "summary.md", summary_markdown(parse_summary(summary, str(out_dir / "summary.json"))))
    write_analysis(out_dir, finished, analyses)
    track_effects(summary, out_dir)
    return summary


def record_invocation(out_dir: Path, spec_file: Path, overrides: Sequence[str], n_cells: int) -> None:
    """Append how a run was started (spec file, its sha256, ``--set`` overrides, cell count, time, version) to
    ``RUN/invocations.jsonl``, so that a run folder says which commands built it."""
    import hashlib
    import time

    from sublearn import __version__

    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "spec": str(spec_file),
            "spec_sha256": hashlib.sha256(Path(spec_file).read_bytes()).hexdigest(), "overrides": list(overrides),
            "cells": n_cells, "sublearn": __version__}
    path = out_dir / "invocations.jsonl"
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    atomic_write_text(path, previous + json.dumps(line) + "\n")


def make_cell_fn(store: ArtifactStore, progress: ProgressFn = no_progress,
                 log: Callable[[str], None] = lambda _: None, backend: Backend | None = None) -> CellFn:
    """The function an executor runs per cell: all stages, then the cell report (written atomically)."""

    def run_one(cell: ExperimentSpec) -> dict[str, Any]:
        attempt = store.start_attempt(cell.cell_id())
        LOG.info("cell %s (seed %s): attempt %s started", cell.cell_id(), cell.seed, attempt)
        try:
            report = run_cell(CellContext(cell, store, progress, log, backend))
        except Exception:
            LOG.exception("cell %s: attempt %s failed", cell.cell_id(), attempt, extra=FILE_ONLY)
            raise
        report["attempt"] = attempt
        store.write_cell_report(cell.cell_id(), report)
        track_cell(report, store.root)
        store.finish_attempt(cell.cell_id(), attempt)
        LOG.info("cell %s: finished", cell.cell_id())
        return report

    return run_one
