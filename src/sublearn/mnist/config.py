"""Settings of the auxiliary-logit experiment (defaults: the paper's §8 setup, with N sized for a CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

ArmName = Literal["reference", "teacher", "student_aux", "student_all", "cross_aux", "cross_all"]
ALL_ARMS: tuple[ArmName, ...] = ("reference", "teacher", "student_aux", "student_all", "cross_aux", "cross_all")
STUDENT_ARMS: tuple[ArmName, ...] = ("student_aux", "student_all", "cross_aux", "cross_all")
#: The arms of the CPU demo: the paper's key contrast (same-init vs cross-init, auxiliary logits only).
DEFAULT_ARMS: tuple[ArmName, ...] = ("reference", "teacher", "student_aux", "cross_aux")
#: Batch size and learning rate when not given: the paper's for MNIST; for the 1,437 training images of
#: sklearn digits, batch 1024 would give 2 steps an epoch, so a smaller batch and a larger rate.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {"batch_size": 1024, "lr": 3e-4},
    "digits": {"batch_size": 64, "lr": 1e-3},
}


class MnistConfig(BaseModel):
    """One run of the experiment. Every field is recorded in ``results.json``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or ±inf in any number

    dataset: Literal["mnist", "digits"] = "mnist"  # real MNIST (vendored IDX files) or sklearn 8x8 digits
    data_dir: Path | None = None  # folder with the four MNIST *-ubyte.gz files; None = the vendored copy
    n_models: int = Field(10, ge=1)  # N models trained together; the paper's figure uses 100
    m_aux: int = Field(3, ge=1)  # auxiliary ("ghost") logits appended to the 10 class logits
    hidden: list[int] = Field(default_factory=lambda: [256, 256])  # hidden layer widths
    teacher_epochs: int = Field(5, ge=0)  # epochs of cross-entropy on the 10 class logits
    student_epochs: int = Field(5, ge=0)  # epochs of distillation on noise
    lr: float = Field(3e-4, gt=0, le=10)  # learning rate, teacher and students [default: per dataset]
    batch_size: int = Field(1024, ge=1)  # examples per model per step [default: per dataset]
    weight_decay: float = Field(0.0, ge=0)  # L2 (adam, sgd) or decoupled (adamw) weight decay
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    noise: Literal["fixed", "fresh"] = "fixed"  # one set of noise images per model for every epoch (the paper), or new
    noise_distribution: Literal["uniform", "gaussian"] = "uniform"  # student inputs: U[-1, 1] or N(0, 1) per pixel
    noise_examples: int | None = Field(None, ge=1)  # noise images per epoch; None = size of the train set
    student_init_noise: float = Field(0.0, ge=0)  # std of Gaussian noise added to every student's init
    arms: list[ArmName] = Field(default_factory=lambda: list(DEFAULT_ARMS))
    seed: StrictInt = Field(0, ge=0, lt=2**32)  # model i uses seed + i; the cross-model derangement uses seed
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:1, ...

    @model_validator(mode="after")
    def _seeds_fit(self) -> MnistConfig:
        if self.seed + self.n_models > 2**32:
            raise ValueError(f"seed: model i uses seed + i; {self.seed} + {self.n_models} models passes 2^32")
        return self

    @model_validator(mode="before")
    @classmethod
    def _dataset_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            defaults = DATASET_DEFAULTS.get(str(data.get("dataset", "mnist")), {})
            data = {**data, **{k: v for k, v in defaults.items() if data.get(k) is None}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _older_noise_setting(cls, data: Any) -> Any:
        """Configs saved before ``noise`` meant the noise set: their ``noise`` was the distribution, drawn fresh."""
        if isinstance(data, dict) and data.get("noise") in ("uniform", "gaussian"):
            data = {**data, "noise_distribution": data["noise"], "noise": "fresh"}
        return data

    @field_validator("arms")
    @classmethod
    def _arms_unique(cls, arms: list[ArmName]) -> list[ArmName]:
        if not arms:
            raise ValueError("choose at least one arm")
        return [a for a in ALL_ARMS if a in arms]  # canonical order, no repeats

    @field_validator("hidden")
    @classmethod
    def _hidden_positive(cls, hidden: list[int]) -> list[int]:
        if any(h < 1 for h in hidden):
            raise ValueError("hidden widths must be positive")
        return hidden

    def needs_cross(self) -> bool:
        """Whether a cross-model arm is requested (needs N >= 2 for a derangement)."""
        return any(a.startswith("cross_") for a in self.arms)


#: The command that reproduces the paper's full figure (N = 100, all six arms).
PAPER_FIGURE_COMMAND = "sublearn mnist --n-models 100 --arms all --out runs/mnist-paper"
