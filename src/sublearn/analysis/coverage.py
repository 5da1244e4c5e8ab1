"""Do the intervals cover? A simulation of the 95% intervals sublearn reports over few replicates: the gap
fraction (a ratio of paired means) and the effects on the log scale (a mean of per-replicate values), each
against the percentile bootstrap it replaced."""

from __future__ import annotations

from typing import Any

import numpy as np

from sublearn.util.stats import mean_ci, ratio_of_means_ci

#: The replicate counts the simulation checks (the demo's 5, the full design's 8).
REPLICATE_COUNTS = (5, 8)


def _percentile_bootstrap_ratio(num: np.ndarray, den: np.ndarray, rng: np.random.Generator,
                                resamples: int) -> tuple[float, float]:
    picks = rng.integers(0, len(num), size=(resamples, len(num)))
    ratios = num[picks].mean(1) / den[picks].mean(1)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def simulate_coverage(n: int, simulations: int = 2000, seed: int = 0, resamples: int = 1000) -> dict[str, Any]:
    """Coverage of the true value by each 95% interval, over ``simulations`` draws of ``n`` replicates.

    Gap fraction: per replicate a student gap ~ N(0.02, 0.01²) and a teacher gap ~ N(0.2, 0.04²), correlation
    0.3 (true ratio 0.1). Effect: per-replicate log ratios ~ N(0.1, 0.05²) (true mean 0.1)."""
    rng = np.random.default_rng(seed)
    cov = np.array([[0.01**2, 0.3 * 0.01 * 0.04], [0.3 * 0.01 * 0.04, 0.04**2]])
    hits = {"gap_fraction_fieller": 0, "gap_fraction_percentile_bootstrap": 0, "effect_t": 0,
            "effect_percentile_bootstrap": 0}
    unbounded = 0
    for _ in range(simulations):
        pairs = rng.multivariate_normal([0.02, 0.2], cov, size=n)
        _, (lo, hi) = ratio_of_means_ci(pairs[:, 0], pairs[:, 1])
        if lo is None or hi is None:
            unbounded += 1
            hits["gap_fraction_fieller"] += 1  # an unbounded set holds every value
        else:
            hits["gap_fraction_fieller"] += lo <= 0.1 <= hi
        blo, bhi = _percentile_bootstrap_ratio(pairs[:, 0], pairs[:, 1], rng, resamples)
        hits["gap_fraction_percentile_bootstrap"] += blo <= 0.1 <= bhi
        effects = rng.normal(0.1, 0.05, size=n)
        ci = mean_ci(effects)
        hits["effect_t"] += ci.lo <= 0.1 <= ci.hi
        boot = effects[rng.integers(0, n, size=(resamples, n))].mean(1)
        hits["effect_percentile_bootstrap"] += np.percentile(boot, 2.5) <= 0.1 <= np.percentile(boot, 97.5)
    return {"n": n, "simulations": simulations, "seed": seed,
            "coverage": {name: float(count) / simulations for name, count in hits.items()},
            "fieller_unbounded": unbounded / simulations}
