"""The arms table: each arm names its base, its data's teacher, whether it trains, and baselines that exist; a
spec's switches turn arms on; comparisons and baselines come from the table alone."""

from sublearn.config.experiment import ExperimentSpec
from sublearn.design.arms import (
    ARMS,
    ARMS_BY_NAME,
    TEACHERS_BY_NAME,
    active_arms,
    active_teachers,
    baseline_of,
    comparisons,
    trait_students,
)


def test_every_arm_is_well_formed():
    for arm in ARMS:
        assert arm.base in ("reference", "cross", "trait_teacher", "placebo_teacher")
        assert arm.data is None or arm.data in TEACHERS_BY_NAME
        assert (arm.use == "none") == (arm.data is None), arm.name  # data is used by training or in context
        assert all(b in ARMS_BY_NAME and b != arm.name for b in arm.baselines), arm.name
        assert arm.description


def test_switches_turn_arms_on():
    plain = ExperimentSpec(reference="m", controls={"control_teacher": False})
    assert [a.name for a in active_arms(plain)] == ["reference", "teacher", "student"]
    assert [t.name for t in active_teachers(plain)] == ["trait"]
    full = ExperimentSpec(reference="m", trait={"kind": "fine_tuned"}, eval={"questions": "held_out"},
                          controls={"placebo": True, "cross_model": "x", "cross_control": True, "icl_k": 2,
                                    "shuffle_within": True, "shuffle_across": True})
    assert [a.name for a in active_arms(full)] == [a.name for a in ARMS]
    assert [t.name for t in active_teachers(full)] == ["trait", "placebo", "control"]
    assert TEACHERS_BY_NAME["trait"].init_stream == TEACHERS_BY_NAME["placebo"].init_stream  # matched on purpose
    no_teacher_eval = ExperimentSpec(reference="m", eval={"evaluate_teacher": False})
    assert "teacher" not in [a.name for a in active_arms(no_teacher_eval)]


def test_baselines_and_comparisons_follow_the_arms_present():
    assert baseline_of("student", ["reference", "student", "control"]) == "control"
    assert baseline_of("student", ["reference", "student"]) == "reference"
    assert baseline_of("cross_student", ["cross_reference", "cross_student"]) == "cross_reference"
    assert baseline_of("reference", ["reference"]) is None
    assert comparisons(["reference", "student", "control"]) == [("student", "control"), ("student", "reference"),
                                                                ("control", "reference")]
    assert trait_students(["student", "cross_student", "shuffled_within", "control"]) == ["student",
                                                                                          "cross_student"]
