"""The declared primary test of a group, and every other test of a run as one secondary family.

The spec's ``analysis.primary`` names a readout, a contrast and a base before anything runs
(:class:`~sublearn.config.analysis.PrimaryTest`); the headline of the summary and the report is that test, read
from the group's own results (so it is computed once), with its effect size against the teacher's. Every other
test of the run (arm against baseline, interactions, target-specific shifts, per-animal shifts, the dose-response
trend) is secondary: Holm's correction runs over all of them together, and the family's size is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import stats as sps

from sublearn.analysis.effects import sign_flip_p
from sublearn.analysis.multiple import adjust_pvalues
from sublearn.config.analysis import PrimaryTest
from sublearn.design.arms import INTERACTION_ARMS
from sublearn.util.stats import minimum_detectable_effect

#: The student arm of each base.
STUDENT_OF_BASE = {"same": INTERACTION_ARMS["same"][0], "other": INTERACTION_ARMS["other"][0]}


def _one_sided(test: dict[str, Any]) -> dict[str, Any]:
    """``test`` with its t and sign-flip p-values for the alternative 'greater than 0'."""
    values = np.asarray(test.get("per_replicate") or [], dtype=float)
    if len(values) < 2 or test.get("t") is None:
        return test
    t = float(test["t"])
    greater = float(sps.t.sf(t, df=len(values) - 1))
    two_sided_flip = sign_flip_p(values)
    flip = two_sided_flip / 2 if values.mean() > 0 else 1 - two_sided_flip / 2
    return {**test, "p_ttest": greater, "p_permutation": min(1.0, flip), "alternative": "greater"}


def _locate(group: dict[str, Any], primary: PrimaryTest) -> tuple[str, dict[str, Any] | None]:
    """(where in the group the primary test's result is, the result)."""
    readout = primary.readout
    if primary.contrast == "target_interaction":
        return f"target_interaction/{readout}", group.get("target_interaction", {}).get(readout)
    if primary.contrast == "interaction":
        return f"interaction/{readout}", group.get("interaction", {}).get(readout)
    arm = STUDENT_OF_BASE[primary.base]
    if primary.contrast == "target_shift":
        return f"target_shift/{readout}/{arm}", group.get("target_shift", {}).get(readout, {}).get(arm)
    for name, test in group.get("tests_over_seeds", {}).items():
        pair, metric = name.split(":", 1)
        if metric == readout and pair.split("-", 1)[0] == arm:
            return f"tests_over_seeds/{name}", test  # the arm against its first baseline present
    return f"tests_over_seeds/{arm}-?:{readout}", None


def _teacher_scale(group: dict[str, Any], primary: PrimaryTest) -> dict[str, Any] | None:
    """The teacher's own value of the contrast (the scale the student's effect is read against)."""
    if primary.contrast.startswith("target"):
        teacher = group.get("target_shift", {}).get(primary.readout, {}).get("teacher")
        if teacher is None:
            return None
        scale = {"estimate": teacher["estimate"], "ci95": teacher["ci95"], "contrast": teacher["contrast"]}
        if "undetermined" in teacher:  # a scale, not a test: kept, with the reason it is approximate
            scale["approximate"] = teacher["undetermined"]
        return scale
    gap = group.get("gap_fraction", {}).get(primary.readout)
    return None if gap is None else {"estimate": gap["teacher_gap"], "contrast": "teacher - its baseline"}


def primary_result(group: dict[str, Any], declared: dict[str, Any] | None) -> dict[str, Any]:
    """The group's declared primary test: what was declared, the result, its status (determined, undetermined,
    or not computed, with the reason) and, where the teacher was evaluated, its size against the teacher's."""
    if not declared:
        return {"declared": None, "status": "not declared",
                "reason": "the spec declares no primary test (analysis.primary); every test is secondary"}
    primary = PrimaryTest(**declared)
    cross = (group.get("cross_model") or {}).get("name")
    if primary.other_base is not None and cross != primary.other_base:
        return {"declared": primary.model_dump(), "description": primary.describe(), "status": "secondary group",
                "reason": f"the primary test is on the group whose other base is {primary.other_base}; this "
                          f"group's ({cross}) tests are secondary"}
    path, found = _locate(group, primary)
    out: dict[str, Any] = {"declared": primary.model_dump(), "description": primary.describe(), "path": path}
    if found is None:
        return {**out, "status": "not computed", "reason": f"the run has no {path} (arms or readout missing)"}
    test = dict(found)
    if primary.alternative == "greater" and "undetermined" not in test:
        test = _one_sided(test)
    out["test"] = test
    if "undetermined" in test:
        return {**out, "status": "undetermined", "reason": test["undetermined"]}
    values = test.get("per_replicate")
    if values and len(values) >= 2:  # what the design could have detected: the reading of a null result
        out["minimum_detectable_at_80pct_power"] = minimum_detectable_effect(float(np.std(values, ddof=1)),
                                                                             len(values))
    scale = _teacher_scale(group, primary)
    estimate = test.get("estimate", test.get("mean_diff"))
    if scale is not None and scale.get("estimate"):
        out["teacher"] = scale
        out["relative_to_teacher"] = estimate / scale["estimate"] if estimate is not None else None
    return {**out, "status": "determined"}


def _tests(group: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every test of a group with a p-value, by path."""
    for name, test in group.get("tests_over_seeds", {}).items():
        yield f"tests_over_seeds/{name}", test
    for kind in ("interaction", "target_interaction"):
        for metric, test in group.get(kind, {}).items():
            yield f"{kind}/{metric}", test
    for metric, arms in group.get("target_shift", {}).items():
        for arm, test in arms.items():
            yield f"target_shift/{metric}/{arm}", test
    for arm, shift in group.get("animal_shift", {}).items():
        for animal, test in shift["animals"].items():
            yield f"animal_shift/{arm}/{animal}", test


def _p(test: dict[str, Any]) -> float | None:
    """A test's p-value: a t-test's, or a regression's (the selective-transfer λ)."""
    return test.get("p_ttest", test.get("p"))


def correct_secondary(summary: dict[str, Any], extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Holm's correction over every test of the run except each group's primary (``p_holm`` on each), together
    with ``extra`` (other tests of the run, by name); tests without a p-value (one replicate, or undetermined) are
    not members. Returns the family's description."""
    members: list[tuple[str, dict[str, Any]]] = []
    for k, group in enumerate(summary["groups"]):
        primary = group.get("primary", {}).get("path")
        members += [(f"groups/{k}/{path}", test) for path, test in _tests(group)
                    if path != primary and test.get("p_ttest") is not None]
    for trend_metric, trend in (summary.get("dose_trend") or {}).items():
        if trend.get("p_ttest") is not None:
            members.append((f"dose_trend/{trend_metric}", trend))
    members += [(name, test) for name, test in (extra or {}).items() if _p(test) is not None]
    for (_, test), adjusted in zip(members, adjust_pvalues([_p(t) for _, t in members]), strict=True):
        test["p_holm"] = adjusted
    return {"method": "holm", "on": "p_ttest (p for regressions)", "size": len(members),
            "members": [path for path, _ in members]}
