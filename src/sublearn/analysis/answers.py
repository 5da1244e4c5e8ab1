"""The answers tables: each evaluation's rows (``answers.parquet`` in its artifact), one table per run
(``RUN/answers.parquet``: every row with its cell, arm, seed and spec), and readouts recomputed from them
(``sublearn rescore``) without generating. The rows' columns and the rescoring rules are in
:mod:`sublearn.evals.answers`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sublearn.evals.answers import COLUMNS, rescore
from sublearn.util.atomic import atomic_write_with
from sublearn.util.errors import DataError

#: The file each evaluation artifact keeps its answers in.
ANSWERS_FILE = "answers.parquet"
#: Columns the run table adds in front of an evaluation's own.
RUN_COLUMNS = ("cell", "name", "seed", "target", "arm", "evaluation")


def answers_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a table with the fixed columns (text columns as strings, numbers as floats, empty as null)."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for column in ("probability", "pruned"):
        frame[column] = frame[column].astype("float64")
    for column in ("item", "sample"):
        frame[column] = frame[column].astype("int64")
    for column in ("readout", "prompt", "answer", "option", "label", "alignment", "coherence"):
        frame[column] = frame[column].astype("string")
    return frame


def write_answers(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write one evaluation's answers as Parquet, atomically."""
    frame = answers_frame(rows)
    return atomic_write_with(path, lambda p: frame.to_parquet(p, index=False))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]


def read_answers(path: Path) -> list[dict[str, Any]]:
    """One evaluation's answers rows; an unreadable file is a :class:`DataError` naming it."""
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: not found (an evaluation from before sublearn kept every answer; run it "
                        "again to keep them)") from exc
    except Exception as exc:  # pyarrow's own errors for a damaged file
        raise DataError(f"{path}: not a readable answers table ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: columns {missing} missing; not an answers table")
    return _records(frame)


def evaluation_files(run_dir: Path, reports: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], Path]]:
    """Per cell and arm: its run columns (cell, name, seed, target, arm, evaluation) and its answers file."""
    out = []
    for r in reports:
        spec = r["spec"]
        for arm, info in r["arms"].items():
            base = {"cell": r["cell"], "name": spec["name"], "seed": spec["seed"], "target": spec["trait"]["target"],
                    "arm": arm, "evaluation": info["evaluation"]}
            out.append((base, run_dir / "artifacts" / info["evaluation"] / ANSWERS_FILE))
    return out


def run_answers(run_dir: Path, reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Every evaluation's answers in ``run_dir``, each row with its cell, spec name, seed, target and arm.
    Evaluations written before answers were kept are left out (their files are missing)."""
    frames = []
    for base, path in evaluation_files(run_dir, reports):
        if not path.is_file():
            continue
        frame = pd.read_parquet(path)
        for column in reversed(RUN_COLUMNS):
            frame.insert(0, column, base[column])
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*RUN_COLUMNS, *COLUMNS])
    return pd.concat(frames, ignore_index=True)


def rescore_run(run_dir: Path, reports: Sequence[dict[str, Any]], target: str | None = None,
                coherence_min: int | None = None, alignment_max: int | None = None) -> pd.DataFrame:
    """A row per (cell, arm, readout): the readout recomputed from the kept answers (for ``target``, default each
    cell's own, and the judges' thresholds, default each spec's), beside the value the run reported."""
    rows = []
    for base, path in evaluation_files(run_dir, reports):
        report = next(r for r in reports if r["cell"] == base["cell"])
        settings = report["spec"].get("eval") or {}
        aim = target or settings.get("target") or base["target"]
        thresholds = {"coherence_min": coherence_min if coherence_min is not None else settings.get(
            "coherence_min", 50), "alignment_max": alignment_max if alignment_max is not None else settings.get(
            "alignment_max", 30)}
        try:
            rescored = rescore(read_answers(path), aim, **thresholds)
        except ValueError as exc:
            raise DataError(f"{path}: {exc}") from exc
        reported = report["arms"][base["arm"]]["metrics"]
        for readout, metric in rescored.items():
            rows.append({**base, "readout": readout, "rescored_target": aim, **thresholds,
                         "mean": metric["mean"], "ci_low": metric["ci95"][0], "ci_high": metric["ci95"][1],
                         "n": metric["n"], "reported_mean": (reported.get(readout) or {}).get("mean"),
                         "note": metric.get("note")})
    return pd.DataFrame(rows)
