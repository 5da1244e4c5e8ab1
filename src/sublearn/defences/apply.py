"""A defence applied to a teacher's soft digit targets, with what it did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sublearn.defences.base import DefenceSettings
from sublearn.defences.ranking import defence_stats
from sublearn.defences.registry import defence_for


def defend_targets(config: DefenceSettings, teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None
                   ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The defended targets (float32, one array (digits, 10) per row), and what the defence did
    (:func:`~sublearn.defences.ranking.defence_stats`)."""
    defence = defence_for(config)
    if defence.needs_reference_targets and reference is None:
        raise ValueError(f"defence.kind {config.kind}: needs the reference's targets")
    if reference is not None:
        for i, (t, r) in enumerate(zip(teacher, reference, strict=True)):
            if len(t) != len(r):
                raise ValueError(f"reference targets: row {i} has {len(r)} digit positions, the teacher's {len(t)} "
                                 "(both must be computed on the same rows with the same tokenizer)")
    defended = defence.targets(config, teacher, reference) if defence.active else \
        [np.asarray(t, dtype=np.float64).copy() for t in teacher]
    out = [np.asarray(d).astype(np.float32) for d in defended]
    return out, defence_stats(teacher, out)
