"""Confidence intervals and tests used in every report: each rate or mean comes with its n and 95% CI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class MeanCI:
    """A sample mean with its two-sided confidence interval (Student t over the n values)."""

    mean: float
    lo: float
    hi: float
    n: int
    sd: float

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """JSON form: ``mean``, ``ci95`` as ``[lo, hi]``, ``n`` and ``sd``."""
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n, "sd": self.sd}


def probability_ci(values: Sequence[float] | np.ndarray) -> dict[str, float | int | list[float]]:
    """:func:`mean_ci` of probabilities, as a dict whose 95% interval is clipped to [0, 1]."""
    out = mean_ci(values).as_dict()
    lo, hi = out["ci95"]  # type: ignore[misc]
    out["ci95"] = [max(0.0, lo), min(1.0, hi)]
    return out


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MeanCI:
    """Mean and t-interval of ``values``. With one value the interval is degenerate (lo = hi = mean)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(mean, mean, mean, 1, 0.0)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df=x.size - 1)) * sd / math.sqrt(x.size)
    return MeanCI(mean, mean - half, mean + half, int(x.size), sd)


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive example scores above a negative one), ties counting one half (the Mann-Whitney AUROC)."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


AUROC_OVER_UNITS_METHOD = "Student's t on the logit scale (the typical unit's AUROC; continuity-corrected)"


def auroc_over_units(aurocs: Sequence[float], pairs: Sequence[int]) -> dict[str, Any]:
    """The AUROC of a typical unit (replicate, model) from each unit's own AUROC: the inverse logit of their mean
    logit, with Student's t interval on the logit scale (``estimate``, ``ci95``), beside their plain ``mean``.

    A t-interval on the AUROC scale undercovers near 1, where the units' AUROCs are skewed (about 90% at an AUROC
    of 0.98 over 5 or 8 units); on the logit scale it covers 95-96% (`sublearn coverage`). ``pairs``: each unit's
    positive × negative pairs, for the continuity correction (AUROC·m + ½) / (m + 1) that keeps 0 and 1 finite."""
    values = np.asarray(aurocs, dtype=float)
    if len(values) == 0:
        raise ValueError("auroc_over_units needs at least one unit")
    m = np.asarray(pairs, dtype=float)
    corrected = (values * m + 0.5) / (m + 1)
    logits = np.log(corrected / (1 - corrected))
    ci = mean_ci(logits)
    interval = [_expit(ci.lo), _expit(ci.hi)] if len(values) > 1 else None
    return {"estimate": _expit(ci.mean), "ci95": interval, "mean": float(values.mean()), "n": len(values),
            "ci_method": AUROC_OVER_UNITS_METHOD}


def _expit(x: float) -> float:
    return float(1 / (1 + math.exp(-x)))


#: Resamples of the bootstrap CIs (seeded, so the same data give the same CI).
BOOTSTRAP_RESAMPLES = 10_000


def ratio_of_means(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """mean(numerator) / mean(denominator); NaN when the denominator's mean is 0."""
    d = float(np.mean(denominator))
    return float(np.mean(numerator)) / d if d != 0 else math.nan


def ratio_of_means_ci(numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray,
                      confidence: float = 0.95) -> tuple[float, list[float | None]]:
    """:func:`ratio_of_means` of paired values (units: replicates or models) and Fieller's interval for it: the
    ratios θ with (x̄ − θȳ)² ≤ t² · var(x̄ − θȳ), t from Student's t with n − 1 degrees of freedom and the pairs'
    covariance kept. Exact under normal pairs (a percentile bootstrap over 5-10 pairs covers 84-90%); the CI is
    ``[None, None]`` for one pair, an undefined ratio, or a denominator not distinguishable from 0 (then the set
    is unbounded)."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    estimate = ratio_of_means(num, den)
    n = len(num)
    if n < 2 or not math.isfinite(estimate):
        return estimate, [None, None]
    t2 = float(sps.t.ppf(0.5 + confidence / 2, df=n - 1)) ** 2
    cov = np.cov(num, den, ddof=1) / n
    x, y = float(num.mean()), float(den.mean())
    a = y * y - t2 * cov[1, 1]
    b = -2 * (x * y - t2 * cov[0, 1])
    c = x * x - t2 * cov[0, 0]
    disc = b * b - 4 * a * c
    if a <= 0 or disc < 0:
        return estimate, [None, None]
    root = math.sqrt(disc)
    return estimate, [(-b - root) / (2 * a), (-b + root) / (2 * a)]


#: How :func:`ratio_of_means_ci` makes its interval, as reports name it.
RATIO_CI_METHOD = "Fieller's interval over replicates (t, n - 1 df)"


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``."""
    if n <= 0:
        raise ValueError("wilson_ci needs n > 0")
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two arms measured on the same units (models, seeds, questions)."""

    n: int
    mean_diff: float
    ci95: tuple[float, float]
    t: float
    p_ttest: float
    p_wilcoxon: float | None
    n_first_greater: int

    def as_dict(self) -> dict[str, object]:
        """JSON form of the test."""
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        return d


#: Up to this many pairs, a signed-rank test with ties or zeros is an exact permutation test (2^n sign flips).
EXACT_SIGNED_RANK_MAX_N = 13


def wilcoxon_p(d: np.ndarray) -> float:
    """The two-sided Wilcoxon signed-rank p-value of the differences ``d``, as ``scipy.stats.wilcoxon`` gives it
    (zeros dropped): with ties or zeros and at most 13 pairs, scipy runs a permutation test that re-ranks every one
    of the 2^n sign flips (a third of a second each). The ranks of |d| do not change under a sign flip, so the same
    exact null distribution is one matrix product here; every other case goes to scipy."""
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    if d.size > EXACT_SIGNED_RANK_MAX_N or not (ties or nonzero.size < d.size):
        return float(sps.wilcoxon(d).pvalue)
    ranks = sps.rankdata(np.abs(nonzero))
    observed = float(ranks[nonzero > 0].sum())
    flips = (np.arange(2 ** nonzero.size)[:, None] >> np.arange(nonzero.size)) & 1
    null = flips @ ranks
    slack = abs(1e-14 * observed)  # scipy's relative tolerance for a null value equal to the observed one
    less, greater = float(np.mean(null <= observed + slack)), float(np.mean(null >= observed - slack))
    return min(1.0, 2 * min(less, greater))


def paired_test(first: Sequence[float], second: Sequence[float]) -> PairedTest:
    """Paired t-test (and Wilcoxon signed-rank test) of ``first - second``, two-sided."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired_test needs two 1-D sequences of equal length")
    if a.size < 2:
        raise ValueError("paired_test needs at least 2 pairs")
    d = a - b
    ci = mean_ci(d)
    if np.allclose(d, d[0]):
        t_stat, p_t = (math.inf if d[0] > 0 else -math.inf if d[0] < 0 else 0.0), (0.0 if d[0] != 0 else 1.0)
    else:
        res = sps.ttest_rel(a, b)
        t_stat, p_t = float(res.statistic), float(res.pvalue)
    try:
        p_w = wilcoxon_p(d) if np.any(d != 0) else 1.0
    except ValueError:
        p_w = None
    return PairedTest(
        n=int(a.size),
        mean_diff=ci.mean,
        ci95=(ci.lo, ci.hi),
        t=float(t_stat),
        p_ttest=float(p_t),
        p_wilcoxon=p_w,
        n_first_greater=int((d > 0).sum()),
    )


def minimum_detectable_effect(sd: float, n: int, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest true mean a two-sided one-sample t-test over ``n`` replicates (at ``alpha``) detects with
    probability ``power``, given the replicates' standard deviation ``sd`` (from the noncentral t; ``None`` below
    two replicates). A null result is read against it: effects smaller than this could well have been missed."""
    if n < 2 or not math.isfinite(sd):
        return None
    if sd == 0:
        return 0.0
    df, critical = n - 1, float(sps.t.ppf(1 - alpha / 2, n - 1))

    def achieved(delta: float) -> float:
        nc = delta * math.sqrt(n) / sd
        return float(sps.nct.sf(critical, df, nc) + sps.nct.cdf(-critical, df, nc))

    low, high = 0.0, sd
    while achieved(high) < power:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if achieved(mid) < power else (low, mid)
    return high
