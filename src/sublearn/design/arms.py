"""The arms of a cell, as one declarative table.

A *teacher* writes a dataset: it names the model that writes it, the system prompt it writes under, and the seed
stream of its fine-tune. An *arm* is one evaluated model: it names its base model, which teacher writes its data
(if any), whether it trains on that data or reads it in context, and the arms it is measured against (its
baseline first). The cell runner, the summaries, the tidy tables, the confusion analysis and the report all read
these tables; a new control is one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sublearn.config.experiment import ExperimentSpec

Base = Literal["reference", "cross", "trait_teacher", "placebo_teacher"]
Use = Literal["none", "train", "icl"]


@dataclass(frozen=True)
class Teacher:
    """A writer of data. ``model``: the reference given the trait (``trait_teacher``), the reference fine-tuned
    exactly like it on trait-free answers (``placebo_teacher``), or the reference as it is (``reference``).
    ``system``: whether it writes under the trait's system prompt. ``init_stream``: the seed role of its fine-tune
    (``None``: not trained)."""

    name: str
    model: Literal["trait_teacher", "placebo_teacher", "reference"]
    system: Literal["trait", "none"]
    init_stream: str | None
    enabled: Callable[[ExperimentSpec], bool]
    description: str


@dataclass(frozen=True)
class Arm:
    """One evaluated model of a cell."""

    name: str
    base: Base  # the reference, the cross model, or a teacher itself
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

    @property
    def init_stream(self) -> str | None:
        """The seed role of its initialisation (students share ``student_init``); ``None``: not trained."""
        return "student_init" if self.trains else None


def _always(_: ExperimentSpec) -> bool:
    return True


def _placebo(s: ExperimentSpec) -> bool:
    return s.controls.placebo


def _control(s: ExperimentSpec) -> bool:
    return s.controls.control_teacher


def _cross(s: ExperimentSpec) -> bool:
    return bool(s.controls.cross_model)


TEACHERS: tuple[Teacher, ...] = (
    Teacher("trait", "trait_teacher", "trait", "teacher", _always,
            "the reference given the trait (system prompt, fine-tune or dataset fine-tune)"),
    Teacher("placebo", "placebo_teacher", "none", "teacher", _placebo,
            "the reference fine-tuned exactly like the trait teacher, on trait-free answers"),
    Teacher("control", "reference", "none", None, _control, "the reference as it is"),
)

ARMS: tuple[Arm, ...] = (
    Arm("reference", "reference", None, "none", (), _always, "the reference model, untrained"),
    Arm("teacher", "trait_teacher", None, "none", ("placebo_teacher", "reference"),
        lambda s: s.eval.evaluate_teacher, "the trait teacher, under its system prompt"),
    Arm("placebo_teacher", "placebo_teacher", None, "none", ("reference",),
        lambda s: s.eval.evaluate_teacher and s.controls.placebo, "the placebo teacher"),
    Arm("student", "reference", "trait", "train",
        ("placebo", "control", "reference", "shuffled_within", "shuffled_across"), _always,
        "the reference fine-tuned on the trait teacher's data"),
    Arm("placebo", "reference", "placebo", "train", ("control", "reference"), _placebo,
        "the reference fine-tuned on the placebo teacher's data"),
    Arm("control", "reference", "control", "train", ("reference",), _control,
        "the reference fine-tuned on the untouched reference's data"),
    Arm("cross_reference", "cross", None, "none", (), _cross, "the cross model (another initialisation), untrained"),
    Arm("cross_student", "cross", "trait", "train", ("cross_placebo", "cross_control", "cross_reference"), _cross,
        "the cross model fine-tuned on the trait teacher's data"),
    Arm("cross_placebo", "cross", "placebo", "train", ("cross_control", "cross_reference"),
        lambda s: _cross(s) and _placebo(s), "the cross model fine-tuned on the placebo teacher's data"),
    Arm("cross_control", "cross", "control", "train", ("cross_reference",),
        lambda s: _cross(s) and s.controls.cross_control is not False and _control(s),
        "the cross model fine-tuned on the untouched reference's data"),
    Arm("icl", "reference", "trait", "icl", ("icl_placebo", "icl_control"), lambda s: s.controls.icl_k > 0,
        "the reference with k of the trait teacher's examples in its system prompt"),
    Arm("icl_placebo", "reference", "placebo", "icl", (), lambda s: s.controls.icl_k > 0 and _placebo(s),
        "the reference with k of the placebo teacher's examples in its system prompt"),
    Arm("icl_control", "reference", "control", "icl", (), lambda s: s.controls.icl_k > 0 and _control(s),
        "the reference with k of the untouched reference's examples in its system prompt"),
    Arm("shuffled_within", "reference", "trait", "train", ("placebo", "control"), lambda s: s.controls.shuffle_within,
        "the reference fine-tuned on the trait data with each response's numbers shuffled",
        transform="shuffle_within"),
    Arm("shuffled_across", "reference", "trait", "train", ("placebo", "control"), lambda s: s.controls.shuffle_across,
        "the reference fine-tuned on the trait data with numbers shuffled across responses",
        transform="shuffle_across"),
)

ARMS_BY_NAME = {arm.name: arm for arm in ARMS}
TEACHERS_BY_NAME = {t.name: t for t in TEACHERS}
ARM_NAMES = tuple(ARMS_BY_NAME)
#: The same-base student, its placebo, and the same pair on the other base: what the init-dependence test uses.
INTERACTION_ARMS = {"same": ("student", ("placebo", "control")),
                    "other": ("cross_student", ("cross_placebo", "cross_control"))}


def active_arms(spec: ExperimentSpec) -> list[Arm]:
    """The arms a spec runs, in table order."""
    return [arm for arm in ARMS if arm.enabled(spec)]


def active_teachers(spec: ExperimentSpec) -> list[Teacher]:
    """The teachers whose data or model some active arm uses, in table order."""
    arms = active_arms(spec)
    used = {arm.data for arm in arms} | {a.base.removesuffix("_teacher") for a in arms if a.base.endswith("_teacher")}
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
