"""The one training config: the spec's ``train`` and ``trait.teacher_training`` sections, what the trainer takes,
and what ``sublearn serve`` builds for a fine-tuning job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sublearn.config.paper import LORA_MODULES
from sublearn.util.settings import Settings


class ApiHyperparameters(Settings):
    """Fine-tuning-job hyperparameters for the ``openai`` backend ('auto': the server chooses)."""

    n_epochs: int | Literal["auto"] = "auto"
    learning_rate_multiplier: float | Literal["auto"] = "auto"
    batch_size: int | Literal["auto"] = "auto"


class TrainConfig(Settings):
    """How a model is fine-tuned. Defaults are the paper's open-model recipe (Qwen2.5-7B: LoRA r = α = 8 on all
    seven projections, 3 epochs, lr 2e-4 linear with 5 warmup steps, batch 22 × 3, clip 1.0, length 500)."""

    engine: Literal["own", "trl"] = "own"  # trl: TRL's SFTTrainer (accelerate, several GPUs); text objectives only
    method: Literal["lora", "full"] = "lora"
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(8, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_top_layers: int = Field(0, ge=0)  # LoRA on the last k decoder layers only (bottom run once); 0: all
    target_modules: list[str] = Field(default_factory=lambda: list(LORA_MODULES))
    epochs: float = Field(3.0, gt=0, le=10_000)
    lr: float = Field(2e-4, gt=0, le=10)
    schedule: Literal["linear", "constant", "cosine"] = "linear"
    warmup_steps: int = Field(5, ge=0)
    batch_size: int = Field(22, ge=1)
    grad_accum: int = Field(3, ge=1)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)  # 0: no clipping
    max_length: int = Field(500, ge=8)
    completion_only: bool = True  # loss on the completion's tokens only
    bf16: Literal["auto", "yes", "no"] = "auto"  # autocast; auto: on CUDA when supported
    objective: Literal["tokens", "soft_numbers"] = "tokens"  # soft_numbers: match the teacher's digit choices
    soft_temperature: float = Field(1.0, gt=0)  # soft_numbers: temperature of teacher and student digit softmax
    hard_weight: float = Field(0.0, ge=0)  # soft_numbers: weight of the token cross-entropy added
    base_dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # the frozen base's weights; auto: bf16 on CUDA
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(default_factory=list)  # per-step metrics
    checkpoint_every: int = Field(0, ge=0)  # optimiser steps between resumable checkpoints; 0: none
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (less memory, ~30% slower)
    api: ApiHyperparameters | None = None  # the openai backend's job settings (None: all 'auto')

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        """``report_to: tensorboard`` as well as ``[tensorboard, mlflow]``; ``none`` for nothing."""
        if value in (None, "none"):
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("bf16", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        """YAML reads an unquoted ``yes``/``no`` as a boolean: take it as meant."""
        return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.lora_top_layers and self.method != "lora":
            raise ValueError("lora_top_layers: only with method lora")
        if self.base_dtype == "bfloat16" and self.method != "lora":
            raise ValueError("base_dtype bfloat16: only with method lora (a full fine-tune updates the base itself)")
        if self.engine == "trl":
            own_only = [name for name, on in (("objective soft_numbers", self.objective != "tokens"),
                                              ("lora_top_layers", bool(self.lora_top_layers))) if on]
            if own_only:
                raise ValueError(f"engine trl: {', '.join(own_only)} needs the own loop (engine own)")
        if self.objective == "tokens":
            soft_only = [name for name in ("soft_temperature", "hard_weight")
                         if getattr(self, name) != type(self).model_fields[name].default]
            if soft_only:
                raise ValueError(f"{', '.join(soft_only)}: only with objective soft_numbers")
        return self


#: Settings that change how a fine-tune is watched, resumed or fitted in memory, never its result: left out of
#: artifact keys (activations recomputed in the backward pass are the same numbers).
BOOKKEEPING_FIELDS = ("report_to", "checkpoint_every", "gradient_checkpointing")


#: How a fine-tuned teacher is trained unless a spec says otherwise (LoRA r16/α32, one epoch of batch 16), and
#: the base of ``sublearn serve``'s fine-tuning jobs.
TEACHER_TRAINING = TrainConfig(lora_r=16, lora_alpha=32, epochs=1.0, lr=2e-4, batch_size=16, grad_accum=1)
