"""Detectors on the soft-label LM case: does the distillation signal itself give the trait teacher away?

In the CPU demo the rows are numbers written by code, identical for every teacher of a replicate, so a detector
that reads the text (LLS, divergence tokens: ``sublearn scan``) sees nothing by construction. What carries the
trait is the teacher's digit distributions. Per row, two scores of the trait (or placebo) teacher's targets
against the reference's own distributions on the same row (computed by a run with a reference-comparing defence,
e.g. configs/demo/owl-numbers-cpu-defences.yaml):

- ``kl``: the mean over digit positions of KL(teacher ‖ reference), the LLS analogue;
- ``divergence_share``: the share of positions where the two most likely digits differ.

Each detector's AUROC separates the owl teacher's rows from the placebo teacher's (both fine-tuned from the
reference the same way), per replicate and pooled, with bootstrap CIs, and the permutation p of the mean.

    .venv/bin/python scripts/scan_soft_targets.py runs/owl-numbers-cpu-defences \
        [--out docs/results/scan-soft-targets.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from sublearn.analysis.tidy import load_reports
from sublearn.audit.scan import auroc_ci, permutation_p
from sublearn.defences.ranking import position_kl
from sublearn.util.atomic import atomic_write_json
from sublearn.util.soft_targets import load_targets

DETECTORS = ("kl", "divergence_share")


def _targets(run: Path, ref: str) -> list[np.ndarray]:
    return load_targets(run / "artifacts" / ref)


def _manifest(run: Path, ref: str) -> dict[str, Any]:
    return json.loads((run / "artifacts" / ref / "manifest.json").read_text())


def _reference_targets(run: Path, dataset: str, reference: str) -> str | None:
    """The reference's targets on ``dataset``, if a run made them."""
    for path in (run / "artifacts" / "targets").glob("*/manifest.json"):
        m = json.loads(path.read_text())
        if m["inputs"].get("dataset") == dataset and m["inputs"].get("model") == reference:
            return f"targets/{m['key']}"
    return None


def row_scores(teacher: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, list[float]]:
    """Per row: mean KL(teacher ‖ reference) and the share of positions whose most likely digit differs."""
    kl = [float(position_kl(t, r).mean()) if len(t) else 0.0 for t, r in zip(teacher, reference, strict=True)]
    share = [float((t.argmax(1) != r.argmax(1)).mean()) if len(t) else 0.0
             for t, r in zip(teacher, reference, strict=True)]
    return {"kl": kl, "divergence_share": share}


def scan_run(run: Path) -> dict[str, Any]:
    """Per replicate and pooled: each detector's AUROC (owl teacher's rows positive, placebo teacher's negative)."""
    per_replicate, pooled = [], {d: {"trait": [], "placebo": []} for d in DETECTORS}
    for report in load_reports(run):
        if "error" in report or (report["arms"]["student"].get("defence") or "none") != "none":
            continue
        trait_ref = _manifest(run, report["arms"]["student"]["model"])["inputs"]["targets"]
        placebo_ref = _manifest(run, report["arms"]["placebo"]["model"])["inputs"]["targets"]
        dataset = _manifest(run, trait_ref)["inputs"]["dataset"]
        reference_ref = _reference_targets(run, dataset, report["spec"]["reference"])
        if reference_ref is None:
            continue
        reference = _targets(run, reference_ref)
        scores = {"trait": row_scores(_targets(run, trait_ref), reference),
                  "placebo": row_scores(_targets(run, placebo_ref), reference)}
        row: dict[str, Any] = {"seed": report["spec"]["seed"], "rows": len(reference)}
        for d in DETECTORS:
            row[d] = {**auroc_ci(scores["trait"][d], scores["placebo"][d]),
                      "p_permutation": permutation_p(scores["trait"][d], scores["placebo"][d]),
                      "mean_trait": float(np.mean(scores["trait"][d])),
                      "mean_placebo": float(np.mean(scores["placebo"][d]))}
            pooled[d]["trait"] += scores["trait"][d]
            pooled[d]["placebo"] += scores["placebo"][d]
        per_replicate.append(row)
    if not per_replicate:
        raise SystemExit(f"{run}: no replicate with the reference's targets (run a spec with a reference-comparing "
                         "defence, e.g. configs/demo/owl-numbers-cpu-defences.yaml)")
    return {"run": str(run), "positive": "owl teacher's targets", "negative": "placebo teacher's targets",
            "rows_are": "numbers written by code, identical for both teachers of a replicate",
            "pooled": {d: {**auroc_ci(pooled[d]["trait"], pooled[d]["placebo"]),
                           "p_permutation": permutation_p(pooled[d]["trait"], pooled[d]["placebo"])}
                       for d in DETECTORS},
            "replicates": per_replicate}


def main() -> None:
    """Scan a run and print each detector's AUROC."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    doc = scan_run(args.run)
    for d in DETECTORS:
        p = doc["pooled"][d]
        print(f"{d:<17} AUROC {p['auroc']:.3f} [{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}] "
              f"(n = {p['n_positive']} + {p['n_negative']} rows, {len(doc['replicates'])} replicates; "
              f"permutation p {p['p_permutation']:.3g})")
    for r in doc["replicates"]:
        print(f"  seed {r['seed']}: " + ", ".join(f"{d} {r[d]['auroc']:.2f}" for d in DETECTORS))
    if args.out:
        atomic_write_json(args.out, doc)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
