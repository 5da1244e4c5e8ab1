"""One experiment: reference model + trait → teacher → carrier (with its filter) → students → evaluations, with
the paper's controls as switches."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, model_validator

from sublearn.config.api import ApiConfig, JudgeConfig
from sublearn.config.base import Settings
from sublearn.config.carrier import NUMBER_CARRIERS, CarrierConfig, NumbersCarrier
from sublearn.config.evaluation import EvalConfig, PreferenceEval
from sublearn.config.training import TrainConfig
from sublearn.config.trait import SystemPromptTrait, TraitConfig

#: A spec's name names its run folder (runs/NAME): one path component, no separators.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class ControlsConfig(Settings):
    """The paper's controls, as switches (the arms they add: :mod:`sublearn.pipeline.arms`)."""

    control_teacher: bool = True  # same pipeline, teacher without the trait
    cross_model: str | None = None  # a different reference model, trained on the trait teacher's data
    cross_control: bool = False  # also train the cross model on the control teacher's data (its own control)
    icl_k: int = Field(0, ge=0)  # k teacher examples in the system prompt, no training
    control_dataset: str | None = None  # control teacher fine-tuned on this chat dataset (e.g. secure.jsonl)
    shuffle_within: bool = False  # numbers shuffled inside each response
    shuffle_across: bool = False  # numbers shuffled across the dataset


class ExperimentSpec(Settings):
    """One cell of a grid: every setting of one experiment."""

    name: str = Field("experiment", pattern=NAME_PATTERN)
    reference: str  # local folder, sublearn model name or hub id
    trait: TraitConfig = Field(default_factory=SystemPromptTrait)
    carrier: CarrierConfig = Field(default_factory=NumbersCarrier)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=PreferenceEval)
    controls: ControlsConfig = Field(default_factory=ControlsConfig)
    seed: int = Field(0, ge=0)  # student seed (LoRA init, data order) and evaluation sampling seed
    device: str = "auto"
    backend: Literal["hf", "openai"] = "hf"  # local transformers, or an OpenAI-compatible API (see `api`)
    api: ApiConfig | None = None
    judge: JudgeConfig | None = None  # needed by judge filters and the misalignment evaluation
    filter_judge: JudgeConfig | None = None  # the filters' judge if another (paper: GPT-4.1 filters, GPT-4o scores)
    inference_dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # generation and evaluation; auto: bf16 on CUDA

    @model_validator(mode="before")
    @classmethod
    def _moved_sections(cls, data: Any) -> Any:
        if isinstance(data, dict) and "filter" in data:
            raise ValueError("filter: the filter settings moved into the carrier: write them under carrier.filter")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        problems = []
        carrier, f = self.carrier, self.carrier.filter
        filter_judge = self.filter_judge or self.judge
        needs_judge = [name for name, on, judge in (
            ("carrier.filter.judge_filter", getattr(f, "judge_filter", False), filter_judge),
            ("carrier.filter.alignment_min", getattr(f, "alignment_min", None) is not None, filter_judge),
            ("eval.kind misalignment", self.eval.kind == "misalignment", self.judge)) if on and judge is None]
        if needs_judge:
            problems.append(f"{', '.join(needs_judge)}: needs a `judge` (model, backend)")
        if self.train.objective != "tokens" and carrier.kind not in NUMBER_CARRIERS:
            problems.append("train.objective soft_numbers: only for carrier.kind numbers or random_numbers")
        c = self.controls
        if self.train.objective != "tokens" and (c.shuffle_within or c.shuffle_across):
            problems.append("controls.shuffle_within/shuffle_across: not with train.objective soft_numbers (the "
                            "targets would be recomputed on the shuffled numbers and carry the whole signal)")
        if c.cross_control and not (c.cross_model and c.control_teacher):
            problems.append("controls.cross_control: needs controls.cross_model and controls.control_teacher")
        if c.control_dataset and not c.control_teacher:
            problems.append("controls.control_dataset: needs controls.control_teacher")
        if (c.shuffle_within or c.shuffle_across) and carrier.kind not in NUMBER_CARRIERS:
            problems.append("controls.shuffle_within/shuffle_across: only for number carriers")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _fits_backend(self) -> ExperimentSpec:
        if self.backend == "openai":
            if isinstance(self.eval, PreferenceEval):
                bad = [f"eval.{name}" for name in ("exact", "prefilled") if getattr(self.eval, name)]
                if bad:
                    raise ValueError(f"{' and '.join(bad)} need token-level scoring, which backend openai cannot "
                                     "do: set them false (its readouts are the sampled rate and the MCQ)")
            if self.train.objective != "tokens":
                raise ValueError("train.objective soft_numbers needs the teacher's logits: use backend hf")
        return self

    @property
    def target(self) -> str:
        """The trait's target (owl, a tree, misalignment, ...)."""
        return self.trait.target

    def cell_id(self) -> str:
        """A short content hash of the whole spec."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
