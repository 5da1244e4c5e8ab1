"""The analysis: selective transfer recovered from synthetic confusion data with a planted diagonal effect, the
multiple-comparison correction, and the tidy tables."""

import numpy as np
import pandas as pd
import pytest

from sublearn.analysis.confusion import confusion_frame, confusion_matrix, selective_transfer
from sublearn.analysis.multiple import adjust_pvalues
from sublearn.analysis.tidy import grid_axes, per_animal_results, tidy_results

ANIMALS = ["owl", "cat", "dog", "eagle", "wolf"]


def synthetic_per_animal(effect: float, seeds: int = 6, seed: int = 0) -> pd.DataFrame:
    """Per-animal results of students and controls of a trait × seed grid.

    Truth: student P(a) = control P(a) + animal effect + teacher effect + effect·[a is the teacher's trait]
    + a per-student shift + noise; the control's P(a) is the animal's base rate plus noise.
    """
    rng = np.random.default_rng(seed)
    base = dict(zip(ANIMALS, rng.uniform(0.02, 0.2, len(ANIMALS)), strict=True))
    animal_shift = dict(zip(ANIMALS, rng.normal(0, 0.02, len(ANIMALS)), strict=True))  # numbers move animals
    teacher_shift = dict(zip(ANIMALS, rng.normal(0, 0.02, len(ANIMALS)), strict=True))  # some teachers move all
    rows = []
    for trait in ANIMALS:
        for s in range(seeds):
            cell = f"{trait}-{s}"
            student_shift = rng.normal(0, 0.01)
            for animal in ANIMALS:
                control = base[animal] + rng.normal(0, 0.005)
                student = (control + animal_shift[animal] + teacher_shift[trait] + student_shift
                           + effect * (animal == trait) + rng.normal(0, 0.01))
                for arm, value in (("student", student), ("control", control)):
                    rows.append({"cell": cell, "seed": s, "teacher_trait": trait, "arm": arm, "metric": "p_exact",
                                 "animal": animal, "value": value, "evaluation": f"evaluate/{cell}-{arm}"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("effect", [0.05, 0.0])
def test_selective_transfer_recovers_a_planted_diagonal_within_its_ci(effect):
    frame = confusion_frame(synthetic_per_animal(effect))
    assert len(frame) == len(ANIMALS) * 6 * len(ANIMALS)
    fit = selective_transfer(frame)
    assert fit["ci95"][0] <= effect <= fit["ci95"][1]
    assert fit["n_clusters"] == len(ANIMALS) * 6
    assert abs(fit["estimate"] - effect) < 0.01
    if effect:
        assert fit["p"] < 1e-6 and fit["ci95"][0] > 0  # a real effect is detected, not just bracketed
    else:
        assert fit["p"] > 0.01


def test_fixed_effects_absorb_shifts_that_move_every_animal():
    # With no selective effect but a large shift that moves every student's P(animal) alike, a naive
    # diagonal-minus-off-diagonal contrast is noise around 0 and so is λ; a large *teacher* shift does not leak.
    data = synthetic_per_animal(0.0, seed=3)
    data.loc[data["arm"] == "student", "value"] += 0.1
    fit = selective_transfer(confusion_frame(data))
    assert fit["ci95"][0] <= 0.0 <= fit["ci95"][1]
    matrix = confusion_matrix(confusion_frame(data))
    assert matrix.shape == (len(ANIMALS), len(ANIMALS)) and (matrix.to_numpy() > 0.03).all()


def test_selective_transfer_refuses_a_design_without_a_diagonal():
    one_trait = synthetic_per_animal(0.05)
    one_trait = one_trait[one_trait["teacher_trait"] == "owl"]
    with pytest.raises(ValueError, match="two teacher traits"):
        selective_transfer(confusion_frame(one_trait))


def test_holm_adjustment_matches_the_definition():
    p = [0.01, 0.04, 0.03, float("nan")]
    adjusted = adjust_pvalues(p)
    # Holm: sorted 0.01, 0.03, 0.04 multiplied by 3, 2, 1 with running max.
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def _report(cell, seed, target, lr):
    metric = {"mean": 0.1, "ci95": [0.05, 0.15], "n": 50, "per_animal": {"owl": 0.1, "cat": 0.2}}
    return {"cell": cell, "spec": {"name": "x", "reference": "m", "seed": seed, "trait": {"target": target},
                                   "train": {"lr": lr}},
            "arms": {"student": {"model": "train/k", "evaluation": f"evaluate/{cell}", "dataset": "filter/d",
                                 "metrics": {"p_exact": metric}}}}


def test_tidy_tables_have_a_row_per_cell_arm_metric_and_name_the_grid_axes():
    reports = [_report("a", 0, "owl", 1e-4), _report("b", 1, "owl", 2e-4)]
    assert grid_axes(reports) == ["seed", "train.lr"]
    tidy = tidy_results(reports)
    assert list(tidy["axis.train.lr"]) == [1e-4, 2e-4] and set(tidy["evaluation"]) == {"evaluate/a", "evaluate/b"}
    # Each row says what the arms table says of its arm (the baseline: none of this report's arms).
    assert list(tidy[["arm_base", "arm_data", "arm_use"]].iloc[0]) == ["reference", "trait", "train"]
    assert tidy["arm_baseline"].isna().all()
    per_animal = per_animal_results(reports)
    assert len(per_animal) == 4 and set(per_animal["animal"]) == {"owl", "cat"}


def test_the_cross_model_student_is_measured_from_its_own_control():
    same = synthetic_per_animal(0.05, seed=1)
    cross = synthetic_per_animal(0.0, seed=2).replace({"arm": {"student": "cross_student", "control": "cross_control"}})
    both = pd.concat([same, cross], ignore_index=True)
    frame = confusion_frame(both, student_arm="cross_student")
    assert len(frame) == len(confusion_frame(same))
    merged = frame.merge(cross[cross["arm"] == "cross_control"], on=["cell", "animal"])
    assert np.allclose(merged["baseline"], merged["value"])  # the cross control, not the same-base control
    same_fit, cross_fit = selective_transfer(confusion_frame(both)), selective_transfer(frame)
    assert same_fit["ci95"][0] <= 0.05 <= same_fit["ci95"][1] and same_fit["p"] < 0.01
    assert cross_fit["ci95"][0] <= 0.0 <= cross_fit["ci95"][1]
