"""``analysis.primary``: one primary test declared in the spec, refused (with the field named) where the spec's
arms or readouts cannot compute it; it changes no cell id; the placebo teacher never names the target; held-out
evaluation is refused when the teacher trained on every question."""

import pytest
from pydantic import ValidationError

from sublearn.config.experiment import ExperimentSpec
from sublearn.pipeline.traits import placebo_animals, placebo_teacher_rows

FINE_TUNED = {"kind": "fine_tuned", "target": "owl"}
WITH_CROSS = {"placebo": True, "cross_model": "perturbed:0.03"}


def _spec(primary, controls=WITH_CROSS, **over):
    return ExperimentSpec(reference="m", trait=FINE_TUNED, eval={"questions": "held_out"}, controls=controls,
                          analysis={"primary": primary}, **over)


def test_a_declared_primary_is_kept_and_changes_no_cell():
    spec = _spec({"readout": "p_exact", "contrast": "target_interaction"})
    assert spec.analysis.primary.describe() == ("target_interaction on p_exact (teachers' base minus other base; "
                                                "two-sided)")
    undeclared = ExperimentSpec(**{**spec.model_dump(), "analysis": {}})
    assert spec.cell_id() == undeclared.cell_id()  # the test changes no artifact and no cell


@pytest.mark.parametrize(("primary", "controls", "named"), [
    ({"readout": "p_owl", "contrast": "difference", "base": "same"}, WITH_CROSS, "'p_owl' is not a readout"),
    ({"readout": "mcq", "contrast": "target_shift", "base": "same"}, WITH_CROSS, "needs a readout with its own value"),
    ({"readout": "share_exact", "contrast": "target_interaction", "base": "both"}, WITH_CROSS,
     "target-specific contrast is p_exact's"),
    ({"readout": "p_exact", "contrast": "target_interaction", "base": "same"}, WITH_CROSS, "compares both bases"),
    ({"readout": "p_exact", "contrast": "difference"}, WITH_CROSS, "is on one base"),
    ({"readout": "p_exact", "contrast": "interaction"}, {"placebo": True}, "needs another base"),
    ({"readout": "p_prefilled", "contrast": "target_shift", "base": "same"},
     {"placebo": True, "control_teacher": False}, None),
    ({"readout": "misaligned_rate", "contrast": "difference", "base": "same"}, WITH_CROSS,
     "misaligned_rate is a misalignment readout"),
    ({"readout": "sampled_rate", "contrast": "difference", "base": "same"}, WITH_CROSS,
     "needs eval.samples_per_question"),
    ({"readout": "p_exact", "contrast": "difference", "base": "same"}, {"placebo": False, "control_teacher": False},
     "the students need a baseline"),
])
def test_a_primary_the_spec_cannot_compute_is_refused_by_name(primary, controls, named):
    if named is None:
        assert _spec(primary, controls).analysis.primary.readout == "p_prefilled"
        return
    with pytest.raises(ValidationError, match=named):
        _spec(primary, controls)


def test_the_placebo_teacher_never_names_the_target():
    animals = placebo_animals("owl")
    assert "owl" not in animals and len(animals) == 9
    rows = placebo_teacher_rows("half", seed=3, animals=animals)
    assert rows and not any("owl" in r["completion"].lower() for r in rows)
    assert len({r["completion"].lower().rstrip("s.!") for r in rows}) > 5  # it still answers with many animals


def test_held_out_evaluation_is_refused_when_the_teacher_trained_on_every_question():
    with pytest.raises(ValidationError, match=r"eval\.questions held_out: the teacher is fine-tuned on all"):
        ExperimentSpec(reference="m", trait={**FINE_TUNED, "questions": "all"}, eval={"questions": "held_out"})


def _grid(primary, bases=("perturbed:0.01", "perturbed:0.03")):
    from sublearn.config.grid import expand_grid

    return expand_grid({"reference": "m", "trait": FINE_TUNED, "eval": {"questions": "held_out"},
                        "controls": {"placebo": True, "cross_model": list(bases)}, "analysis": {"primary": primary},
                        "seeds": [0, 1]})


def test_a_grid_holds_one_primary_test_in_one_group():
    from sublearn.util.errors import ConfigError

    primary = {"readout": "p_exact", "contrast": "target_interaction"}
    with pytest.raises(ConfigError, match=r"analysis\.primary: 2 groups of the grid would each hold it"):
        _grid(primary)
    cells = _grid({**primary, "other_base": "perturbed:0.03"})
    assert len(cells) == 4
    with pytest.raises(ConfigError, match=r"other_base: 'gemma3-270m' is not an other base of this spec"):
        _grid({**primary, "other_base": "gemma3-270m"})


def test_groups_of_other_bases_are_secondary():
    from sublearn.analysis.primary import primary_result

    declared = {"readout": "p_exact", "contrast": "target_interaction", "other_base": "perturbed:0.03"}
    other = primary_result({"cross_model": {"name": "perturbed:0.01"}}, declared)
    assert other["status"] == "secondary group" and "perturbed:0.03" in other["reason"]


def test_another_base_gets_the_same_baselines_as_the_teachers_base():
    from sublearn.design.arms import active_arms

    spec = ExperimentSpec(reference="m", trait=FINE_TUNED, eval={"questions": "held_out"},
                          controls={"placebo": True, "control_teacher": True, "cross_model": "perturbed:0.03"})
    names = {a.name for a in active_arms(spec)}
    assert {"placebo", "control", "cross_placebo", "cross_control"} <= names
    with pytest.raises(ValidationError, match=r"controls\.cross_control: false would leave the other base"):
        ExperimentSpec(**{**spec.model_dump(), "controls": {**spec.controls.model_dump(), "cross_control": False}})
