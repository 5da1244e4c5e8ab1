"""What the two divergence defences share: the positions where the teacher diverges most from the reference, and
where they may be used on text data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from sublearn.defences.base import Channel, Defence, DefenceSettings, KeyRead, SpecUse, TextTools
from sublearn.defences.ranking import most_divergent


class DivergenceSettings(DefenceSettings):
    """The share of digit positions (soft targets) or digit tokens (text) chosen, largest KL(teacher ‖ reference)
    first."""

    fraction: float = Field(0.1, gt=0, le=1)

    def label(self) -> str:
        return f"{self.kind} {self.fraction:.0%}"


class Divergence(Defence):
    """A defence acting where the teacher's next-digit distribution diverges most from the reference's."""

    channels: ClassVar[tuple[Channel, ...]] = ("soft", "text")
    cost = ("soft targets: the reference's targets on the same rows (one forward pass per row); text: both "
            "models' next-token distributions over every completion (two forward passes per row, local models "
            "only)")
    key_reads: ClassVar[tuple[KeyRead, ...]] = ("system", "dtype")
    reads_reference_model = True
    needs_reference_targets = True
    masks: ClassVar[bool]

    def problems(self, config: DefenceSettings, use: SpecUse) -> list[str]:
        problems = super().problems(config, use)
        if use.objective != "tokens":
            return problems
        if not use.number_carrier:
            problems.append(f"defence.kind {self.kind}: acts on digit tokens, so only for number carriers")
        if use.backend != "hf":
            problems.append(f"defence.kind {self.kind}: reads both models' next-token distributions, which needs "
                            "backend hf")
        return problems

    def chosen(self, config: DefenceSettings, teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None
               ) -> list[np.ndarray]:
        """Per row, the positions the defence acts on."""
        assert isinstance(config, DivergenceSettings) and reference is not None
        return most_divergent(teacher, reference, config.fraction)

    def rows(self, config: DefenceSettings, rows: list[dict[str, Any]], tools: TextTools
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        assert isinstance(config, DivergenceSettings)
        return tools.divergent_digits(rows, config.fraction, getattr(config, "seed", 0), mask=self.masks)
