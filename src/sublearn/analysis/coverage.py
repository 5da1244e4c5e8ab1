"""Do the intervals cover? A simulation of the 95% intervals sublearn reports over few replicates: the gap
fraction (a ratio of paired means) and the effects on the log scale (a mean of per-replicate values), each
against the percentile bootstrap it replaced; and a detector's AUROC over replicates (Student's t on the logit
scale) against a t-interval on the AUROC scale, where per-replicate AUROCs sit near 1."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as sps

from sublearn.util.stats import auroc, auroc_over_units, mean_ci, ratio_of_means_ci

#: The replicate counts the simulation checks (the demo's 5, the full design's 8).
REPLICATE_COUNTS = (5, 8)
#: AUROC settings: (name, mean separation, its sd across replicates) of a detector's scores (unit variance), so
#: that the typical replicate's AUROC is about 0.98 (the soft-target KL detector) or 0.66 (its divergence share).
AUROC_SETTINGS = (("near_1", 2.9, 0.4), ("moderate", 0.58, 0.3))
#: Rows per class a replicate's AUROC is taken over (the soft-target audit's 50).
AUROC_ROWS = 50


def _auroc_hits(n: int, simulations: int, seed: int) -> dict[str, int]:
    """Per setting, how often each interval over ``n`` replicates holds its estimand: a t-interval of the
    replicates' AUROCs their mean AUROC, the logit-scale interval the typical replicate's AUROC. A replicate's
    separation is drawn, then its rows; its own stream of draws, so the other intervals' figures do not move."""
    rng = np.random.default_rng([seed, 1])
    hits: dict[str, int] = {}
    for name, mean, spread in AUROC_SETTINGS:
        expected = float(sps.norm.cdf(mean / np.sqrt(2 + spread**2)))  # E[AUROC] over replicates
        typical = float(sps.norm.cdf(mean / np.sqrt(2)))  # the AUROC of the median replicate
        hits[f"auroc_{name}_t"] = hits[f"auroc_{name}_logit_t"] = 0
        for _ in range(simulations):
            separations = rng.normal(mean, spread, size=n)
            aurocs = [auroc(rng.normal(d, 1.0, AUROC_ROWS), rng.normal(0.0, 1.0, AUROC_ROWS)) for d in separations]
            ci = mean_ci(aurocs)
            hits[f"auroc_{name}_t"] += ci.lo <= expected <= ci.hi
            lo, hi = auroc_over_units(aurocs, [AUROC_ROWS * AUROC_ROWS] * n)["ci95"]
            hits[f"auroc_{name}_logit_t"] += lo <= typical <= hi
    return hits


def _percentile_bootstrap_ratio(num: np.ndarray, den: np.ndarray, rng: np.random.Generator,
                                resamples: int) -> tuple[float, float]:
    picks = rng.integers(0, len(num), size=(resamples, len(num)))
    ratios = num[picks].mean(1) / den[picks].mean(1)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def simulate_coverage(n: int, simulations: int = 2000, seed: int = 0, resamples: int = 1000) -> dict[str, Any]:
    """Coverage of the true value by each 95% interval, over ``simulations`` draws of ``n`` replicates.

    Gap fraction: per replicate a student gap ~ N(0.02, 0.01²) and a teacher gap ~ N(0.2, 0.04²), correlation
    0.3 (true ratio 0.1). Effect: per-replicate log ratios ~ N(0.1, 0.05²) (true mean 0.1). AUROC: per replicate
    a separation ~ N(mean, sd²) of unit-variance scores over 50 rows per class (:data:`AUROC_SETTINGS`)."""
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
    hits.update(_auroc_hits(n, simulations, seed))
    return {"n": n, "simulations": simulations, "seed": seed,
            "coverage": {name: float(count) / simulations for name, count in hits.items()},
            "fieller_unbounded": unbounded / simulations}
