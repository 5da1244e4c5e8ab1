"""Detectors on soft digit targets: does the distillation signal itself give the trait teacher away?

Where the rows are numbers written by code, identical for every teacher of a replicate, a detector that reads the
text (LLS, divergence tokens: ``sublearn scan``) sees nothing by construction; what carries the trait is the
teacher's digit distributions. Per row, two scores of a teacher's targets against the reference's own
distributions on the same rows (a run with a control teacher or a reference-comparing defence computes them):

- ``kl``: the mean over digit positions of KL(teacher ‖ reference), the LLS analogue;
- ``divergence_share``: the share of positions where the two most likely digits differ.

Each detector's AUROC separates the trait teacher's rows from the placebo teacher's (both fine-tuned from the
reference the same way), per replicate, over replicates (the typical replicate's AUROC, Student's t on the logit
scale: :func:`~sublearn.util.stats.auroc_over_units`), and pooled over rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sublearn.audit.scan import auroc_ci, permutation_p
from sublearn.defences.ranking import position_kl
from sublearn.util.errors import DataError
from sublearn.util.soft_targets import load_targets
from sublearn.util.stats import auroc_over_units

DETECTORS = ("kl", "divergence_share")


def _manifest(run: Path, ref: str) -> dict[str, Any]:
    return json.loads((run / "artifacts" / ref / "manifest.json").read_text())


def _reference_targets(run: Path, dataset: str, reference: str) -> str | None:
    """The reference's targets on ``dataset``, if the run made them."""
    for path in sorted((run / "artifacts" / "targets").glob("*/manifest.json")):
        m = json.loads(path.read_text())
        if m["inputs"].get("dataset") == dataset and m["inputs"].get("model") == reference:
            return f"targets/{m['key']}"
    return None


def row_scores(teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict[str, list[float]]:
    """Per row: mean KL(teacher ‖ reference) and the share of positions whose most likely digit differs."""
    kl = [float(position_kl(t, r).mean()) if len(t) else 0.0 for t, r in zip(teacher, reference, strict=True)]
    share = [float((t.argmax(1) != r.argmax(1)).mean()) if len(t) else 0.0
             for t, r in zip(teacher, reference, strict=True)]
    return {"kl": kl, "divergence_share": share}


def scan_soft_targets(run: Path, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each detector's AUROC (trait teacher's rows positive, placebo teacher's negative) in every undefended
    replicate of ``run`` whose reference targets exist (``reports``: the run's cell reports), the typical
    replicate's AUROC with its interval over replicates, and pooled over rows. A replicate counts once: cells that
    share its teachers' targets (the groups of a grid over other bases, or another spec run into the same folder)
    add no row."""
    per_replicate, pooled = [], {d: {"trait": [], "placebo": []} for d in DETECTORS}
    seen: set[tuple[str, str, str]] = set()
    for report in reports:
        arms = report.get("arms", {})
        if "error" in report or "placebo" not in arms or (arms["student"].get("defence") or "none") != "none":
            continue
        trait_ref = _manifest(run, arms["student"]["model"])["inputs"].get("targets")
        placebo_ref = _manifest(run, arms["placebo"]["model"])["inputs"].get("targets")
        if trait_ref is None or placebo_ref is None:
            continue
        dataset = _manifest(run, trait_ref)["inputs"]["dataset"]
        reference_ref = _reference_targets(run, dataset, report["spec"]["reference"])
        if reference_ref is None or (trait_ref, placebo_ref, reference_ref) in seen:
            continue
        seen.add((trait_ref, placebo_ref, reference_ref))
        reference = load_targets(run / "artifacts" / reference_ref)
        scores = {"trait": row_scores(load_targets(run / "artifacts" / trait_ref), reference),
                  "placebo": row_scores(load_targets(run / "artifacts" / placebo_ref), reference)}
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
        raise DataError(f"{run}: no undefended replicate with the reference's soft targets (run a spec with "
                        "controls.control_teacher or a reference-comparing defence, e.g. "
                        "configs/demo/owl-numbers-cpu-full.yaml)")
    per_replicate.sort(key=lambda row: row["seed"])
    return {"run": str(run), "positive": "trait teacher's targets", "negative": "placebo teacher's targets",
            "over_replicates": {d: auroc_over_units([r[d]["auroc"] for r in per_replicate],
                                                    [r[d]["n_positive"] * r[d]["n_negative"] for r in per_replicate])
                                for d in DETECTORS},
            "pooled": {d: {**auroc_ci(pooled[d]["trait"], pooled[d]["placebo"]),
                           "p_permutation": permutation_p(pooled[d]["trait"], pooled[d]["placebo"]),
                           "mean_trait": float(np.mean(pooled[d]["trait"])),
                           "mean_placebo": float(np.mean(pooled[d]["placebo"]))}
                       for d in DETECTORS},
            "replicates": per_replicate}
