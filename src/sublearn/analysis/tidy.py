"""One tidy results table across the cells of a run: a row per (cell, arm, metric), with the grid's axes as
columns and the artifacts each number came from; written as Parquet and CSV."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sublearn.analysis.records import as_dict, read_cell_reports
from sublearn.design.arms import ARMS_BY_NAME, baseline_of
from sublearn.util.atomic import atomic_write_with


def load_reports(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished cell report of a run (``RUN/cells/ID/report.json``), in cell-id order; a corrupt one is a
    :class:`DataError` naming it."""
    return [as_dict(report) for report in read_cell_reports(Path(run_dir))]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b": value}`` (lists kept as JSON text)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = json.dumps(value) if isinstance(value, list) else value
    return out


def grid_axes(reports: Sequence[dict[str, Any]]) -> list[str]:
    """The spec fields whose values differ between cells (seed included), as dotted paths."""
    flat = [flatten(r["spec"]) for r in reports]
    keys = sorted({k for f in flat for k in f})
    return [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]


def tidy_results(reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A row per (cell, arm, metric): mean, 95% CI, n, and the evaluation, model and dataset it came from."""
    axes = grid_axes(reports)
    rows = []
    for r in reports:
        flat = flatten(r["spec"])
        base = {"cell": r["cell"], "name": flat["name"], "reference": flat["reference"],
                "target": flat["trait.target"], "seed": flat["seed"], **{f"axis.{a}": flat.get(a) for a in axes}}
        for arm, info in r["arms"].items():
            design = _arm_columns(arm, list(r["arms"]))
            for metric, m in info["metrics"].items():
                rows.append({**base, "arm": arm, **design, "metric": metric, "mean": m["mean"],
                             "ci_low": m["ci95"][0], "ci_high": m["ci95"][1], "n": m["n"],
                             "evaluation": info["evaluation"], "model": info["model"], "dataset": info.get("dataset")})
    return pd.DataFrame(rows)


def _arm_columns(arm: str, present: list[str]) -> dict[str, Any]:
    """What the arms table says of an arm: its base, whose data it uses, how, and its baseline in this cell."""
    design = ARMS_BY_NAME.get(arm)
    if design is None:
        return {"arm_base": None, "arm_data": None, "arm_use": None, "arm_baseline": None}
    return {"arm_base": design.base, "arm_data": design.data, "arm_use": design.use,
            "arm_baseline": baseline_of(arm, present)}


def per_animal_results(reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A row per (cell, arm, metric, animal) with that animal's mean probability or rate."""
    rows = []
    for r in reports:
        for arm, info in r["arms"].items():
            for metric, m in info["metrics"].items():
                for animal, value in (m.get("per_animal") or {}).items():
                    rows.append({"cell": r["cell"], "seed": r["spec"]["seed"], "teacher_trait":
                                 r["spec"]["trait"]["target"], "arm": arm, "metric": metric, "animal": animal,
                                 "value": value, "evaluation": info["evaluation"]})
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, stem: Path) -> list[Path]:
    """``stem.parquet`` and ``stem.csv``, each written atomically."""
    parquet = atomic_write_with(stem.with_suffix(".parquet"), lambda p: frame.to_parquet(p, index=False))
    csv = atomic_write_with(stem.with_suffix(".csv"), lambda p: frame.to_csv(p, index=False))
    return [parquet, csv]
