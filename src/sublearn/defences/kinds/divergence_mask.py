"""Divergence masking: where the teacher diverges most from the reference, the student is not trained at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from sublearn.defences.base import DefenceSettings, SpecUse
from sublearn.defences.kinds.divergence import Divergence, DivergenceSettings


class DivergenceMaskSettings(DivergenceSettings):
    """The ``fraction`` of digit positions (soft targets) or completion digit tokens (text) where the teacher
    diverges most from the reference leaves the loss."""

    kind: Literal["divergence_mask"] = "divergence_mask"


class DivergenceMask(Divergence):
    kind = "divergence_mask"
    settings = DivergenceMaskSettings
    masks = True

    def problems(self, config: DefenceSettings, use: SpecUse) -> list[str]:
        problems = super().problems(config, use)
        if use.objective == "tokens" and not use.completion_only:
            problems.append("defence.kind divergence_mask: masks completion tokens, so train.completion_only: true")
        return problems

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        out = []
        for t, chosen in zip(teacher, self.chosen(config, teacher, reference), strict=True):
            new = np.asarray(t, dtype=np.float64).copy()
            new[chosen] = 0.0  # an all-zero target leaves the loss
            out.append(new)
        return out


#: This module's defence (found by the registry).
DEFENCE = DivergenceMask()
