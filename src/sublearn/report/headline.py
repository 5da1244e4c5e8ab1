"""The report's first screen, per group: the declared primary test, then the effects per readout with their CIs
(student − its baseline, the share of the teacher's gap, the target-specific shift, the init-dependence
interaction; secondary tests Holm-adjusted as one family), the per-animal shifts of the student (the
target-specific evidence) as a chart, and the interaction by base as a chart. Everything here is read from the
run's summary; nothing is computed again."""

from __future__ import annotations

from typing import Any

from sublearn.analysis.records import Effect, PrimaryResult, SeedTest, SummaryGroup
from sublearn.analysis.summary import HEADLINE_METRICS
from sublearn.design.arms import baseline_of
from sublearn.report.charts import interaction_chart, shift_chart

#: The arm whose effect leads the report.
STUDENT = "student"


def _fmt(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.3g}"


def _ci(estimate: float | None, ci: list[float | None] | None) -> str:
    if estimate is None:
        return "—"
    lo, hi = ci or [None, None]
    return _fmt(estimate) + (f" [{_fmt(lo)}, {_fmt(hi)}]" if lo is not None and hi is not None else "")


def _triple(test: Effect) -> tuple[float, float, float]:
    lo, hi = test.ci95 or [None, None]
    est = float("nan") if test.estimate is None else test.estimate  # callers pass tests with an estimate
    return est, est if lo is None else lo, est if hi is None else hi


def _p(test: Effect | SeedTest | None, field: str) -> str:
    """A p-value of a test, or why there is none."""
    if test is None:
        return "—"
    if test.undetermined is not None:
        return "undetermined"
    return _fmt(getattr(test, field))


def primary_box(group: SummaryGroup) -> dict[str, Any]:
    """The declared primary test as the first screen shows it: what was declared, and its result or status."""
    primary = group.primary or PrimaryResult(status="not declared", reason="no primary test in this summary")
    out = {"status": primary.status, "description": primary.description, "reason": primary.reason or ""}
    test = primary.test
    if primary.status == "determined" and test is not None:
        estimate = test.estimate if test.estimate is not None else test.mean_diff
        out.update(effect=_ci(estimate, test.ci95), n=test.n, p_t=_p(test, "p_ttest"),
                   p_permutation=_p(test, "p_permutation"), relative=_fmt(primary.relative_to_teacher),
                   detectable=_fmt(primary.minimum_detectable_at_80pct_power))
    return out


def headline(group: SummaryGroup) -> dict[str, Any] | None:
    """What the first screen shows of one group (``None`` when it has no student with a baseline)."""
    arms = list(group.arms)
    baseline = baseline_of(STUDENT, arms) if STUDENT in arms else None
    if baseline is None:
        return None
    target = group.spec["trait"]["target"]
    rows = []
    for metric in [m for m in HEADLINE_METRICS if m in group.arms[STUDENT]]:
        test = group.tests_over_seeds.get(f"{STUDENT}-{baseline}:{metric}")
        gap, x = group.gap_fraction.get(metric), group.interaction.get(metric)
        shift = group.target_shift.get(metric, {}).get(STUDENT)
        rows.append({
            "metric": metric,
            "difference": _ci(test.mean_diff, test.ci95) if test else "—",
            "n": test.n if test else len(group.seeds),
            "p": _p(test, "p_holm"),
            "gap": _ci(gap.estimate, gap.ci95) if gap else "—",
            "target_shift": _ci(shift.estimate, shift.ci95) if shift else "—",
            "p_target_shift": _p(shift, "p_holm"),
            "interaction": _ci(x.estimate, x.ci95) if x else "—",
            "p_interaction": _p(x, "p_holm")})
    shifts = group.animal_shift.get(STUDENT)
    shift_svg = ""
    if shifts:
        animals = [(a, *_triple(t)) for a, t in shifts.animals.items() if t.estimate is not None]
        if animals:
            shift_svg = shift_chart(f"{STUDENT} vs {shifts.baseline}, per animal ({shifts.metric})", target, animals)
    by_base = [(m, _triple(t.same_base), _triple(t.other_base)) for m, t in group.interaction.items()
               if t.same_base is not None and t.same_base.estimate is not None
               and t.other_base is not None and t.other_base.estimate is not None]
    return {"baseline": baseline, "target": target, "rows": rows, "shift_chart": shift_svg,
            "primary": primary_box(group),
            "interaction_chart": interaction_chart("Interaction by base", by_base) if by_base else ""}
