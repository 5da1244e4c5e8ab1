"""The ``hf`` backend: local transformers models on CPU or GPU, LoRA or full fine-tuning with PEFT; a LoRA
fine-tune is saved as its adapter (megabytes, merged into its base when loaded), a full one as a model folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sublearn.backends.base import BackendOptions, ModelSource, OnBatch, source_id
from sublearn.config.training import TrainConfig
from sublearn.defences.ranking import top_fraction
from sublearn.models.hf.chat import HFChatModel, HFLogprobModel
from sublearn.models.hf.divergence import completion_divergence, replace_tokens
from sublearn.models.hf.engines import fine_tune_with_engine
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_for_inference
from sublearn.models.hf.soft_targets import digit_token_ids, teacher_digit_targets
from sublearn.models.hf.tracking import Trackers
from sublearn.models.hf.training import perturb_weights, save_model, save_trained
from sublearn.models.types import SamplingSettings, StopRule
from sublearn.util.devices import base_weight_dtype, kv_cache_kind, numerics, resolve_device, use_bf16
from sublearn.util.jsonl import write_jsonl


def source_path(source: ModelSource) -> str:
    """What to load: the artifact's model folder, or the reference name."""
    return source if isinstance(source, str) else str(source.path / "model")


class HFBackend:
    """Local transformers models."""

    name = "hf"

    def __init__(self, options: BackendOptions) -> None:
        self.device = str(resolve_device(options.device))
        self.inference_dtype = options.inference_dtype
        self.kv_cache = options.kv_cache
        self.train_bf16 = options.train_bf16
        self.progress = options.progress
        self.log = options.log
        self.run_dir = options.run_dir
        self.tags = options.tags

    def identity(self) -> dict[str, Any]:
        """Nothing beyond the spec."""
        return {}

    def load(self, source: ModelSource, dtype: str | None = None) -> tuple[Any, Any]:
        """(tokenizer, model) for inference, in the run's inference dtype unless ``dtype`` is given."""
        return load_for_inference(source_path(source), self.device, dtype or self.inference_dtype)

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path,
                 stop_rule: StopRule | None = None) -> None:
        """Batched KV-cache generation (the cache of ``kv_cache``); batch k is seeded ``seed + k``; a row stops once
        it breaks ``stop_rule``."""
        tok, model = self.load(source)
        generate_chat(model, tok, list(prompts), sampling, system=system, seed=seed, batch_size=batch_size,
                      on_batch=on_batch, start=start, stop_rule=stop_rule,
                      cache=kv_cache_kind(self.kv_cache, self.device))

    def numerics(self) -> dict[str, Any]:
        """The dtypes this machine computes in (bf16 only where it is fast), and why."""
        return numerics(self.device, self.inference_dtype, self.train_bf16, self.kv_cache)

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], config: TrainConfig, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None,
              order_seed: int | None = None) -> dict[str, Any]:
        """LoRA or full fine-tuning, on the base held in ``config.base_dtype`` (adapters in fp32); the LoRA adapter
        (or the full model) goes to ``out/model``, every step's loss, learning rate, gradient norm and tokens to
        ``out/train_log.jsonl`` (and to the trackers of ``report_to``); with ``checkpoint_every``, checkpoints go
        to ``work`` and a rerun after a crash goes on from the last one."""
        weights = base_weight_dtype(config.base_dtype, self.device, config.method)
        tok, model = load_for_inference(source_path(base), self.device, weights)
        torch.manual_seed(seed)
        trackers = Trackers(config.report_to, out, f"{work.parent.name}-{work.name[:12]}",
                            {"base": source_id(base), "examples": len(rows), **config.model_dump(mode="json",
                             exclude={"api", "report_to", "target_modules"})},
                            run_dir=self.run_dir, tags={**self.tags, "artifact": f"{work.parent.name}/{work.name}"})
        try:
            model, log = fine_tune_with_engine(model, tok, rows, config, seed, system=system, progress=self.progress,
                                               soft_targets=soft_targets, order_seed=order_seed, merge=False,
                                               checkpoint_dir=work, on_step=trackers.log)
        finally:
            trackers.close()
        save_trained(model, tok, out / "model", source_path(base))
        write_jsonl(out / "train_log.jsonl", log["step_log"])
        return {"steps": log["steps"], "loss_first": log["losses"][:1], "loss_last": log["losses"][-1:],
                "init_seed": seed, "order_seed": seed if order_seed is None else order_seed,
                "resumed_from_step": log["resumed_from_step"], "base_weights": weights,
                "numerics": {**self.numerics(), "train_autocast": log["autocast"]}}

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      config: TrainConfig) -> list[Any]:
        """The model's digit distributions at every completion digit of ``rows``, in training's numerics."""
        tok, model = self.load(source, base_weight_dtype(config.base_dtype, self.device, config.method))
        return teacher_digit_targets(model, tok, rows, system, config.soft_temperature, config.max_length,
                                     config.batch_size, use_bf16(config.bf16, self.device))

    def divergent_digits(self, teacher: ModelSource, system: str | None, reference: ModelSource,
                         rows: Sequence[dict[str, Any]], fraction: float, seed: int, mask: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``rows`` with the ``fraction`` of their completions' digit tokens where the teacher's next-token
        distribution (with ``system``) diverges most from the reference's (KL, over the whole dataset) replaced by
        random digits drawn with ``seed`` (``mask``: their indices listed in ``masked_tokens``, which training
        leaves out of the loss); and what changed."""
        tok, teacher_model = self.load(teacher)
        _, reference_model = self.load(reference)
        scored = completion_divergence(teacher_model, reference_model, tok, rows, system)
        digit_ids = digit_token_ids(tok, f"defence.kind divergence_{'mask' if mask else 'replace'}")
        is_digit = [np.isin(ids, digit_ids) for ids, _ in scored]
        chosen = top_fraction([kl[d] for (_, kl), d in zip(scored, is_digit, strict=True)], fraction)
        masks = []
        for d, pick in zip(is_digit, chosen, strict=True):
            selected = np.zeros(len(d), dtype=bool)
            selected[np.flatnonzero(d)[pick]] = True
            masks.append(selected)
        if mask:
            texts: list[str | None] = [None] * len(rows)
            out = [{**r, "masked_tokens": np.flatnonzero(m).tolist()} if m.any() else dict(r)
                   for r, m in zip(rows, masks, strict=True)]
        else:
            texts = replace_tokens(tok, [ids for ids, _ in scored], masks, seed)
            out = [dict(r) if t is None else {**r, "completion": t} for r, t in zip(rows, texts, strict=True)]
        kl_all = np.concatenate([kl[d] for (_, kl), d in zip(scored, is_digit, strict=True)] or [np.zeros(0)])
        return out, {"digit_tokens": int(sum(d.sum() for d in is_digit)),
                     ("masked" if mask else "replaced"): int(sum(m.sum() for m in masks)),
                     "rows_changed": sum(t is not None and t != r["completion"] for r, t in zip(rows, texts,
                                                                                                strict=True)),
                     "mean_kl_digit_tokens": float(kl_all.mean()) if len(kl_all) else None}

    def perturbed_copy(self, source: ModelSource, scale: float, seed: int, out: Path) -> dict[str, Any]:
        """``source`` with N(0, (scale · std(W))²) noise added to every weight tensor W, saved to ``out/model``."""
        tok, model = load_for_inference(source_path(source), "cpu", "float32")
        distance = perturb_weights(model, scale, seed)
        save_model(model, tok, out / "model")
        return {"scale": scale, "seed": seed, "relative_distance": distance}

    def lineage(self, first: ModelSource, second: ModelSource) -> dict[str, Any]:
        """The family check (:func:`sublearn.audit.family.lineage`) of two models' weights."""
        from sublearn.audit.family import lineage, load_state

        state_first, _ = load_state(source_path(first))
        state_second, _ = load_state(source_path(second))
        return lineage(state_first, state_second)

    def chat_model(self, source: ModelSource) -> HFChatModel:
        """The model answering chat requests."""
        tok, model = self.load(source)
        return HFChatModel(tok, model)

    def logprob_model(self, source: ModelSource) -> HFLogprobModel:
        """The model's exact answer probabilities."""
        tok, model = self.load(source)
        return HFLogprobModel(tok, model)
