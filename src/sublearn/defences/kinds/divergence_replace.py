"""Divergence replacement: where the teacher diverges most from the reference, the student learns a random
digit instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from sublearn.defences.base import DefenceSettings
from sublearn.defences.kinds.divergence import Divergence, DivergenceSettings
from sublearn.util.settings import Seed


class DivergenceReplaceSettings(DivergenceSettings):
    """The ``fraction`` of digit positions (soft targets) or completion digit tokens (text) where the teacher
    diverges most from the reference gets a random digit (one-hot), drawn with ``seed``."""

    kind: Literal["divergence_replace"] = "divergence_replace"
    seed: Seed = 0  # the random digits


class DivergenceReplace(Divergence):
    kind = "divergence_replace"
    settings = DivergenceReplaceSettings
    masks = False

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        assert isinstance(config, DivergenceReplaceSettings)
        rng = np.random.default_rng(config.seed)
        out = []
        for t, chosen in zip(teacher, self.chosen(config, teacher, reference), strict=True):
            new = np.asarray(t, dtype=np.float64).copy()
            new[chosen] = np.eye(10)[rng.integers(0, 10, size=int(chosen.sum()))]
            out.append(new)
        return out


#: This module's defence (found by the registry).
DEFENCE = DivergenceReplace()
