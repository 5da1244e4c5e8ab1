"""Target-specific contrasts: is a student's shift about the teacher's animal, and does it need the shared init?

- :func:`target_shift`: per replicate, log(student / baseline) of the target's probability minus the mean of the
  same log ratio over the other listed animals. A change of answer style (more animal words of any kind) moves
  every animal and cancels; a shift toward the target does not.
- :func:`target_interaction`: that target-specific shift on the teachers' base minus the same on the other base,
  paired by replicate (seed).

Values below their error bound make a contrast undetermined (:mod:`sublearn.analysis.precision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sublearn.analysis.effects import LOG_FLOOR, one_sample, readout_of
from sublearn.analysis.precision import below_bound, withhold
from sublearn.analysis.records import CellReport
from sublearn.config.readouts import READOUTS_BY_NAME
from sublearn.design.arms import INTERACTION_ARMS, baseline_of


def report_target(report: CellReport) -> str | None:
    """The animal a cell's evaluation is about: ``eval.target``, else the trait's target (``None``: unnamed)."""
    spec = report.spec
    return (spec.get("eval") or {}).get("target") or (spec.get("trait") or {}).get("target")


def _per_animal(report: CellReport, arm: str, metric: str) -> dict[str, float | None] | None:
    source = READOUTS_BY_NAME[metric].per_option if metric in READOUTS_BY_NAME else None
    entry = readout_of(report, arm, source or "")
    return (entry.per_animal if entry is not None else None) or None


def target_values(members: Sequence[CellReport], arm: str, baseline: str, metric: str
                  ) -> tuple[dict[int, float], list[str]]:
    """({replicate: target-specific log ratio of ``arm`` over ``baseline``}, the animals used)."""
    out: dict[int, float] = {}
    animals: list[str] = []
    for report in members:
        a, b = _per_animal(report, arm, metric), _per_animal(report, baseline, metric)
        target = report_target(report)
        if not a or not b or target is None or target not in a or target not in b:
            continue
        others = sorted((a.keys() & b.keys()) - {target})
        if not others:
            continue
        animals = [target, *others]

        def log_ratio(animal: str, a: dict[str, Any] = a, b: dict[str, Any] = b) -> float:
            return math.log(max(a[animal], LOG_FLOOR)) - math.log(max(b[animal], LOG_FLOOR))

        out[report.spec["seed"]] = log_ratio(target) - sum(log_ratio(x) for x in others) / len(others)
    return out, animals


def target_shift(members: Sequence[CellReport], metric: str, arm: str) -> dict[str, Any] | None:
    """The target-specific shift of ``arm`` against its baseline, over replicates (``None`` without one)."""
    present = list(members[0].arms) if members else []
    baseline = baseline_of(arm, present)
    if baseline is None or metric not in READOUTS_BY_NAME or READOUTS_BY_NAME[metric].per_option is None:
        return None
    values, animals = target_values(members, arm, baseline, metric)
    if not values:
        return None
    test = {**one_sample(list(values.values())), "replicates": sorted(values), "arm": arm, "baseline": baseline,
            "contrast": f"log({arm}/{baseline})[target] - mean over other animals", "animals": animals}
    return withhold(test, below_bound(members, (arm, baseline), metric, animals))


def target_interaction(members: Sequence[CellReport], metric: str) -> dict[str, Any] | None:
    """The target-specific shift on the teachers' base minus the same on the other base, paired by replicate."""
    present = set(members[0].arms) if members else set()
    same_arm, other_arm = INTERACTION_ARMS["same"][0], INTERACTION_ARMS["other"][0]
    if not {same_arm, other_arm} <= present:
        return None
    same, other = target_shift(members, metric, same_arm), target_shift(members, metric, other_arm)
    if same is None or other is None:
        return None
    same_values, _ = target_values(members, same_arm, same["baseline"], metric)
    other_values, _ = target_values(members, other_arm, other["baseline"], metric)
    keys = sorted(same_values.keys() & other_values.keys())
    if not keys:
        return None
    test = {**one_sample([same_values[k] - other_values[k] for k in keys]), "replicates": keys,
            "contrast": f"target-specific log({same_arm}/{same['baseline']}) - "
                        f"target-specific log({other_arm}/{other['baseline']})",
            "same_base": same, "other_base": other}
    reason = same.get("undetermined") or other.get("undetermined")
    return withhold(test, reason)
