"""Effect sizes against the teacher's gap, the init-dependence interaction, the permutation tests, and λ on few
clusters: planted effects are recovered, null ones are not declared."""

import math

import numpy as np
import pandas as pd
import pytest

from sublearn.analysis.confusion import confusion_frame, selective_transfer
from sublearn.analysis.effects import gap_fraction, interaction, sign_flip_p
from sublearn.analysis.records import as_cell_reports, parse_summary
from sublearn.analysis.summary import dose_response, effect_rows, summarise, summary_markdown


def _reports(n: int, same_lift: float, other_lift: float, seed: int = 0, cross: str = "perturbed:0.1"):
    """Replicates with a teacher gap of 0.2 (placebo teacher 0.01 → teacher 0.21), a student that gains
    ``same_lift`` × 0.01 over its placebo (log scale), and a cross student that gains ``other_lift``."""
    rng = np.random.default_rng(seed)
    reports = []
    for r in range(n):
        placebo = 0.01 * math.exp(rng.normal(0, 0.05))
        cross_placebo = 0.02 * math.exp(rng.normal(0, 0.05))
        values = {"reference": 0.01, "placebo_teacher": 0.01, "teacher": 0.21, "placebo": placebo,
                  "student": placebo * math.exp(same_lift + rng.normal(0, 0.05)), "cross_reference": 0.02,
                  "cross_placebo": cross_placebo,
                  "cross_student": cross_placebo * math.exp(other_lift + rng.normal(0, 0.05))}
        reports.append({"cell": f"c{r}", "spec": {"name": "x", "seed": r, "controls": {"cross_model": cross}},
                        "bases": {"cross": {"name": cross, "scale": 0.1, "relative_distance": 0.1}},
                        "arms": {arm: {"model": arm, "metrics": {"p_exact": {"mean": v, "ci95": [v, v], "n": 25}}}
                                 for arm, v in values.items()}})
    return as_cell_reports(reports)


def test_the_gap_fraction_is_the_students_share_of_the_teachers_gap():
    reports = _reports(8, same_lift=math.log(3), other_lift=0.0)  # student ≈ 0.03 over a 0.01 placebo
    gap = gap_fraction(reports, "p_exact")
    assert gap["baseline"] == "placebo" and gap["teacher_baseline"] == "placebo_teacher" and gap["n"] == 8
    assert gap["estimate"] == pytest.approx(0.02 / 0.2, rel=0.15)
    assert gap["ci95"][0] <= gap["estimate"] <= gap["ci95"][1]


def test_the_interaction_finds_init_dependence_and_not_a_shared_effect():
    dependent = interaction(_reports(8, same_lift=1.0, other_lift=0.0), "p_exact")
    assert dependent["estimate"] == pytest.approx(1.0, abs=0.1) and dependent["p_permutation"] < 0.01
    assert dependent["contrast"] == "log(student/placebo) - log(cross_student/cross_placebo)"
    assert dependent["min_attainable_p_permutation"] == pytest.approx(2 / 256)
    shared = interaction(_reports(8, same_lift=1.0, other_lift=1.0, seed=1), "p_exact")
    assert shared["ci95"][0] <= 0 <= shared["ci95"][1]  # both bases pick it up: no init dependence
    assert shared["same_base"]["p_permutation"] < 0.01 and shared["other_base"]["p_permutation"] < 0.01


def test_the_sign_flip_test_is_exact_and_bounded_by_the_number_of_replicates():
    assert sign_flip_p([1.0] * 5) == pytest.approx(2 / 32)  # n = 5 cannot go below 0.0625
    assert sign_flip_p([1.0] * 8) == pytest.approx(2 / 256)
    assert sign_flip_p([1.0, -1.0, 1.0, -1.0]) == 1.0


def test_summaries_carry_the_effects_and_the_dose_response():
    near, far = _reports(6, 1.0, 0.8, cross="perturbed:0.01"), _reports(6, 1.0, 0.0, seed=2, cross="perturbed:0.3")
    for r in far:
        r.bases["cross"].update(scale=0.3, relative_distance=0.3)
    summary = summarise(near + far)
    assert len(summary["groups"]) == 2 and all("interaction" in g and "gap_fraction" in g for g in summary["groups"])
    rows = summary["dose_response"]["p_exact"]
    assert [r["relative_distance"] for r in rows] == pytest.approx([0.1, 0.3])
    assert rows[0]["other_base_effect"]["estimate"] > rows[1]["other_base_effect"]["estimate"]
    assert dose_response(summary["groups"]) == summary["dose_response"]
    typed = parse_summary(summary, "summary")
    text = summary_markdown(typed)
    assert "## Dose-response: p_exact" in text and "| readout | gap fraction | same base | other base |" in text
    far_row = next(r for r in effect_rows(typed.groups[1]) if r["readout"] == "p_exact")
    test = summary["groups"][1]["interaction"]["p_exact"]
    assert far_row["interaction"].startswith(f"{test['estimate']:.3g} [") and far_row["positive"] == "6/6"


def _confusion(effect: float, seeds: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    animals = ["owl", "cat", "dog"]
    rows = []
    for trait in animals:
        for s in range(seeds):
            for animal in animals:
                base = 0.05 * (1 + animals.index(animal))
                student = base * (1.3 + effect * (animal == trait)) * math.exp(rng.normal(0, 0.05))
                for arm, value in (("student", student), ("placebo", base)):
                    rows.append({"cell": f"{trait}-{s}", "seed": s, "teacher_trait": trait, "arm": arm,
                                 "metric": "p_exact", "animal": animal, "value": value, "evaluation": "e"})
    return pd.DataFrame(rows)


def test_lambda_on_log_ratios_absorbs_a_rise_that_multiplies_every_animal():
    null = confusion_frame(_confusion(0.0, seeds=3))
    assert set(null["log_lift"].round(6)) != set(null["lift"].round(6))
    on_log = selective_transfer(null, value="log_lift")
    assert on_log["ci95"][0] <= 0 <= on_log["ci95"][1] and on_log["p_permutation"] > 0.05
    planted = selective_transfer(confusion_frame(_confusion(0.5, seeds=3)), value="log_lift")
    assert planted["ci95"][0] > 0 and planted["df"] == 8 and planted["n_permutations"] == 6 ** 3
    # With 9 clusters the t(8) interval is wider than the normal one would be.
    assert planted["ci95"][1] - planted["ci95"][0] > 2 * 1.96 * planted["se"]


def test_animal_shifts_tell_a_shift_about_the_teachers_animal_from_a_general_one():
    from sublearn.analysis.effects import animal_shifts

    reports = []
    for seed in range(5):
        placebo = {"owl": 0.01, "cat": 0.02}
        student = {"owl": 0.01 * (1.5 + 0.01 * seed), "cat": 0.02 * (1.0 - 0.01 * seed)}
        arms = {name: {"model": name, "metrics": {"p_exact": {"mean": sum(p.values()), "per_animal": p}}}
                for name, p in (("reference", placebo), ("teacher", {"owl": 0.9, "cat": 0.01}),
                                ("placebo_teacher", placebo), ("student", student), ("placebo", placebo))}
        reports.append({"cell": f"c{seed}", "spec": {"seed": seed}, "arms": arms})
    shifts = animal_shifts(as_cell_reports(reports))["student"]
    assert shifts["baseline"] == "placebo"
    owl, cat = shifts["animals"]["owl"], shifts["animals"]["cat"]
    assert owl["estimate"] == pytest.approx(math.log(1.52), abs=1e-3) and owl["n_positive"] == 5
    assert cat["estimate"] < 0 and cat["ci95"][1] < owl["ci95"][0]
