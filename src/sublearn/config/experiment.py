"""One experiment: reference model + trait → teacher → carrier (with its filter) → students → evaluations, with
the paper's controls as switches."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sublearn.config.analysis import BETWEEN_BASES, TARGET_SPECIFIC, AnalysisConfig, PrimaryTest
from sublearn.config.api import ApiConfig, InferenceServer, JudgeConfig
from sublearn.config.carrier import CarrierConfig, NumbersCarrier
from sublearn.config.defence import DefenceConfig
from sublearn.config.evaluation import EvalConfig, PreferenceEval
from sublearn.config.readouts import READOUTS_BY_NAME
from sublearn.config.training import TrainConfig
from sublearn.config.trait import DatasetTrait, FineTunedTrait, SystemPromptTrait, TraitConfig
from sublearn.defences.base import SpecUse
from sublearn.defences.kinds.none import NoDefenceSettings
from sublearn.defences.registry import defence_for
from sublearn.util.settings import Seed, Settings

#: A spec's name names its run folder (runs/NAME): one path component, no separators.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


#: ``controls.cross_model: perturbed:SCALE``: the reference with Gaussian noise of SCALE × each tensor's std added
#: to every weight, a different initialisation of the same model (the LM analogue of MNIST's init noise).
PERTURBED = "perturbed:"
#: The largest perturbation scale (noise of 10 × each tensor's std leaves nothing of the reference).
MAX_PERTURBATION = 10.0


class ControlsConfig(Settings):
    """The paper's controls and ours, as switches (the arms they add: :mod:`sublearn.design.arms`)."""

    placebo: bool = False  # a placebo teacher, trained like the trait teacher on trait-free answers, and its students
    control_teacher: bool = True  # the untouched reference as a teacher (the paper's control)
    cross_model: str | None = None  # another base for students: a model name, or perturbed:SCALE of the reference
    # the cross model trained on the control teacher's data; None: whenever there are both (every design with
    # another base has its cross placebo and its cross control, so the other base has the same baselines)
    cross_control: bool | None = None
    icl_k: int = Field(0, ge=0)  # k teacher examples in the system prompt, no training
    shuffle_within: bool = False  # numbers shuffled inside each response
    shuffle_across: bool = False  # numbers shuffled across the dataset

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "control_dataset" in data:
            raise ValueError("control_dataset: a teacher fine-tuned on trait-free data is the placebo: write "
                             "trait.placebo_dataset and controls.placebo: true")
        return data

    @field_validator("cross_model")
    @classmethod
    def _cross_model(cls, value: str | None) -> str | None:
        scale = perturbed_scale(value)
        if value and value.startswith(PERTURBED) and (
                scale is None or not math.isfinite(scale) or not 0 < scale <= MAX_PERTURBATION):
            raise ValueError(f"{value!r}: write perturbed:SCALE with a number in (0, {MAX_PERTURBATION}]")
        return value


def perturbed_scale(cross_model: str | None) -> float | None:
    """The noise scale of a ``perturbed:SCALE`` cross model, or ``None`` for a named model."""
    if not cross_model or not cross_model.startswith(PERTURBED):
        return None
    try:
        return float(cross_model[len(PERTURBED):])
    except ValueError:
        return None


class ExperimentSpec(Settings):
    """One cell of a grid: every setting of one experiment."""

    name: str = "experiment"  # the run folder's name under runs/
    reference: str  # local folder, sublearn model name or hub id
    trait: TraitConfig = Field(default_factory=SystemPromptTrait)
    carrier: CarrierConfig = Field(default_factory=NumbersCarrier)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=PreferenceEval)
    controls: ControlsConfig = Field(default_factory=ControlsConfig)
    defence: DefenceConfig = Field(default_factory=NoDefenceSettings)  # applied to every student's data alike
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)  # the declared primary test
    seed: Seed = 0  # the replicate: teacher, data, student and evaluation seeds derive from it
    device: str = "auto"
    backend: Literal["hf", "openai"] = "hf"  # local transformers, or an OpenAI-compatible API (see `api`)
    api: ApiConfig | None = None
    inference_server: InferenceServer | None = None  # generation/evaluation through a server, training local
    judge: JudgeConfig | None = None  # needed by judge filters and the misalignment evaluation
    filter_judge: JudgeConfig | None = None  # the filters' judge if another (paper: GPT-4.1 filters, GPT-4o scores)
    inference_dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # generation and evaluation; auto: bf16 on CUDA
    kv_cache: Literal["auto", "static", "dynamic"] = "auto"  # local teacher generation; auto: dynamic

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"{name!r} must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or "
                             "digit (it names the run folder, runs/NAME)")
        return name

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
        if self.train.objective != "tokens" and not carrier.writes_numbers:
            problems.append("train.objective soft_numbers: only for carrier.kind numbers or random_numbers")
        c = self.controls
        if c.placebo and isinstance(self.trait, SystemPromptTrait):
            problems.append("controls.placebo: a placebo teacher is fine-tuned like the trait teacher; the trait "
                            "here is a system prompt (use trait.kind fine_tuned or dataset, or the control teacher)")
        if c.placebo and isinstance(self.trait, DatasetTrait) and not self.trait.placebo_dataset:
            problems.append("controls.placebo: needs trait.placebo_dataset (trait-free data, e.g. secure.jsonl)")
        if isinstance(self.trait, DatasetTrait) and self.trait.placebo_dataset and not c.placebo:
            problems.append("trait.placebo_dataset: set controls.placebo: true to train its teacher")
        if isinstance(self.trait, FineTunedTrait) and self.trait.questions == "all" \
                and isinstance(self.eval, PreferenceEval) and self.eval.questions == "held_out":
            problems.append("eval.questions held_out: the teacher is fine-tuned on all the animal questions "
                            "(trait.questions: all), so none is held out; train it on half (trait.questions: half) "
                            "or score all (eval.questions: all)")
        if self.analysis.primary is not None:
            problems += self._primary_problems(self.analysis.primary)
        if isinstance(self.trait, FineTunedTrait) and self.trait.questions == "half" \
                and isinstance(self.eval, PreferenceEval) and self.eval.questions != "held_out":
            problems.append("eval.questions: the teacher is fine-tuned on half of the animal questions "
                            "(trait.questions: half); score the other half (eval.questions: held_out), or train it "
                            "on all of them (trait.questions: all)")
        if self.train.objective != "tokens" and (c.shuffle_within or c.shuffle_across):
            problems.append("controls.shuffle_within/shuffle_across: not with train.objective soft_numbers (the "
                            "targets would be recomputed on the shuffled numbers and carry the whole signal)")
        if c.cross_control and not (c.cross_model and c.control_teacher):
            problems.append("controls.cross_control: needs controls.cross_model and controls.control_teacher")
        if c.cross_control is False and c.cross_model and c.control_teacher:
            problems.append("controls.cross_control: false would leave the other base without the control its own "
                            "base has (leave it out: the cross control follows the control teacher)")
        if (c.shuffle_within or c.shuffle_across) and not carrier.writes_numbers:
            problems.append("controls.shuffle_within/shuffle_across: only for number carriers")
        problems += defence_for(self.defence).problems(self.defence, SpecUse(
            self.train.objective, carrier.writes_numbers, self.backend, self.train.completion_only,
            self.reference))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _primary_problems(self, primary: PrimaryTest) -> list[str]:
        """Why the declared primary test cannot be computed from the arms and readouts this spec makes."""
        readout, c, problems = READOUTS_BY_NAME[primary.readout], self.controls, []
        where = f"analysis.primary ({primary.describe()})"
        if readout.eval_kind != self.eval.kind:
            problems.append(f"{where}: {primary.readout} is a {readout.eval_kind} readout; eval.kind is "
                            f"{self.eval.kind}")
        elif readout.needs and not getattr(self.eval, readout.needs):
            problems.append(f"{where}: {primary.readout} needs eval.{readout.needs}")
        has_baseline = c.placebo or c.control_teacher
        if primary.contrast in BETWEEN_BASES or primary.base == "other":
            if not c.cross_model:
                problems.append(f"{where}: needs another base (controls.cross_model)")
            elif not (c.placebo or (c.control_teacher and c.cross_control is not False)):
                problems.append(f"{where}: the other base's students need a baseline (controls.placebo, or "
                                "controls.cross_control)")
        if not has_baseline:
            problems.append(f"{where}: the students need a baseline (controls.placebo or controls.control_teacher)")
        if primary.other_base is not None and primary.base == "same":
            problems.append(f"{where}: other_base names the other base of a between-base or other-base contrast")
        if primary.contrast in TARGET_SPECIFIC and self.eval.kind != "preference":
            problems.append(f"{where}: a target-specific contrast needs a preference evaluation")
        return problems

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
        if self.inference_server is not None:
            self._fits_inference_server(self.inference_server)
        return self

    def _fits_inference_server(self, server: InferenceServer) -> None:
        """A server takes generation and evaluations only from a local backend, and serves fine-tunes as LoRA
        adapters (a full fine-tune or a perturbed copy is a whole model, which it cannot load at run time)."""
        if self.backend != "hf":
            raise ValueError("inference_server: only with backend hf (backend openai already sends everything to "
                             "its server)")
        full = []
        if "generate" in server.stages and isinstance(self.trait, FineTunedTrait | DatasetTrait) \
                and self.trait.teacher_training.method == "full":
            full.append("trait.teacher_training.method full (the teacher writes the data)")
        if "evaluate" in server.stages:
            if self.train.method == "full":
                full.append("train.method full (the students are evaluated)")
            if perturbed_scale(self.controls.cross_model) is not None:
                full.append(f"controls.cross_model {self.controls.cross_model} (a perturbed copy is evaluated)")
        if full:
            raise ValueError(f"inference_server: {'; '.join(full)}: a server loads fine-tunes as LoRA adapters, "
                             "not whole models; use LoRA, or leave that stage local (inference_server.stages)")

    @property
    def target(self) -> str:
        """The trait's target (owl, a tree, misalignment, ...)."""
        return self.trait.target

    def cell_id(self) -> str:
        """A short content hash of the whole spec."""
        text = json.dumps(self.model_dump(mode="json", exclude={"analysis"}), sort_keys=True)  # tests, not cells
        return hashlib.sha256(text.encode()).hexdigest()[:12]
