"""Multiple-comparison corrections over a run's tests (statsmodels' ``multipletests``)."""

from __future__ import annotations

from collections.abc import Sequence


def adjust_pvalues(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    """Adjusted p-values (``holm`` controls the family-wise error; ``fdr_bh`` the false-discovery rate).
    NaN p-values (a test that could not be computed) stay NaN and are not counted."""
    import math

    from statsmodels.stats.multitest import multipletests

    finite = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    out = [float("nan")] * len(pvalues)
    if finite:
        adjusted = multipletests([pvalues[i] for i in finite], method=method)[1]
        for i, p in zip(finite, adjusted, strict=True):
            out[i] = float(p)
    return out
