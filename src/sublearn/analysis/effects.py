"""Effect sizes of a group of replicates, each a whole repetition of the experiment (teacher, data, student).

- :func:`gap_fraction`: how much of the teacher's gap a student carries, (student − its baseline) / (teacher −
  its baseline), per readout, with a bootstrap CI over replicates.
- :func:`animal_shifts`: is a student's shift about the teacher's animal? Per animal, log(student / its baseline)
  of that animal's exact probability, over replicates.
- :func:`interaction`: the init-dependence test. Per replicate, log(student / placebo) on the teacher's own base
  minus the same log ratio on another base; a t-test, an exact sign-flip permutation test and a sign test of
  that difference. "A different base does not pick it up" is this test, never two p-values side by side.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from sublearn.analysis.precision import below_bound, withhold
from sublearn.analysis.records import CellReport, ReadoutValue
from sublearn.design.arms import INTERACTION_ARMS, baseline_of
from sublearn.util.stats import RATIO_CI_METHOD, mean_ci, ratio_of_means_ci

#: Up to this many replicates the sign-flip test enumerates every flip; beyond, it samples this many.
EXACT_FLIPS_UP_TO = 16
SAMPLED_FLIPS = 100_000
#: Probabilities are floored here before logs (an exact readout can underflow to 0 for a model that never says it).
LOG_FLOOR = 1e-12


def readout_of(report: CellReport, arm: str, metric: str) -> ReadoutValue | None:
    """One arm's readout in a cell report (``None``: the cell has no such arm or readout)."""
    return report.arms[arm].metrics.get(metric) if arm in report.arms else None


def replicate_values(members: Sequence[CellReport], arm: str, metric: str) -> dict[int, float]:
    """``{replicate: mean}`` of one arm's readout over the cell reports of a group."""
    out = {}
    for report in members:
        entry = readout_of(report, arm, metric)
        if entry is not None and entry.mean is not None:
            out[report.spec["seed"]] = float(entry.mean)
    return out


def gap_fraction(members: Sequence[CellReport], metric: str, student: str = "student") -> dict[str, Any] | None:
    """(student − its baseline) / (teacher − its baseline), the means over replicates; ``None`` without a teacher
    evaluation or baselines. The CI is Fieller's interval over replicates (:func:`ratio_of_means_ci`)."""
    present = list(members[0].arms) if members else []
    s_base, t_base = baseline_of(student, present), baseline_of("teacher", present)
    if student not in present or "teacher" not in present or s_base is None or t_base is None:
        return None
    values = {arm: replicate_values(members, arm, metric) for arm in (student, s_base, "teacher", t_base)}
    keys = sorted(set.intersection(*(set(v) for v in values.values())))
    if not keys:
        return None
    student_gap = np.array([values[student][k] - values[s_base][k] for k in keys])
    teacher_gap = np.array([values["teacher"][k] - values[t_base][k] for k in keys])
    estimate, ci = ratio_of_means_ci(student_gap, teacher_gap)
    return {"estimate": estimate if math.isfinite(estimate) else None, "n": len(keys),
            "student": student, "baseline": s_base, "teacher_baseline": t_base,
            "student_gap": float(student_gap.mean()), "teacher_gap": float(teacher_gap.mean()),
            "ci95": ci,  # [None, None] for one replicate, or without a teacher gap
            "ci_method": RATIO_CI_METHOD}


def log_ratios(members: Sequence[CellReport], arm: str, baseline: str, metric: str) -> dict[int, float]:
    """``{replicate: log(arm / baseline)}`` (probabilities floored at :data:`LOG_FLOOR`)."""
    a, b = replicate_values(members, arm, metric), replicate_values(members, baseline, metric)
    return {k: math.log(max(a[k], LOG_FLOOR)) - math.log(max(b[k], LOG_FLOOR)) for k in sorted(a.keys() & b.keys())}


def sign_flip_p(values: Sequence[float]) -> float:
    """Two-sided p-value of the exact sign-flip (paired permutation) test of mean 0: enumerated up to
    :data:`EXACT_FLIPS_UP_TO` values, else sampled (seeded)."""
    x = np.asarray(values, dtype=float)
    observed = abs(x.mean())
    if len(x) <= EXACT_FLIPS_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(x))))
    else:
        signs = np.random.default_rng(0).choice((1.0, -1.0), size=(SAMPLED_FLIPS, len(x)))
    means = np.abs((signs * x).mean(axis=1))
    return float((means >= observed - 1e-15).mean())


def one_sample(values: Sequence[float]) -> dict[str, Any]:
    """Mean, t-interval and three two-sided tests of mean zero (t, sign flips, signs) of per-replicate values."""
    x = np.asarray(values, dtype=float)
    ci = mean_ci(x)
    out: dict[str, Any] = {"estimate": ci.mean, "ci95": [ci.lo, ci.hi], "n": ci.n, "per_replicate": x.tolist(),
                           "n_positive": int((x > 0).sum())}
    if len(x) > 1:
        t = sps.ttest_1samp(x, 0.0)
        out.update(t=float(t.statistic), p_ttest=float(t.pvalue), p_permutation=sign_flip_p(x),
                   p_sign=float(sps.binomtest(int((x > 0).sum()), int((x != 0).sum()) or 1).pvalue),
                   min_attainable_p_permutation=float(2 / 2 ** len(x)) if len(x) <= EXACT_FLIPS_UP_TO else None)
    return out


def interaction(members: Sequence[CellReport], metric: str) -> dict[str, Any] | None:
    """The init-dependence test on one readout (``None`` without both pairs of arms).

    Per replicate: log(student / its baseline) on the reference minus log(cross student / its baseline) on the
    other base, where the baselines are the placebo students when there are, else the control students.
    """
    present = list(members[0].arms) if members else []
    same_arm, same_bases = INTERACTION_ARMS["same"]
    other_arm, other_bases = INTERACTION_ARMS["other"]
    for same_base, other_base in zip(same_bases, other_bases, strict=True):
        if {same_arm, same_base, other_arm, other_base} <= set(present):
            break
    else:
        return None
    same = log_ratios(members, same_arm, same_base, metric)
    other = log_ratios(members, other_arm, other_base, metric)
    keys = sorted(same.keys() & other.keys())
    if not keys:
        return None
    diffs = [same[k] - other[k] for k in keys]
    test = {**one_sample(diffs), "replicates": keys,
            "contrast": f"log({same_arm}/{same_base}) - log({other_arm}/{other_base})",
            # each side is its own test on its own arms: undetermined only where its values are below the bound
            "same_base": withhold(one_sample([same[k] for k in keys]),
                                  below_bound(members, (same_arm, same_base), metric)),
            "other_base": withhold(one_sample([other[k] for k in keys]),
                                   below_bound(members, (other_arm, other_base), metric))}
    return withhold(test, below_bound(members, (same_arm, same_base, other_arm, other_base), metric))


def animal_shifts(members: Sequence[CellReport], metric: str = "p_exact") -> dict[str, dict[str, Any]]:
    """Per trained student arm with a baseline: per animal, log(student / baseline) of the animal's probability
    (``per_animal`` of ``metric``), mean [t-CI] over replicates with the tests of :func:`one_sample`. A shift
    about the teacher's animal raises its row alone; a change of answer style moves every row."""
    present = list(members[0].arms) if members else []
    out: dict[str, dict[str, Any]] = {}
    for arm in present:
        baseline = baseline_of(arm, present)
        if baseline is None or arm in ("teacher", "reference") or arm.endswith("teacher"):
            continue
        per_animal: dict[str, list[float]] = {}
        for report in members:
            a = getattr(readout_of(report, arm, metric), "per_animal", None)
            b = getattr(readout_of(report, baseline, metric), "per_animal", None)
            if not a or not b:
                continue
            for animal in a.keys() & b.keys():
                per_animal.setdefault(animal, []).append(
                    math.log(max(a[animal], LOG_FLOOR)) - math.log(max(b[animal], LOG_FLOOR)))
        if per_animal:
            out[arm] = {"baseline": baseline, "metric": metric,
                        "animals": {animal: withhold(one_sample(v), below_bound(members, (arm, baseline), metric,
                                                                                [animal]))
                                    for animal, v in sorted(per_animal.items())}}
    return out
