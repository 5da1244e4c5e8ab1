"""Run a grid of experiment cells through an executor, and summarise across seeds.

The executor interface is one method, ``map(run_cell, cells)``; :class:`LocalExecutor` runs cells one after
another in this process. A distributed executor (Ray) implements the same method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sublearn.analysis.multiple import adjust_pvalues
from sublearn.atomic import atomic_write_json, atomic_write_text
from sublearn.pipeline import CellRunner
from sublearn.progress import ProgressFn, no_progress
from sublearn.spec import ExperimentSpec
from sublearn.stats import paired_test, probability_ci
from sublearn.store import ArtifactStore

CellFn = Callable[[ExperimentSpec], dict[str, Any]]
HEADLINE_METRICS = ("p_exact", "share_exact", "p_prefilled", "share_prefilled", "mcq", "sampled_rate",
                    "misaligned_rate", "truthfulqa_false")


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
             store: ArtifactStore | None = None) -> dict[str, Any]:
    """Run every cell into ``out_dir`` (one shared artifact store), write reports, the summary and the tidy tables.

    A cell whose report already exists is finished: it is read back, never run again. ``store`` may be a store
    with a remote mirror (an fsspec URL) for executors whose workers do not share ``out_dir``.
    """
    store = store or ArtifactStore(out_dir)
    done: dict[str, dict[str, Any]] = {}
    for cell in cells:
        report = store.read_cell_report(cell.cell_id())
        if report is not None:
            done[cell.cell_id()] = report
    todo = [c for c in cells if c.cell_id() not in done]
    if done:
        log(f"{len(done)} of {len(cells)} cell(s) already finished; running {len(todo)}")
    results = (executor or LocalExecutor()).map(make_cell_fn(store, progress, log), todo) if todo else []
    by_id = {**done, **{c.cell_id(): r for c, r in zip(todo, results, strict=True)}}
    reports = [by_id[c.cell_id()] for c in cells]
    for report in reports:  # reports that workers wrote elsewhere (a remote store) are also kept with the run
        local = out_dir / "cells" / report.get("cell", "") / "report.json"
        if "error" not in report and not local.is_file():
            atomic_write_json(local, report)
    summary = summarise(reports)
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary))
    write_analysis(out_dir, [r for r in reports if "error" not in r])
    return summary


def make_cell_fn(store: ArtifactStore, progress: ProgressFn = no_progress,
                 log: Callable[[str], None] = lambda _: None) -> CellFn:
    """The function an executor runs per cell: all stages, then the cell report (written atomically)."""

    def run_cell(cell: ExperimentSpec) -> dict[str, Any]:
        attempt = store.start_attempt(cell.cell_id())
        report = CellRunner(cell, store, progress, log).run()
        report["attempt"] = attempt
        store.write_cell_report(cell.cell_id(), report)
        store.finish_attempt(cell.cell_id(), attempt)
        return report

    return run_cell


def write_analysis(out_dir: Path, reports: Sequence[dict[str, Any]]) -> None:
    """The tidy tables (Parquet and CSV) and, for grids over traits, the confusion analysis."""
    if not reports:
        return
    from sublearn.analysis.confusion import ARM_BASELINES, analysis_key, confusion_frame, selective_transfer
    from sublearn.analysis.tidy import per_animal_results, tidy_results, write_table

    write_table(tidy_results(reports), out_dir / "results")
    per_animal = per_animal_results(reports)
    if per_animal.empty:
        return
    write_table(per_animal, out_dir / "per_animal")
    analyses = {}
    for arm in ARM_BASELINES:
        for metric in sorted(per_animal["metric"].unique()):
            frame = confusion_frame(per_animal, metric, student_arm=arm)
            if frame.empty or frame["teacher_trait"].nunique() < 2:
                continue
            try:
                analyses[analysis_key(metric, arm)] = selective_transfer(frame)
            except ValueError as exc:
                analyses[analysis_key(metric, arm)] = {"error": str(exc)}
    if analyses:
        atomic_write_json(out_dir / "selective_transfer.json", analyses)


def _group_key(spec: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def summarise(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per group of cells that differ only by seed: each arm's metrics across seeds, and paired tests."""
    groups: dict[str, list[dict[str, Any]]] = {}
    failures = [r for r in reports if "error" in r]
    for r in reports:
        if "error" not in r:
            groups.setdefault(_group_key(r["spec"]), []).append(r)
    out_groups = []
    for members in groups.values():
        members.sort(key=lambda r: r["spec"]["seed"])
        seeds = [r["spec"]["seed"] for r in members]
        arms: dict[str, dict[str, Any]] = {}
        for arm in members[0]["arms"]:
            arms[arm] = {}
            for metric in members[0]["arms"][arm]["metrics"]:
                values = [r["arms"][arm]["metrics"][metric]["mean"] for r in members if arm in r["arms"]]
                entry: dict[str, Any] = {"per_seed": values}
                if len(values) > 1:
                    entry.update(probability_ci(values), ci_over="seeds")  # every readout is a probability
                else:
                    only = members[0]["arms"][arm]["metrics"][metric]
                    entry.update(mean=only["mean"], ci95=only["ci95"], n=only["n"], ci_over="questions")
                arms[arm][metric] = entry
        tests = {}
        for a, b in (("student", "control"), ("cross_student", "cross_reference"), ("cross_student", "cross_control"),
                     ("icl", "icl_control")):
            if a in arms and b in arms and len(members) > 1:
                for metric in arms[a].keys() & arms[b].keys():
                    tests[f"{a}-{b}:{metric}"] = paired_test(arms[a][metric]["per_seed"],
                                                             arms[b][metric]["per_seed"]).as_dict()
        spec = dict(members[0]["spec"])
        spec.pop("seed")
        out_groups.append({"spec": spec, "seeds": seeds, "cells": [r["cell"] for r in members], "arms": arms,
                           "tests_over_seeds": tests,
                           "wall_seconds": sum(r.get("wall_seconds", 0) for r in members)})
    tests = [t for g in out_groups for t in g["tests_over_seeds"].values()]
    for test, adjusted in zip(tests, adjust_pvalues([t["p_ttest"] for t in tests]), strict=True):
        test["p_holm"] = adjusted  # Holm's correction over every test of the run
    return {"groups": out_groups, "failures": failures, "n_cells": len(reports)}


def summary_markdown(summary: dict[str, Any]) -> str:
    """A readable table per group: arm × headline metric, mean [95% CI] (n)."""
    lines = ["# Summary", ""]
    for k, group in enumerate(summary["groups"]):
        lines += [f"## Group {k + 1}: {group['spec']['name']} (seeds {group['seeds']})", ""]
        metrics = [m for m in HEADLINE_METRICS if any(m in a for a in group["arms"].values())]
        lines.append("| arm | " + " | ".join(metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")
        for arm, values in group["arms"].items():
            cells = []
            for m in metrics:
                v = values.get(m)
                cells.append(f"{v['mean']:.4g} [{v['ci95'][0]:.4g}, {v['ci95'][1]:.4g}] (n={v['n']}, "
                             f"{v['ci_over']})" if v else "")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    for failure in summary["failures"]:
        lines.append(f"- cell {failure['cell']} failed: {failure['error']}")
    return "\n".join(lines) + "\n"
