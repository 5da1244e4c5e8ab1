"""The world's result table: for each channel (a run of a world spec), the target-specific shift of the students
that share the teachers' initialisation and of those that do not, their interaction (the declared primary test)
with its p-values, its replicates and the smallest interaction the design detects at 80% power."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sublearn.analysis.multiple import adjust_pvalues
from sublearn.analysis.records import Effect, SummaryGroup, read_summary
from sublearn.util.errors import DataError

#: The contrast every world spec declares as its primary test.
WORLD_PRIMARY = "target_interaction"


class Estimate(BaseModel):
    """A mean over replicates with its 95% interval and the t-test's p (None where not tested)."""

    estimate: float
    ci95: tuple[float, float]
    p: float | None = None


class ChannelRow(BaseModel):
    """One run of a world spec, as one row of the table."""

    spec: str
    channel: str  # hard labels (teacher-written text) or soft digits (the teacher's digit distribution)
    run: str
    n: int
    teacher_shift: Estimate | None  # the owl teacher's own target-specific shift against the placebo teacher
    same_init: Estimate | None  # student vs placebo student, both from the teachers' initialisation
    other_init: Estimate | None  # the same from the sibling
    interaction: Estimate | None  # same_init minus other_init, paired by replicate: the primary test
    p_permutation: float | None
    p_holm_over_table: float | None = None  # the interaction's t p-value, Holm over the table's tested rows
    detectable_at_80pct_power: float | None
    fraction_of_teacher: float | None
    status: str
    wall_seconds: float | None


def channel_name(spec: dict[str, Any]) -> str:
    """What passes from teacher to student in a spec: its sampled text, or its digit distributions."""
    objective = spec.get("train", {}).get("objective", "tokens")
    return "soft digits" if objective == "soft_numbers" else "hard labels"


def _estimate(test: Effect | None, tested: bool = True) -> Estimate | None:
    """A test's mean, interval and p; ``None`` where it has none (undetermined: values below their bound)."""
    if test is None or test.estimate is None or not test.ci95 or None in test.ci95:
        return None
    low, high = test.ci95
    return Estimate(estimate=test.estimate, ci95=(low, high), p=_finite(test.p_ttest) if tested else None)


def _finite(value: float | None) -> float | None:
    """A p-value, or ``None`` where there is none (no variance over replicates gives no t-test)."""
    return value if value is not None and math.isfinite(value) else None


def channel_row(group: SummaryGroup, run: str) -> ChannelRow:
    """The row of one summary group; a group whose primary test is not the world's is refused by name."""
    primary = group.primary
    name = group.spec.get("name", "?")
    if primary is None or (primary.declared or {}).get("contrast") != WORLD_PRIMARY:
        raise DataError(f"{run}: spec {name}: its primary test is not the {WORLD_PRIMARY} of a world spec")
    test = primary.test
    if test is None:
        raise DataError(f"{run}: spec {name}: primary test {primary.status}")
    tested = primary.status == "determined"  # no p-value on values below their error bound
    teacher = Effect.model_validate(primary.teacher) if primary.teacher else None
    return ChannelRow(
        spec=name, channel=channel_name(group.spec), run=run, n=test.n or len(group.seeds),
        teacher_shift=_estimate(teacher), same_init=_estimate(test.same_base, tested),
        other_init=_estimate(test.other_base, tested), interaction=_estimate(test, tested),
        p_permutation=_finite(test.p_permutation) if tested else None,
        detectable_at_80pct_power=primary.minimum_detectable_at_80pct_power,
        fraction_of_teacher=primary.relative_to_teacher, status=primary.status,
        wall_seconds=group.wall_seconds)


def channel_table(runs: list[Path]) -> list[ChannelRow]:
    """One row per group of each run's summary (a run folder or its summary.json), in the order given. The
    rows are one family: each row's interaction p-value is also given Holm-adjusted over the rows tested."""
    rows = []
    for run in runs:
        path = run / "summary.json" if run.is_dir() else run
        summary = read_summary(path)
        rows += [channel_row(group, str(run)) for group in summary.groups]
    tested = [row for row in rows if row.interaction is not None and row.interaction.p is not None]
    for row, adjusted in zip(tested, adjust_pvalues([row.interaction.p for row in tested]), strict=True):
        row.p_holm_over_table = adjusted
    return rows
