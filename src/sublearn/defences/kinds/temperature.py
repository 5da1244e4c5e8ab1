"""Temperature: the teacher's digit distributions re-tempered (above 1 flattens them, below 1 sharpens them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sublearn.defences.base import Channel, Defence, DefenceSettings
from sublearn.defences.ranking import EPS


class TemperatureSettings(DefenceSettings):
    """Soft digit targets: the teacher's distribution at ``temperature``. On text data, threshold sampling is
    ``carrier.temperature`` / ``carrier.top_p``."""

    kind: Literal["temperature"] = "temperature"
    temperature: float = Field(2.0, gt=0)

    def label(self) -> str:
        return f"{self.kind} T={self.temperature:g}"


class Temperature(Defence):
    kind = "temperature"
    settings = TemperatureSettings
    channels: ClassVar[tuple[Channel, ...]] = ("soft",)
    cost = "nothing (a transform of the stored targets)"

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        assert isinstance(config, TemperatureSettings)
        out = []
        for t in teacher:
            logits = np.log(np.clip(np.asarray(t, dtype=np.float64), EPS, 1)) / config.temperature
            new = np.exp(logits - logits.max(-1, keepdims=True))
            out.append(new / new.sum(-1, keepdims=True))
        return out


#: This module's defence (found by the registry).
DEFENCE = Temperature()
