"""Hard labels: each digit position's target becomes the teacher's most likely digit (quantisation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from sublearn.defences.base import Channel, Defence, DefenceSettings


class HardLabelsSettings(DefenceSettings):
    """Soft digit targets: each position's target becomes the teacher's most likely digit (one-hot). On text
    data, hard labels are the spec itself (``train.objective: tokens``)."""

    kind: Literal["hard_labels"] = "hard_labels"


class HardLabels(Defence):
    kind = "hard_labels"
    settings = HardLabelsSettings
    channels: ClassVar[tuple[Channel, ...]] = ("soft",)
    cost = "nothing (a transform of the stored targets)"

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        return [np.eye(10)[np.asarray(t).argmax(-1)] if len(t) else np.asarray(t, dtype=np.float64).copy()
                for t in teacher]


#: This module's defence (found by the registry).
DEFENCE = HardLabels()
