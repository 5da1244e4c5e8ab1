"""The arms of a cell, as one declarative table.

A *teacher* writes a dataset: it names the model that writes and the system prompt it writes under. An *arm* is
one evaluated model: it names its base model, which teacher writes its data (if any), whether it trains on that
data or reads it in context, and the arms it is measured against (its baseline first). The cell runner, the
summaries, the tidy tables, the confusion analysis and the report all read these tables; a new control is one
entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sublearn.config.experiment import ExperimentSpec

Base = Literal["reference", "cross", "teacher"]
Use = Literal["none", "train", "icl"]


@dataclass(frozen=True)
class Teacher:
    """A writer of data: ``model`` is ``trait_teacher`` (the reference given the trait) or ``control_teacher``
    (the reference as it is, or fine-tuned on ``controls.control_dataset``); ``system`` says whether it writes
    under the trait's system prompt."""

    name: str
    model: Literal["trait_teacher", "control_teacher"]
    system: Literal["trait", "none"]
    enabled: Callable[[ExperimentSpec], bool]
    description: str


@dataclass(frozen=True)
class Arm:
    """One evaluated model of a cell."""

    name: str
    base: Base  # the reference model, the cross model, or the trait teacher itself
    data: str | None  # the teacher (a TEACHERS name) whose data the arm uses; None: no data
    use: Use  # fine-tune the base on the data, put k examples in the system prompt, or neither
    baselines: tuple[str, ...]  # arms it is compared with, paired; the first one present is its baseline
    enabled: Callable[[ExperimentSpec], bool]
    description: str
    transform: Literal["shuffle_within", "shuffle_across"] | None = None  # applied to the data first

    @property
    def trains(self) -> bool:
        """Whether the arm is a fine-tuned model."""
        return self.use == "train"


def _always(_: ExperimentSpec) -> bool:
    return True


TEACHERS: tuple[Teacher, ...] = (
    Teacher("trait", "trait_teacher", "trait", _always,
            "the reference given the trait (system prompt, fine-tune or dataset fine-tune)"),
    Teacher("control", "control_teacher", "none", lambda s: s.controls.control_teacher,
            "the reference without the trait (or fine-tuned on controls.control_dataset)"),
)

ARMS: tuple[Arm, ...] = (
    Arm("reference", "reference", None, "none", (), _always, "the reference model, untrained"),
    Arm("teacher", "teacher", None, "none", ("reference",), lambda s: s.eval.evaluate_teacher,
        "the trait teacher, under its system prompt"),
    Arm("student", "reference", "trait", "train", ("control", "reference", "shuffled_within", "shuffled_across"),
        _always, "the reference fine-tuned on the trait teacher's data"),
    Arm("control", "reference", "control", "train", ("reference",), lambda s: s.controls.control_teacher,
        "the reference fine-tuned on the control teacher's data"),
    Arm("cross_reference", "cross", None, "none", (), lambda s: bool(s.controls.cross_model),
        "the cross model (another initialisation), untrained"),
    Arm("cross_student", "cross", "trait", "train", ("cross_control", "cross_reference"),
        lambda s: bool(s.controls.cross_model), "the cross model fine-tuned on the trait teacher's data"),
    Arm("cross_control", "cross", "control", "train", ("cross_reference",),
        lambda s: bool(s.controls.cross_model and s.controls.cross_control and s.controls.control_teacher),
        "the cross model fine-tuned on the control teacher's data"),
    Arm("icl", "reference", "trait", "icl", ("icl_control",), lambda s: s.controls.icl_k > 0,
        "the reference with k of the trait teacher's examples in its system prompt"),
    Arm("icl_control", "reference", "control", "icl", (),
        lambda s: s.controls.icl_k > 0 and s.controls.control_teacher,
        "the reference with k of the control teacher's examples in its system prompt"),
    Arm("shuffled_within", "reference", "trait", "train", ("control",), lambda s: s.controls.shuffle_within,
        "the reference fine-tuned on the trait data with each response's numbers shuffled",
        transform="shuffle_within"),
    Arm("shuffled_across", "reference", "trait", "train", ("control",), lambda s: s.controls.shuffle_across,
        "the reference fine-tuned on the trait data with numbers shuffled across responses",
        transform="shuffle_across"),
)

ARMS_BY_NAME = {arm.name: arm for arm in ARMS}
TEACHERS_BY_NAME = {t.name: t for t in TEACHERS}
ARM_NAMES = tuple(ARMS_BY_NAME)


def active_arms(spec: ExperimentSpec) -> list[Arm]:
    """The arms a spec runs, in table order."""
    return [arm for arm in ARMS if arm.enabled(spec)]


def active_teachers(spec: ExperimentSpec) -> list[Teacher]:
    """The teachers whose data some active arm uses, in table order."""
    used = {arm.data for arm in active_arms(spec)}
    return [t for t in TEACHERS if t.name in used and t.enabled(spec)]


def baseline_of(arm: str, present: Sequence[str]) -> str | None:
    """The arm's baseline among the arms ``present``: the first of its baselines that is there."""
    return next((b for b in ARMS_BY_NAME[arm].baselines if b in present), None) if arm in ARMS_BY_NAME else None


def comparisons(present: Sequence[str]) -> list[tuple[str, str]]:
    """Every (arm, baseline) pair to test among the arms ``present``, in table order."""
    return [(arm.name, b) for arm in ARMS if arm.name in present for b in arm.baselines if b in present]


def trait_students(present: Sequence[str]) -> list[str]:
    """Arms fine-tuned on the trait teacher's data as it was written (the students whose lift is the effect)."""
    return [a.name for a in ARMS if a.name in present and a.data == "trait" and a.trains and a.transform is None]
