"""`sublearn family` on language models, against the transfer a run measured: for each base a run's students
started from (the teachers' own, and each other base of its dose-response), the lineage score between the trait
teacher and that base, beside what the students of that base picked up.

Run from the repository root on a finished run of a spec with other bases (``configs/demo/owl-numbers-cpu-full.yaml``):

    .venv/bin/python scripts/family_lm.py runs/owl-numbers-cpu [--replicate 0] [--summary SUMMARY.json]
        [--out docs/results/family-lm.json]

The score is computed on one replicate's teacher and bases (each replicate perturbs with its own noise; the score
depends on the distance, not on the draw).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from scipy import stats as sps

from sublearn.analysis.tidy import load_reports
from sublearn.audit.family import lineage, load_state
from sublearn.util.atomic import atomic_write_json


def _model_path(run: Path, ref: str) -> str:
    """An artifact ref's model folder, or a model name as it is."""
    folder = run / "artifacts" / ref / "model"
    return str(folder) if folder.is_dir() else ref


def family_rows(run: Path, replicate: int, summary_path: Path | None = None) -> list[dict[str, Any]]:
    """Per base students started from: the lineage of the trait teacher against that base, and the measured
    effect of its students (log ratio to their placebo, per readout, over replicates)."""
    summary = json.loads((summary_path or run / "summary.json").read_text())
    reports = {r["cell"]: r for r in load_reports(run) if "error" not in r}
    rows: list[dict[str, Any]] = []
    teacher_state = None
    for group in summary["groups"]:
        if not group.get("interaction"):
            continue
        cell = next(reports[c] for c in group["cells"] if reports[c]["spec"]["seed"] == replicate)
        if teacher_state is None:
            teacher_state, teacher_what = load_state(_model_path(run, cell["arms"]["teacher"]["model"]))
            base_state, base_what = load_state(_model_path(run, cell["arms"]["reference"]["model"]))
            same = {m: t["same_base"] for m, t in group["interaction"].items()}
            rows.append({"base": "the teachers' own (" + cell["arms"]["reference"]["model"] + ")",
                         "teacher": teacher_what, "model": base_what,
                         **lineage(teacher_state, base_state), "measured": same})
        other_ref = cell["arms"]["cross_reference"]["model"]
        other_state, other_what = load_state(_model_path(run, other_ref))
        rows.append({"base": group["cross_model"]["name"], "teacher": teacher_what, "model": other_what,
                     **lineage(teacher_state, other_state),
                     "measured": {m: t["other_base"] for m, t in group["interaction"].items()}})
    return rows


def exact_spearman_p(x: list[float], y: list[float]) -> float:
    """Two-sided p-value of Spearman's rho over every permutation of ``y`` (exact, for the few points here)."""
    observed = abs(float(sps.spearmanr(x, y).statistic))
    values = [abs(float(sps.spearmanr(x, list(p)).statistic)) for p in itertools.permutations(y)]
    return sum(v >= observed - 1e-12 for v in values) / len(values)


def main() -> None:
    """Write the table and the Spearman correlation of the score with each readout's measured effect."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--replicate", type=int, default=0)
    parser.add_argument("--summary", type=Path, default=None, help="the run's summary.json (default: RUN's own)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/family-lm.json"))
    args = parser.parse_args()
    rows = family_rows(args.run, args.replicate, args.summary)
    scores = [r["score"] if r["score"] is not None else 0.0 for r in rows]  # another architecture: no shared init
    spearman = {}
    for metric in rows[0]["measured"]:
        effects = [r["measured"][metric]["estimate"] for r in rows]
        rho = float(sps.spearmanr(scores, effects).statistic)
        spearman[metric] = {"rho": rho, "p_exact_permutation": exact_spearman_p(scores, effects), "n": len(rows)}
    doc = {"run": str(args.run), "summary": str(args.summary or args.run / "summary.json"),
           "replicate": args.replicate, "rows": rows, "spearman_score_vs_effect": spearman,
           "note": "a different architecture counts as score 0 (no shared initialisation) in the correlation"}
    atomic_write_json(args.out, doc)
    for r in rows:
        score = "n/a" if r["score"] is None else f"{r['score']:.5f}"
        effects = ", ".join(f"{m} {v['estimate']:+.3f}" for m, v in r["measured"].items())
        print(f"{r['base']:<40} {r['verdict']:<20} score {score:<8} students: {effects}")
    print(f"Spearman (score vs effect): {spearman}; wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
