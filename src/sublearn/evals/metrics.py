"""How every readout is reported: its per-question values, their mean and 95% t-interval over questions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sublearn.util.stats import probability_ci


def question_metric(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and t-interval over the questions that have a value (clipped to [0, 1]: every readout is a
    probability), with the values; a question without one (``None``) is missing, not zero, and is counted."""
    present = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not present:
        return {"mean": None, "ci95": [None, None], "n": 0, "sd": None, "n_missing": len(values),
                "per_question": [None] * len(values)}
    return {**probability_ci(present), "n_missing": len(values) - len(present),
            "per_question": [None if v is None or math.isnan(v) else float(v) for v in values]}
