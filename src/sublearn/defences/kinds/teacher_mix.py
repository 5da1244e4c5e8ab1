"""Teacher mixing: the students learn partly from the reference instead of the teacher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from sublearn.defences.base import Channel, Defence, DefenceSettings, TextTools
from sublearn.util.settings import Seed


class TeacherMixSettings(DefenceSettings):
    """Soft digit targets: ``(1 − mix)`` × teacher + ``mix`` × the reference's distribution. Text data: a share
    ``mix`` of each teacher's rows (drawn with ``seed``) gives way to rows the reference wrote for the same
    carrier, generated and filtered alike."""

    kind: Literal["teacher_mix"] = "teacher_mix"
    mix: float = Field(0.5, ge=0, le=1)  # the reference's weight
    seed: Seed = 0  # text data: the rows mixed in

    def label(self) -> str:
        return f"{self.kind} {self.mix:.0%} reference"


def mix_rows(teacher: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]], mix: float, seed: int
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``round(mix · n)`` of the teacher's ``n`` rows, drawn with ``seed``, give way to as many of the reference's
    rows (drawn without replacement; all of them if it has fewer); the order is kept, each replacement at the
    place of the row it replaces. Every teacher's data mixed with the same seed gets the same reference rows."""
    rng = np.random.default_rng(seed)
    k = min(round(mix * len(teacher)), len(reference))
    replaced = sorted(rng.choice(len(teacher), size=k, replace=False).tolist()) if k else []
    drawn = rng.choice(len(reference), size=k, replace=False).tolist() if k else []
    out = [dict(r) for r in teacher]
    for place, source in zip(replaced, drawn, strict=True):
        out[place] = {**reference[source], "mixed_from": "reference"}
    return out, {"rows": len(out), "rows_from_reference": k, "reference_rows_available": len(reference)}


class TeacherMix(Defence):
    kind = "teacher_mix"
    settings = TeacherMixSettings
    channels: ClassVar[tuple[Channel, ...]] = ("soft", "text")
    cost = ("soft targets: the reference's targets on the same rows (one forward pass per row); text: the "
            "reference's own data (a generation and a filter, shared by every teacher of the replicate)")
    needs_reference_targets = True
    needs_reference_rows = True

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        assert isinstance(config, TeacherMixSettings) and reference is not None
        return [(1 - config.mix) * np.asarray(t, dtype=np.float64) + config.mix * np.asarray(r, dtype=np.float64)
                for t, r in zip(teacher, reference, strict=True)]

    def rows(self, config: DefenceSettings, rows: list[dict[str, Any]], tools: TextTools
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        assert isinstance(config, TeacherMixSettings)
        return mix_rows(rows, tools.reference_rows(), config.mix, config.seed)


#: This module's defence (found by the registry).
DEFENCE = TeacherMix()
