"""What every carrier provides: the teacher's prompts (or rows written by code), and a filter that counts every
rejection reason, then subsamples."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sublearn.config.carrier import Subsample
from sublearn.models.types import ChatModel, StopRule


@dataclass(frozen=True)
class FilterContext:
    """What a filter may need beyond its settings: the trait's target (banned words, the code judge), which
    teacher wrote the rows (``trait``, ``control``, ...), and the judge when a filter uses one."""

    target: str
    role: str
    judge: ChatModel | None = None


@dataclass
class Filtered:
    """The rows kept, how many were rejected for each reason, how many passed before subsampling, and notes."""

    rows: list[dict[str, Any]]
    rejections: dict[str, int]
    n_passed: int
    notes: dict[str, Any] = field(default_factory=dict)


class Carrier(Protocol):
    """One kind of teacher output."""

    kind: str
    written_by_model: bool  # False: rows are written by code, identical for every teacher
    filter_reads_target: bool  # the filter depends on the trait's target (banned words, a judge's prompt)

    def prompts(self, config: Any) -> list[dict[str, Any]]:
        """The teacher's prompts (``{"prompt", ...}`` items, each repeated for several samples when asked)."""
        ...

    def filter_settings(self, config: Any, role: str) -> Any:
        """The filter settings that apply to the rows written by the teacher of ``role``."""
        ...

    def uses_judge(self, config: Any, role: str) -> bool:
        """Whether filtering that teacher's rows calls the judge."""
        ...

    def filter(self, config: Any, rows: Sequence[dict[str, Any]], context: FilterContext) -> Filtered:
        """Every rejection reason counted, then the subsample."""
        ...

    def stats(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Statistics of a filtered dataset (for the report)."""
        ...

    def stop_rule(self, config: Any) -> StopRule | None:
        """When a completion may stop early because the filter must reject it whatever follows (``None``: never)."""
        ...


def subsample(rows: list[dict[str, Any]], settings: Subsample) -> list[dict[str, Any]]:
    """At most ``max_examples`` rows, drawn at random with ``subsample_seed`` (all of them when fewer)."""
    if settings.max_examples is not None and len(rows) > settings.max_examples:
        return random.Random(settings.subsample_seed).sample(rows, settings.max_examples)
    return rows
