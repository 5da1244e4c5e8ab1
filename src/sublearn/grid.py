"""Run a grid of experiment cells through an executor, and summarise across seeds.

The executor interface is one method, ``map(run_cell, cells)``; :class:`LocalExecutor` runs cells one after
another in this process. A distributed executor (Ray) implements the same method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sublearn.atomic import atomic_write_json, atomic_write_text
from sublearn.pipeline import CellRunner
from sublearn.progress import ProgressFn, no_progress
from sublearn.spec import ExperimentSpec
from sublearn.stats import mean_ci, paired_test
from sublearn.store import ArtifactStore

CellFn = Callable[[ExperimentSpec], dict[str, Any]]
HEADLINE_METRICS = ("p_exact", "share_exact", "p_prefilled", "share_prefilled", "mcq", "sampled_rate")


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
             progress: ProgressFn = no_progress, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every cell into ``out_dir`` (one shared artifact store), write reports and the summary."""
    store = ArtifactStore(out_dir)

    def run_cell(cell: ExperimentSpec) -> dict[str, Any]:
        report = CellRunner(cell, store, progress, log).run()
        atomic_write_json(out_dir / "cells" / cell.cell_id() / "report.json", report)
        return report

    reports = (executor or LocalExecutor()).map(run_cell, cells)
    summary = summarise(reports)
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary))
    return summary


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
                    entry.update(mean_ci(values).as_dict(), ci_over="seeds")
                else:
                    only = members[0]["arms"][arm]["metrics"][metric]
                    entry.update(mean=only["mean"], ci95=only["ci95"], n=only["n"], ci_over="questions")
                arms[arm][metric] = entry
        tests = {}
        for a, b in (("student", "control"), ("cross_student", "cross_reference"), ("icl", "icl_control")):
            if a in arms and b in arms and len(members) > 1:
                for metric in arms[a].keys() & arms[b].keys():
                    tests[f"{a}-{b}:{metric}"] = paired_test(arms[a][metric]["per_seed"],
                                                             arms[b][metric]["per_seed"]).as_dict()
        spec = dict(members[0]["spec"])
        spec.pop("seed")
        out_groups.append({"spec": spec, "seeds": seeds, "cells": [r["cell"] for r in members], "arms": arms,
                           "tests_over_seeds": tests,
                           "wall_seconds": sum(r.get("wall_seconds", 0) for r in members)})
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
