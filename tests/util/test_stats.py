"""Confidence intervals and paired tests."""

import numpy as np
import pytest

from sublearn.util.stats import mean_ci, paired_test, wilson_ci


def test_mean_ci_matches_the_t_formula():
    x = [0.5, 0.6, 0.7, 0.8]
    ci = mean_ci(x)
    assert ci.mean == pytest.approx(0.65)
    half = 3.182446305284263 * np.std(x, ddof=1) / 2
    assert ci.lo == pytest.approx(0.65 - half) and ci.hi == pytest.approx(0.65 + half)
    assert ci.n == 4


def test_mean_ci_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        ci = mean_ci(rng.normal(1.0, 2.0, 8))
        covered += ci.lo <= 1.0 <= ci.hi
    assert 0.93 < covered / 2000 < 0.97


def test_wilson_interval():
    lo, hi = wilson_ci(12, 100)
    assert lo == pytest.approx(0.0699, abs=1e-3) and hi == pytest.approx(0.1976, abs=1e-3)
    assert wilson_ci(0, 10)[0] == 0.0


def test_paired_test_detects_a_shift_and_not_noise():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 20)
    assert paired_test(a + 1.0, a).p_ttest == 0.0
    shifted = paired_test(a + 0.5 + rng.normal(0, 0.1, 20), a)
    assert shifted.p_ttest < 1e-6 and shifted.ci95[0] > 0
    null = paired_test(a + rng.normal(0, 1, 20), a)
    assert null.ci95[0] < 0 < null.ci95[1]


def test_the_exact_signed_rank_p_value_is_scipys_without_its_permutation_loop():
    import numpy as np
    import scipy.stats as sps

    from sublearn.util.stats import wilcoxon_p

    rng = np.random.default_rng(0)
    checked = 0
    for n in (*range(2, 11), 13, 14):  # scipy's own loop takes a third of a second at n = 13
        for _ in range(3 if n < 11 else 1):
            d = rng.integers(-3, 4, size=n).astype(float) / 4  # ties and zeros in most draws
            if not np.any(d != 0):
                continue
            assert wilcoxon_p(d) == pytest.approx(float(sps.wilcoxon(d).pvalue), rel=1e-9, abs=1e-12), d
            checked += 1
    assert checked > 20
    assert wilcoxon_p(np.array([0.5, 0.5, 0.5, -0.25, 0.0])) == pytest.approx(
        float(sps.wilcoxon([0.5, 0.5, 0.5, -0.25, 0.0]).pvalue))


def test_the_minimum_detectable_effect_is_detected_with_the_power_asked():
    from scipy import stats as sps

    from sublearn.util.stats import minimum_detectable_effect

    effect = minimum_detectable_effect(1.0, 10)
    assert effect == pytest.approx(0.996, abs=0.002)  # the one-sample t-test's d at n = 10, 80%, alpha 0.05
    assert minimum_detectable_effect(2.0, 10) == pytest.approx(2 * effect)
    assert minimum_detectable_effect(1.0, 5) > effect and minimum_detectable_effect(1.0, 1) is None
    rng = np.random.default_rng(0)
    hits = sum(sps.ttest_1samp(rng.normal(effect, 1.0, 10), 0).pvalue < 0.05 for _ in range(4000))
    assert 0.77 < hits / 4000 < 0.83
