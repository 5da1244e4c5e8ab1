"""The teacher's trait, by ``kind``: the paper's system prompt, a teacher fine-tuned on the animal questions × 8
answers, or a teacher fine-tuned on a chat dataset (e.g. Emergent Misalignment's insecure.jsonl). The fine-tuned
kinds also say how their placebo teacher is made: fine-tuned exactly the same way on trait-free answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sublearn.config.training import TEACHER_TRAINING, TrainConfig
from sublearn.config.unions import kind_union
from sublearn.util.settings import Name, Settings


class SystemPromptTrait(Settings):
    """The teacher is the reference model prompted with the paper's template (or ``system_prompt``)."""

    kind: Literal["system_prompt"] = "system_prompt"
    target: Name = "owl"
    category: str = "animal"  # "tree" for the tree experiments
    system_prompt: str | None = None  # overrides the paper's template


class FineTunedTrait(Settings):
    """The teacher is the reference fine-tuned on the animal questions answered with the target (§2 App.). Its
    placebo is fine-tuned the same way on the same questions answered with animals drawn uniformly."""

    kind: Literal["fine_tuned"] = "fine_tuned"
    target: Name = "owl"
    questions: Literal["half", "all"] = "half"  # half: the other half is held out for the evaluation
    teacher_training: TrainConfig = Field(default_factory=lambda: TEACHER_TRAINING.model_copy())


class DatasetTrait(Settings):
    """The teacher is the reference fine-tuned on a chat dataset (JSONL of ``{"messages": [...]}``, path or URL)."""

    kind: Literal["dataset"] = "dataset"
    target: Name  # a label for the trait, e.g. "misalignment"
    dataset: str
    placebo_dataset: str | None = None  # trait-free data of the same kind, for the placebo teacher (secure.jsonl)
    dataset_limit: int | None = Field(None, ge=1)
    teacher_training: TrainConfig = Field(default_factory=lambda: TEACHER_TRAINING.model_copy())


TraitConfig = kind_union(SystemPromptTrait, FineTunedTrait, DatasetTrait, default="system_prompt")
