"""The pipeline's HF transformers backend: local models on CPU or GPU, LoRA or full fine-tuning with PEFT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sublearn.backends.base import ModelSource, OnBatch
from sublearn.backends.chat import HFChatModel
from sublearn.backends.generation import SamplingSettings, generate_chat
from sublearn.backends.hf import load_causal_lm
from sublearn.backends.soft_targets import teacher_digit_targets
from sublearn.backends.training import TrainSettings, fine_tune, save_model
from sublearn.devices import resolve_device
from sublearn.evals.judges import ChatMany, chat_many_of
from sublearn.evals.preference import PreferenceSettings, evaluate_preference
from sublearn.progress import ProgressFn
from sublearn.spec import TrainSpec
from sublearn.store import Artifact


def source_path(source: ModelSource) -> str:
    """What to load: the artifact's model folder, or the reference name."""
    return str(source.path / "model") if isinstance(source, Artifact) else source


def load(source: ModelSource, device: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(tokenizer, model) in eval mode. ``dtype``: float32, bfloat16, or auto (bf16 on CUDA, else fp32)."""
    if dtype == "auto":
        use_bf16 = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if use_bf16 else "float32"
    tok, model = load_causal_lm(source_path(source), device=device, dtype=getattr(torch, dtype))
    model.eval()
    return tok, model


def train_settings(spec: TrainSpec, seed: int) -> TrainSettings:
    """Backend settings from a spec section."""
    data = spec.model_dump(exclude={"api"})
    data["target_modules"] = tuple(data["target_modules"])
    return TrainSettings(**data, seed=seed)


class HFBackend:
    """Local transformers models; fine-tunes are saved as merged model folders in their artifacts."""

    name = "hf"

    def __init__(self, device: str, inference_dtype: str, progress: ProgressFn,
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.device = str(resolve_device(device))
        self.inference_dtype = inference_dtype
        self.progress = progress
        self.log = log

    def identity(self) -> dict[str, Any]:
        """Nothing beyond the spec (kept empty so artifact keys stay as they were)."""
        return {}

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path) -> None:
        """Batched KV-cache generation; batch k is seeded ``seed + k``."""
        tok, model = load(source, self.device, self.inference_dtype)
        generate_chat(model, tok, list(prompts), sampling, system=system, seed=seed, batch_size=batch_size,
                      on_batch=on_batch, start=start)

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], spec: TrainSpec, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None
              ) -> dict[str, Any]:
        """LoRA (merged afterwards) or full fine-tuning; the model is saved to ``out/model``."""
        tok, model = load(base, self.device)
        torch.manual_seed(seed)
        model, log = fine_tune(model, tok, rows, train_settings(spec, seed), system=system, progress=self.progress,
                               soft_targets=soft_targets)
        save_model(model, tok, out / "model")
        return {"steps": log["steps"], "loss_first": log["losses"][:1], "loss_last": log["losses"][-1:]}

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      temperature: float, max_length: int) -> list[Any]:
        """The model's digit distributions at every completion digit of ``rows`` (soft targets)."""
        tok, model = load(source, self.device, "float32")
        return teacher_digit_targets(model, tok, rows, system, temperature, max_length)

    def chat(self, source: ModelSource) -> ChatMany:
        """The model as a ``chat_many`` function (one request at a time)."""
        tok, model = load(source, self.device, self.inference_dtype)
        return chat_many_of(HFChatModel(tok, model))

    def evaluate(self, source: ModelSource, settings: PreferenceSettings, system: str | None) -> dict[str, Any]:
        """Every readout, exact ones included."""
        tok, model = load(source, self.device, self.inference_dtype)
        return evaluate_preference(model, tok, settings, system=system)
