"""What every run writes next to its summary: the tidy tables (Parquet and CSV), every answer of every evaluation
(``answers.parquet``) and, for grids over traits, the trait × teacher confusion analysis of every student arm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublearn.analysis.answers import ANSWERS_FILE, run_answers
from sublearn.analysis.confusion import analysis_key, confusion_frame, selective_transfer
from sublearn.analysis.tidy import per_animal_results, tidy_results, write_table
from sublearn.design.arms import trait_students
from sublearn.util.atomic import atomic_write_json, atomic_write_with


def selective_transfer_analyses(reports: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For grids that vary the teacher's trait: the trait × teacher confusion analysis (λ) of every trait student
    arm, readout and scale, by :func:`~sublearn.analysis.confusion.analysis_key` (empty otherwise)."""
    per_animal = per_animal_results(reports) if reports else None
    if per_animal is None or per_animal.empty:
        return {}
    analyses: dict[str, dict[str, Any]] = {}
    for arm in trait_students(sorted(set(per_animal["arm"]))):
        for metric in sorted(per_animal["metric"].unique()):
            frame = confusion_frame(per_animal, metric, student_arm=arm)
            if frame.empty or frame["teacher_trait"].nunique() < 2:
                continue
            for value in ("lift", "log_lift"):
                key = analysis_key(metric, arm, value)
                try:
                    analyses[key] = selective_transfer(frame, value=value)
                except ValueError as exc:
                    analyses[key] = {"error": str(exc)}
    return analyses


def write_analysis(out_dir: Path, reports: Sequence[dict[str, Any]],
                   analyses: dict[str, dict[str, Any]] | None = None) -> None:
    """``results.*``, ``answers.parquet``, ``per_animal.*`` and, when the grid varies the teacher's trait,
    ``selective_transfer.json`` (``analyses``: already computed, with their place in the secondary family)."""
    if not reports:
        return
    write_table(tidy_results(reports), out_dir / "results")
    answers = run_answers(out_dir, reports)
    atomic_write_with(out_dir / ANSWERS_FILE, lambda p: answers.to_parquet(p, index=False))
    per_animal = per_animal_results(reports)
    if per_animal.empty:
        return
    write_table(per_animal, out_dir / "per_animal")
    analyses = selective_transfer_analyses(reports) if analyses is None else analyses
    if analyses:
        atomic_write_json(out_dir / "selective_transfer.json", analyses)
