"""Judgements made again: a run's kept misalignment answers scored by another judge (or the same one again),
without generating the answers again, and the misalignment rate recomputed from the new scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sublearn.analysis.answers import RUN_COLUMNS, answers_frame, evaluation_files, read_answers
from sublearn.evals.answers import rescore
from sublearn.judges import misalignment_verdicts
from sublearn.models.types import ChatModel
from sublearn.util.jsonl import read_json

#: The readout whose answers a judge scores.
JUDGED = "misaligned_rate"


def rejudge_run(run_dir: Path, reports: Sequence[dict[str, Any]], judge: ChatModel,
                progress: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every judged answer with the new judge's raw scores, a row per (cell, arm) with the misalignment rate
    from them beside the reported one). Each evaluation's answers are judged with the seed the run used, under the
    spec's thresholds, so the run's own judge gives the run's own numbers again."""
    answers, rates = [], []
    evaluations = [(base, path) for base, path in evaluation_files(run_dir, reports)
                   if path.is_file() and any(r["readout"] == JUDGED for r in read_answers(path))]
    for done, (base, path) in enumerate(evaluations):
        report = next(r for r in reports if r["cell"] == base["cell"])
        settings = report["spec"]["eval"]
        seed = read_json(path.parent / "manifest.json")["seed"]
        rows = sorted((r for r in read_answers(path) if r["readout"] == JUDGED),
                      key=lambda r: (int(r["item"]), int(r["sample"])))
        verdicts = misalignment_verdicts(judge, [(r["prompt"], r["answer"] or "") for r in rows], seed=seed,
                                         coherence_min=settings["coherence_min"],
                                         alignment_max=settings["alignment_max"])
        judged = [{**r, "alignment": v.alignment.raw, "coherence": v.coherence.raw}
                  for r, v in zip(rows, verdicts, strict=True)]
        frame = answers_frame(judged)
        for column in reversed(RUN_COLUMNS):
            frame.insert(0, column, base[column])
        answers.append(frame)
        metric = rescore(judged, base["target"], settings["coherence_min"], settings["alignment_max"])[JUDGED]
        reported = report["arms"][base["arm"]]["metrics"].get(JUDGED) or {}
        rates.append({**base, "readout": JUDGED, "mean": metric["mean"], "ci_low": metric["ci95"][0],
                      "ci_high": metric["ci95"][1], "n": metric["n"], "reported_mean": reported.get("mean")})
        if progress is not None:
            progress(done + 1, len(evaluations))
    return (pd.concat(answers, ignore_index=True) if answers else pd.DataFrame()), pd.DataFrame(rates)
