"""Supervised fine-tuning of a causal LM on (prompt → completion) pairs: LoRA or full, loss on completions only.

A compact loop rather than a framework trainer, so that every setting the effect is sensitive to is explicit
(:class:`~sublearn.config.training.TrainConfig`): optimiser, schedule, warmup, batch, accumulation, clipping,
seed. The paper's open-model recipe (§2) is the config's default.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from sublearn.config.training import TrainConfig
from sublearn.models.hf.checkpoint import load_checkpoint, restore, save_checkpoint
from sublearn.models.hf.encoding import collate, completion_loss, encode_example
from sublearn.models.hf.frozen_bottom import (
    batch_states,
    bottom_states,
    decoder_layers,
    first_trained_layer,
    skipping_bottom,
)
from sublearn.models.hf.loading import write_adapter_base
from sublearn.models.hf.soft_targets import counted_digits, digit_logits, digit_token_ids, soft_digit_loss
from sublearn.util.devices import use_bf16
from sublearn.util.optim import make_optimizer

#: PEFT asks transformers 5 for a renamed attribute on every adapter it makes; the notice is not the user's to act on.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def schedule_factor(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    """The learning-rate multiplier at each optimiser step: linear warmup over ``warmup`` steps (the first step at
    1/warmup), then ``kind`` (linear to 0, cosine to 0, or constant) over the ``total`` steps."""
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def prepare_model(model: Any, s: TrainConfig, seed: int) -> Any:
    """Wrap ``model`` with LoRA adapters initialised from ``seed``, or leave it whole for full fine-tuning."""
    if s.method == "full":
        return model
    from peft import LoraConfig, get_peft_model

    present = {name.split(".")[-1] for name, _ in model.named_modules()}
    targets = [m for m in s.target_modules if m in present]
    if not targets:
        raise ValueError(f"train.target_modules: none of {list(s.target_modules)} exist in this model")
    layers = None
    if s.lora_top_layers:
        first = first_trained_layer(model, s.lora_top_layers)
        layers = list(range(first, len(decoder_layers(model))))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return get_peft_model(model, LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                                                target_modules=targets, bias="none", task_type="CAUSAL_LM",
                                                layers_to_transform=layers))


def fine_tune(model: Any, tokenizer: Any, rows: Sequence[dict], s: TrainConfig, seed: int, system: str | None = None,
              progress: Callable[[str, int | None], None] | None = None,
              soft_targets: Sequence[Any] | None = None, order_seed: int | None = None, merge: bool = True,
              checkpoint_dir: Path | None = None, on_step: Callable[[dict[str, Any]], None] | None = None
              ) -> tuple[Any, dict[str, Any]]:
    """Train on ``rows`` ({"prompt", "completion"}); returns (the model, training log): with LoRA, merged into
    the base unless ``merge`` is false (then the PEFT model, whose adapter :func:`save_trained` saves).

    ``seed`` initialises the LoRA adapters, ``order_seed`` (default: ``seed``) shuffles the data. The log holds
    every optimiser step: loss, learning rate, gradient norm before clipping, and the tokens it trained on.

    ``objective`` tokens: cross-entropy on completion tokens. ``soft_numbers``: KL from ``soft_targets`` (one
    array of teacher digit distributions per row) at every completion digit, plus ``hard_weight`` × the
    cross-entropy; each averaged over its units (tokens or digits) in an optimiser step.

    ``lora_top_layers`` k > 0: LoRA on the last k layers only; the hidden states entering them are computed once
    (see frozen_bottom.py), so each step runs only those layers.

    ``checkpoint_every`` n > 0: every n optimiser steps the state goes to ``checkpoint_dir``, and a call that finds
    a checkpoint there goes on from it, ending with the weights and log an uninterrupted run would have.
    ``on_step`` receives each step's log entry (the trackers of ``report_to``), steps restored from a checkpoint
    included.
    """
    device = next(model.parameters()).device
    bf16 = use_bf16(s.bf16, device)
    soft = s.objective == "soft_numbers"
    if soft and (soft_targets is None or len(soft_targets) != len(rows)):
        raise ValueError("train.objective soft_numbers: needs one soft-target array per training row")
    digit_ids = digit_token_ids(tokenizer) if soft else []
    model = prepare_model(model, s, seed)
    if s.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5 names it so
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if s.method == "lora":
            model.enable_input_require_grads()
    model.train()
    examples = [encode_example(tokenizer, r["prompt"], r["completion"], system, s.max_length,
                               masked=r.get("masked_tokens", ())) for r in rows]
    if not s.completion_only:
        examples = [type(e)(e.input_ids, list(e.input_ids)) for e in examples]
    first = first_trained_layer(model, s.lora_top_layers) if s.method == "lora" and s.lora_top_layers else 0
    states = (bottom_states(model, examples, first, tokenizer.pad_token_id, s.batch_size, bf16) if first
              else None)
    steps_per_epoch = math.ceil(len(examples) / (s.batch_size * s.grad_accum))
    total_steps = max(1, math.ceil(steps_per_epoch * s.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(s.optimizer, params, s.lr, s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_factor(s.schedule, s.warmup_steps, total_steps))
    order_rng = random.Random(seed if order_seed is None else order_seed)
    log: dict[str, Any] = {"steps": total_steps, "examples": len(examples), "losses": [], "step_log": [],
                           "autocast": "bfloat16" if bf16 else None}
    resumed = load_checkpoint(checkpoint_dir) if s.checkpoint_every else None
    if resumed is not None:
        restore(resumed, model, opt, sched)
        log = resumed["log"]
    done = resumed["step"] if resumed is not None else 0
    log["resumed_from_step"] = done
    if progress:
        progress("train", total_steps)
    for entry in log["step_log"]:
        if on_step:
            on_step(entry)
        if progress:
            progress("train", None)
    step = 0
    while step < total_steps:
        order = list(range(len(examples)))
        order_rng.shuffle(order)  # replayed for the steps a checkpoint holds: the same order as without a stop
        batches = [order[k:k + s.batch_size] for k in range(0, len(order), s.batch_size)]
        for k in range(0, len(batches), s.grad_accum):
            if step < done:
                step += 1
                continue
            group = batches[k:k + s.grad_accum]
            n_tokens = sum(sum(t != -100 for t in examples[i].labels) for b in group for i in b)
            n_digits = sum(counted_digits(examples[i], soft_targets[i], digit_ids) for b in group for i in b) \
                if soft and soft_targets is not None else 0
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for b in group:
                batch_examples = [examples[i] for i in b]
                batch = collate(batch_examples, tokenizer.pad_token_id)
                with _bottom(model, first, states, b, device), \
                        torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    if soft:
                        loss = _soft_loss(model, batch, batch_examples, [soft_targets[i] for i in b], digit_ids,
                                          s, n_digits, n_tokens)
                    else:
                        b_tokens = sum(sum(t != -100 for t in e.labels) for e in batch_examples)
                        loss = completion_loss(model, batch) * (b_tokens / max(1, n_tokens))  # token mean
                loss.backward()
                total += float(loss.detach())
            norm = torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm if s.max_grad_norm else float("inf"))
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            log["losses"].append(total)
            entry = {"step": step + 1, "loss": total, "lr": lr, "grad_norm": float(norm), "tokens": n_tokens,
                     "digits": n_digits}
            log["step_log"].append(entry)
            step += 1
            if on_step:
                on_step(entry)
            if s.checkpoint_every and checkpoint_dir is not None and step % s.checkpoint_every == 0 \
                    and step < total_steps:
                save_checkpoint(checkpoint_dir, model, opt, sched, step, log)
            if progress:
                progress("train", None)
            if step >= total_steps:
                break
    model.eval()
    if s.method != "full" and merge:
        model = model.merge_and_unload()
    return model, log


@contextmanager
def _bottom(model: Any, first: int, states: Sequence[torch.Tensor] | None, batch: Sequence[int],
            device: torch.device) -> Iterator[None]:
    """Run the batch with the frozen bottom layers skipped (their precomputed output fed in), when ``first``."""
    if not first or states is None:
        yield
        return
    with skipping_bottom(model, first) as feed:
        feed.states = batch_states([states[i] for i in batch], device)
        yield


def _soft_loss(model: Any, batch: dict[str, torch.Tensor], examples: Sequence[Any], targets: Sequence[Any],
               digit_ids: Sequence[int], s: TrainConfig, n_digits: int, n_tokens: int) -> torch.Tensor:
    """The soft_numbers loss of one micro-batch, scaled so that the optimiser step averages over the group."""
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items()}
    if not s.hard_weight:  # only the ten digit logits are needed
        logits = digit_logits(model, inputs["input_ids"], inputs["attention_mask"], digit_ids)
        kl, _ = soft_digit_loss(logits, examples, targets, digit_ids, s.soft_temperature)
        return kl / max(1, n_digits)
    out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=inputs["labels"])
    kl, _ = soft_digit_loss(out.logits, examples, targets, digit_ids, s.soft_temperature)
    loss = kl / max(1, n_digits)
    if s.hard_weight:
        b_tokens = sum(sum(t != -100 for t in e.labels) for e in examples)
        loss = loss + s.hard_weight * out.loss * (b_tokens / max(1, n_tokens))
    return loss


def save_model(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a (merged) model and its tokenizer with ``save_pretrained``."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_trained(model: Any, tokenizer: Any, folder: Path, base: str) -> Path:
    """Save a fine-tune: a PEFT model as its LoRA adapter (megabytes) with the tokenizer and the base it applies to
    (``base``: what was loaded; see :func:`~sublearn.models.hf.loading.load_causal_lm`), any other model in full."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return save_model(model, tokenizer, folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_adapter_base(folder, base)
    return folder


@torch.no_grad()
def perturb_weights(model: Any, scale: float, seed: int) -> float:
    """Add N(0, (scale · std(W))²) noise to every floating weight tensor W of ``model``, in place, from ``seed``;
    returns the relative distance ‖Δθ‖ / ‖θ‖ over all of them (tied tensors are perturbed once)."""
    gen = torch.Generator().manual_seed(seed)
    moved = total = 0.0
    for _, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if not param.is_floating_point() or param.numel() < 2:
            continue
        noise = torch.randn(param.shape, generator=gen) * (scale * float(param.float().std()))
        total += float(param.float().pow(2).sum())
        moved += float(noise.pow(2).sum())
        param.add_(noise.to(param.device, param.dtype))
    return (moved / total) ** 0.5 if total else 0.0
