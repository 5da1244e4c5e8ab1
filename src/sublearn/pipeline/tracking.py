"""Results to the trackers a spec names (``train.report_to``): each trained model's evaluation into its own
tracker run (the one its training wrote to, for W&B and MLflow; for TensorBoard ``RUN/tensorboard/STAGE-KEY``,
since the training's event files are part of the finished artifact), labelled with its arm, cell, seed and spec;
and, per experiment group, one run with its effects (differences, gap fractions, interactions) and every arm's
readouts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sublearn.models.hf.tracking import log_results

LOG = logging.getLogger(__name__)
#: Stages whose artifacts are trained models (with a tracker run of their own).
TRAINED_STAGES = ("train", "teacher")


def _interval(prefix: str, value: dict[str, Any], estimate: str = "estimate") -> dict[str, float]:
    out = {f"{prefix}/estimate": value.get(estimate)}
    lo, hi = value.get("ci95") or [None, None]
    out.update({f"{prefix}/ci_low": lo, f"{prefix}/ci_high": hi, f"{prefix}/n": value.get("n")})
    for p in ("p_ttest", "p_permutation", "p_holm"):
        out[f"{prefix}/{p}"] = value.get(p)
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float)}


def evaluation_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """One arm's readouts as tracker metrics: ``eval/READOUT/mean|ci_low|ci_high|n``."""
    out: dict[str, float] = {}
    for readout, m in metrics.items():
        out.update(_interval(f"eval/{readout}", m, "mean"))
    return {k.replace("/estimate", "/mean"): v for k, v in out.items()}


def track_cell(report: dict[str, Any], run_dir: Path) -> None:
    """Each trained arm's evaluation into its model's tracker run (nothing when the spec names no tracker)."""
    spec = report["spec"]
    kinds = spec["train"].get("report_to") or []
    if not kinds:
        return
    for arm, info in report["arms"].items():
        model = info["model"]
        if model.split("/")[0] not in TRAINED_STAGES:
            continue
        tags = {"spec": spec["name"], "cell": report["cell"], "seed": spec["seed"], "artifact": model, "arm": arm}
        try:
            # TensorBoard: beside the run, never inside the finished (hashed) artifact
            log_results(kinds, run_dir, run_dir / "tensorboard" / model.replace("/", "-"), f"{model}", tags,
                        evaluation_metrics(info["metrics"]))
        except Exception as exc:  # the cell is done and kept; the tracker is told nothing more, and the log says so
            LOG.warning("cell %s, arm %s: results not sent to %s (%s: %s)", report["cell"], arm, kinds,
                        type(exc).__name__, exc)


def track_effects(summary: dict[str, Any], run_dir: Path) -> None:
    """Per experiment group: one tracker run with its effects and every arm's readouts over replicates."""
    for index, group in enumerate(summary.get("groups", []), 1):
        spec = group["spec"]
        kinds = spec["train"].get("report_to") or []
        if not kinds:
            continue
        metrics: dict[str, float] = {}
        for arm, readouts in group["arms"].items():
            metrics.update({f"arm/{arm}/{k[len('eval/'):]}": v for k, v in evaluation_metrics(readouts).items()})
        for name, test in group.get("tests_over_seeds", {}).items():
            metrics.update(_interval(f"difference/{name.replace(':', '/')}", test, "mean_diff"))
        for kind in ("gap_fraction", "interaction"):
            for readout, value in (group.get(kind) or {}).items():
                metrics.update(_interval(f"{kind}/{readout}", value))
        tags = {"spec": spec["name"], "group": index, "seeds": len(group["seeds"]), "kind": "effects"}
        try:
            log_results(kinds, run_dir, run_dir / "tensorboard" / f"effects-{index}", f"{spec['name']}-effects",
                        tags, metrics)
        except Exception as exc:
            LOG.warning("group %s: effects not sent to %s (%s: %s)", index, kinds, type(exc).__name__, exc)
