"""How every readout is reported: its per-question values, their mean and 95% t-interval over questions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sublearn.util.stats import probability_ci


def question_metric(values: Sequence[float]) -> dict[str, Any]:
    """Mean and t-interval over questions (clipped to [0, 1]: every readout is a probability), with the values."""
    return {**probability_ci(values), "per_question": [float(v) for v in values]}
