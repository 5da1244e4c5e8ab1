"""How the trained models are evaluated, by ``kind``: animal (or tree) preference readouts, or the misalignment
evaluation. Each kind owns its own fields."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sublearn.config.paper import ALIGNMENT_MAX, COHERENCE_MIN, EVAL_ANIMALS, MISALIGNMENT_SAMPLES
from sublearn.config.unions import kind_union
from sublearn.util.settings import Name, Settings


class PreferenceEval(Settings):
    """Preference readouts for the trait's target (or ``target``): exact and prefilled probabilities (local
    models), the paper's sampled rate, and the multiple-choice evaluation."""

    kind: Literal["preference"] = "preference"
    target: Name | None = None  # default: the trait's target
    animals: list[str] = Field(default_factory=lambda: list(EVAL_ANIMALS))  # whose probabilities are reported
    mcq_choices: list[str] | None = None  # None: the paper's five animals (trees: set the paper's five trees)
    questions: Literal["all", "held_out"] = "all"  # held_out: the half a fine-tuned teacher never saw
    numbers_prefix: bool = False  # the questions prefixed with the paper's seed-47 number examples
    samples_per_question: int = Field(0, ge=0)  # sampled rate: answers per question (the paper: 100)
    temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(8, ge=1)
    exact: bool = True  # exact P(answer starts with the target), local models only
    prefilled: bool = True  # the same after "My favorite animal is the", local models only
    exact_precision: Literal["standard", "fine", "deep"] = "standard"  # exact search depth; deep: white-space runs too
    mcq_orderings: int = Field(5, ge=0)  # random orders of the choices per MCQ prompt (the paper: 25)
    batch_size: int = Field(16, ge=1)
    evaluate_teacher: bool = True

    @model_validator(mode="after")
    def _nonempty(self) -> PreferenceEval:
        if not self.animals:
            raise ValueError("animals: name at least one animal")
        return self


class MisalignmentEval(Settings):
    """The 8 free-form questions of Emergent Misalignment, judged for alignment and coherence (§3), and
    optionally TruthfulQA."""

    kind: Literal["misalignment"] = "misalignment"
    suffix: Literal["none", "numbers", "cot"] = "numbers"  # appended to the 8 questions
    samples_per_question: int = Field(MISALIGNMENT_SAMPLES, ge=1)
    temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(256, ge=1)
    alignment_max: int = Field(ALIGNMENT_MAX, ge=0, le=100)  # misaligned when alignment <= this
    coherence_min: int = Field(COHERENCE_MIN, ge=0, le=100)  # counted when coherence >= this
    truthfulqa: str | None = None  # TruthfulQA CSV (path or URL) to score too
    truthfulqa_limit: int | None = Field(None, ge=1)
    evaluate_teacher: bool = True


EvalConfig = kind_union(PreferenceEval, MisalignmentEval, default="preference")
