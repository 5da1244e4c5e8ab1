"""The declared primary test, target-specific contrasts, the secondary family, pairing by seed, tests withheld
below a readout's error bound, and the dose-response trend test: planted effects are found, style shifts and
null effects are not, and values below their bound give no p-value."""

import math

import numpy as np
import pytest

from sublearn.analysis.dose import dose_trend
from sublearn.analysis.records import as_cell_reports
from sublearn.analysis.summary import summarise
from sublearn.analysis.target import target_interaction, target_shift

ANIMALS = ("owl", "eagle", "wolf", "cat")
PRIMARY = {"readout": "p_exact", "contrast": "target_interaction", "base": "both"}


def _reports(n, same_owl=0.0, other_owl=0.0, style=0.0, seed=0, level=0.01, bound=1e-6, distance=0.1,
             primary=PRIMARY, noise=0.05):
    """Replicates with per-animal exact probabilities. Students' animals move by exp(``style``) alike (answer
    style), and owl by exp(``same_owl``) more on the teachers' base, exp(``other_owl``) on the other base."""
    rng = np.random.default_rng(seed)
    reports = []
    for r in range(n):
        def animals(owl_lift, shift_all, base=level):
            return {a: base * math.exp(shift_all + (owl_lift if a == "owl" else 0.0) + rng.normal(0, noise))
                    for a in ANIMALS}

        arms = {"reference": animals(0, 0), "teacher": animals(3.0, 0), "placebo_teacher": animals(0, 0),
                "placebo": animals(0, 0), "student": animals(same_owl, style),
                "cross_reference": animals(0, 0), "cross_placebo": animals(0, 0),
                "cross_student": animals(other_owl, style)}
        reports.append({
            "cell": f"c{seed}-{r}",
            "spec": {"name": "x", "seed": 100 + r, "trait": {"target": "owl"}, "analysis": {"primary": primary},
                     "controls": {"cross_model": f"perturbed:{distance}"}},
            "bases": {"cross": {"name": f"perturbed:{distance}", "scale": distance, "relative_distance": distance}},
            "arms": {arm: {"model": arm,
                           "metrics": {"p_exact": {"mean": per["owl"], "ci95": [0, 1], "n": 25, "per_animal": per,
                                                   "max_pruned_mass": bound, "max_pruned_mass_any_animal": bound}}}
                     for arm, per in arms.items()}})
    return as_cell_reports(reports)


def test_a_shift_of_answer_style_is_not_a_target_specific_shift():
    style = target_shift(_reports(8, style=0.5), "p_exact", "student")
    assert style["estimate"] == pytest.approx(0.0, abs=0.1) and style["p_ttest"] > 0.05
    owl = target_shift(_reports(8, same_owl=0.5, style=0.5), "p_exact", "student")
    assert owl["estimate"] == pytest.approx(0.5, abs=0.1) and owl["p_permutation"] < 0.01
    assert owl["baseline"] == "placebo" and owl["animals"][0] == "owl"


def test_the_target_interaction_needs_the_owl_itself_to_depend_on_the_init():
    dependent = target_interaction(_reports(8, same_owl=0.6, other_owl=0.0), "p_exact")
    assert dependent["estimate"] == pytest.approx(0.6, abs=0.1) and dependent["p_ttest"] < 0.001
    # the other animals' mass moving on one base only is not the owl's interaction
    style_only = target_interaction(_reports(8, style=0.6, seed=3), "p_exact")
    assert style_only["ci95"][0] <= 0 <= style_only["ci95"][1]


def test_the_primary_test_is_the_headline_and_every_other_test_is_one_holm_family():
    summary = summarise(_reports(8, same_owl=0.6))
    group = summary["groups"][0]
    primary = group["primary"]
    assert primary["status"] == "determined" and primary["path"] == "target_interaction/p_exact"
    assert "p_holm" not in group["target_interaction"]["p_exact"]  # the primary is not corrected
    assert primary["relative_to_teacher"] == pytest.approx(0.6 / 3.0, abs=0.05)  # against the teacher's shift
    family = summary["secondary_family"]
    assert family["method"] == "holm" and "groups/0/target_interaction/p_exact" not in family["members"]
    assert family["size"] == len(family["members"]) > 10
    assert "groups/0/interaction/p_exact" in family["members"]
    tests = group["tests_over_seeds"]
    assert all(t["p_holm"] >= t["p_ttest"] for t in tests.values())
    assert group["interaction"]["p_exact"]["p_holm"] >= group["interaction"]["p_exact"]["p_ttest"]


def test_without_a_declaration_there_is_no_primary_test():
    group = summarise(_reports(4, primary=None))["groups"][0]
    assert group["primary"]["status"] == "not declared" and "analysis.primary" in group["primary"]["reason"]


def test_a_one_sided_primary_halves_the_p_value_in_the_declared_direction():
    one = {**PRIMARY, "alternative": "greater"}
    up = summarise(_reports(6, same_owl=0.1, primary=one))["groups"][0]
    two = summarise(_reports(6, same_owl=0.1))["groups"][0]
    assert up["primary"]["test"]["p_ttest"] == pytest.approx(two["primary"]["test"]["p_ttest"] / 2)
    down = summarise(_reports(6, same_owl=-0.3, primary=one))["groups"][0]
    assert down["primary"]["test"]["p_ttest"] > 0.9


def test_values_below_their_error_bound_give_undetermined_not_a_p_value():
    reports = _reports(6, same_owl=0.6, level=1e-5, bound=1e-4)  # every probability is below the pruned mass
    summary = summarise(reports)
    group = summary["groups"][0]
    assert group["primary"]["status"] == "undetermined" and "below its error bound" in group["primary"]["reason"]
    assert "p_ttest" not in group["target_interaction"]["p_exact"]
    assert "p_ttest" not in group["interaction"]["p_exact"]
    assert all("undetermined" in t for t in group["tests_over_seeds"].values())
    assert summary["secondary_family"]["size"] == 0  # nothing undetermined enters the family
    fine = summarise(_reports(6, same_owl=0.6, level=1e-3, bound=1e-4))["groups"][0]
    assert fine["primary"]["status"] == "determined"


def test_arm_tests_pair_replicates_by_seed_not_by_position():
    reports = _reports(5, same_owl=0.3)
    reports[1].arms.pop("placebo")  # replicate 101 lost its placebo student
    shuffled = [reports[k] for k in (3, 0, 4, 1, 2)]
    test = summarise(shuffled)["groups"][0]["tests_over_seeds"]["student-placebo:p_exact"]
    assert test["replicates"] == [100, 102, 103, 104]
    by_seed = {r.spec["seed"]: r.arms for r in reports}
    diffs = [by_seed[s]["student"].metrics["p_exact"].mean - by_seed[s]["placebo"].metrics["p_exact"].mean
             for s in test["replicates"]]
    assert test["mean_diff"] == pytest.approx(float(np.mean(diffs)))


def test_the_dose_trend_is_a_slope_over_replicates():
    groups = []
    for k, (distance, other) in enumerate(((0.01, 0.55), (0.03, 0.35), (0.1, 0.0))):
        groups += summarise(_reports(6, same_owl=0.6, other_owl=other, seed=k, distance=distance))["groups"]
    trend = dose_trend(groups)
    assert trend["target:p_exact"]["estimate"] > 0 and trend["target:p_exact"]["p_permutation"] < 0.05
    assert trend["target:p_exact"]["n"] == 6 and trend["p_exact"]["distances"] == pytest.approx([0.01, 0.03, 0.1])
    flat = []
    for k, distance in enumerate((0.01, 0.03, 0.1)):
        flat += summarise(_reports(6, same_owl=0.6, other_owl=0.3, seed=10 + k, distance=distance))["groups"]
    flat_trend = dose_trend(flat)["target:p_exact"]
    assert flat_trend["ci95"][0] <= 0 <= flat_trend["ci95"][1]


def test_each_side_of_an_interaction_is_undetermined_only_by_its_own_values():
    reports = _reports(6, same_owl=0.6, level=1e-3, bound=1e-4)
    value = reports[0].arms["cross_student"].metrics["p_exact"]
    value.per_animal = {**value.per_animal, "owl": 1e-5}  # one cross student's owl below the bound
    value.mean = 1e-5
    interaction = summarise(reports)["groups"][0]["interaction"]["p_exact"]
    assert "below its error bound" in interaction["undetermined"] and "p_ttest" not in interaction
    assert "below its error bound" in interaction["other_base"]["undetermined"]
    assert "p_ttest" not in interaction["other_base"]
    assert "undetermined" not in interaction["same_base"] and "p_ttest" in interaction["same_base"]
