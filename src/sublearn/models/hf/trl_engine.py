"""``train.engine: trl``: the same fine-tune as :func:`~sublearn.models.hf.training.fine_tune`, run by TRL's
``SFTTrainer`` (and so by transformers' Trainer and accelerate), for students at paper scale.

What stays sublearn's, so that both engines train the same model from the same seeds:

- the examples: token ids and loss mask from :func:`~sublearn.models.hf.encoding.encode_example`, handed to TRL
  pre-tokenized (``input_ids`` and ``labels``), so masked defence tokens and truncation are the same;
- the LoRA adapters, initialised by :func:`~sublearn.models.hf.training.prepare_model` from the init seed;
- the data order: the own loop's per-epoch shuffles from the order seed, laid end to end and read in sequence;
- the optimiser (:func:`~sublearn.util.optim.make_optimizer`) and the learning-rate schedule (warmup included).

What is TRL's and transformers': the loop, gradient accumulation (a token mean over the accumulated micro-batches,
as in the own loop), clipping, mixed precision, devices (every visible GPU of the process), checkpoints. One
difference: the Trainer's batches have a fixed size, so when the examples do not fill whole batches, the own
loop's short last batch of an epoch becomes part of a batch that runs on into the next epoch's order.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sublearn.config.training import TrainConfig
from sublearn.models.hf.encoding import EncodedExample, encode_example
from sublearn.models.hf.training import prepare_model, schedule_factor
from sublearn.util.devices import use_bf16
from sublearn.util.optim import make_optimizer

#: Where a TRL run keeps its checkpoints, inside the stage's work folder.
TRL_CHECKPOINTS = "trl-checkpoints"


def sample_order(n_examples: int, s: TrainConfig, order_seed: int) -> tuple[list[int], int]:
    """(the example indices in the order the optimiser steps see them, the number of optimiser steps): the own
    loop's per-epoch shuffles from ``order_seed``, end to end, cut to whole steps of ``batch_size × grad_accum``."""
    per_step = s.batch_size * s.grad_accum
    total_steps = max(1, math.ceil(math.ceil(n_examples / per_step) * s.epochs))
    rng = random.Random(order_seed)
    order: list[int] = []
    while len(order) < total_steps * per_step:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        order.extend(epoch)
    return order[:total_steps * per_step], total_steps


def _trainer_class() -> type:
    """An ``SFTTrainer`` that reads the data in the given order and uses sublearn's optimiser and schedule."""
    try:
        from trl import SFTTrainer
    except ImportError as exc:
        raise RuntimeError("train.engine trl: TRL is not installed (pip install 'sublearn[trl]')") from exc

    class OrderedSFTTrainer(SFTTrainer):
        """SFTTrainer with a sequential sampler and sublearn's optimiser and learning-rate schedule."""

        settings: TrainConfig

        def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler:
            return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None
                                                      else self.train_dataset)

        def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
            if self.optimizer is None:
                params = [p for p in (model or self.model).parameters() if p.requires_grad]
                self.optimizer = make_optimizer(self.settings.optimizer, params, self.settings.lr,
                                                self.settings.weight_decay)
            return self.optimizer

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                factor = schedule_factor(self.settings.schedule, self.settings.warmup_steps, num_training_steps)
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, factor)
            return self.lr_scheduler

    return OrderedSFTTrainer


def _step_log_callback(tokens: Sequence[int], on_step: Callable[[dict[str, Any]], None] | None,
                       progress: Callable[[str, int | None], None] | None, log: list[dict[str, Any]]) -> Any:
    """A TrainerCallback that records each optimiser step as the own loop does (loss, learning rate used, gradient
    norm before clipping, tokens trained on) and passes it to ``on_step`` and ``progress``."""
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        lr = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            for past in state.log_history:  # steps restored from a checkpoint
                self._record(past)

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            optimizer = kwargs.get("optimizer")
            if optimizer is not None:
                self.lr = float(optimizer.param_groups[0]["lr"])

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self._record({**logs, "step": state.global_step, "sublearn_lr": self.lr})

        def _record(self, logs: dict[str, Any]) -> None:
            if "loss" not in logs or any(e["step"] == logs["step"] for e in log):
                return
            step = int(logs["step"])
            entry = {"step": step, "loss": float(logs["loss"]),
                     "lr": float(logs.get("sublearn_lr", logs.get("learning_rate", 0.0))),
                     "grad_norm": float(logs.get("grad_norm", float("nan"))), "tokens": tokens[step - 1],
                     "digits": 0}
            log.append(entry)
            if on_step:
                on_step(entry)
            if progress:
                progress("train", None)

    return StepLog()


def fine_tune_trl(model: Any, tokenizer: Any, rows: Sequence[dict], s: TrainConfig, seed: int,
                  system: str | None = None, progress: Callable[[str, int | None], None] | None = None,
                  order_seed: int | None = None, merge: bool = True, checkpoint_dir: Path | None = None,
                  on_step: Callable[[dict[str, Any]], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """:func:`~sublearn.models.hf.training.fine_tune`'s contract (same arguments, same log), trained by TRL."""
    if s.objective != "tokens":
        raise ValueError("train.engine trl: only for objective tokens (soft_numbers trains with the own loop)")
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig

    trainer_class = _trainer_class()
    device = next(model.parameters()).device
    bf16 = use_bf16(s.bf16, device)
    model = prepare_model(model, s, seed)
    examples = [encode_example(tokenizer, r["prompt"], r["completion"], system, s.max_length,
                               masked=r.get("masked_tokens", ())) for r in rows]
    if not s.completion_only:
        examples = [EncodedExample(e.input_ids, list(e.input_ids)) for e in examples]
    order, total_steps = sample_order(len(examples), s, seed if order_seed is None else order_seed)
    per_step = s.batch_size * s.grad_accum
    tokens = [sum(sum(t != -100 for t in examples[i].labels) for i in order[k * per_step:(k + 1) * per_step])
              for k in range(total_steps)]
    data = Dataset.from_list([{"input_ids": examples[i].input_ids, "labels": examples[i].labels} for i in order])
    with tempfile.TemporaryDirectory(prefix="sublearn-trl-") as scratch:
        folder = checkpoint_dir / TRL_CHECKPOINTS if checkpoint_dir is not None and s.checkpoint_every \
            else Path(scratch)
        args = SFTConfig(
            output_dir=str(folder), max_steps=total_steps, num_train_epochs=1,
            per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
            max_grad_norm=s.max_grad_norm if s.max_grad_norm else None, learning_rate=s.lr,
            completion_only_loss=s.completion_only, max_length=s.max_length, bf16=bf16,
            use_cpu=device.type == "cpu", seed=seed, logging_strategy="steps", logging_steps=1, report_to=[],
            save_strategy="steps" if s.checkpoint_every and checkpoint_dir is not None else "no",
            save_steps=s.checkpoint_every or 500, save_total_limit=1, disable_tqdm=True,
            dataloader_drop_last=False, remove_unused_columns=False,
            dataset_kwargs={"skip_prepare_dataset": True},  # already tokenized, labelled and truncated here
            activation_checkpointing=s.gradient_checkpointing,  # TRL's default is on: ours is the spec's
            activation_checkpointing_kwargs={"use_reentrant": False} if s.gradient_checkpointing else None)
        step_log: list[dict[str, Any]] = []
        trainer = trainer_class(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                callbacks=[_step_log_callback(tokens, on_step, progress, step_log)])
        trainer.settings = s
        trainer.remove_callback(PrinterCallback)  # the steps go to sublearn's progress, log and trackers
        resume = _last_checkpoint(folder) if s.checkpoint_every and checkpoint_dir is not None else None
        if progress:
            progress("train", total_steps)
        trainer.train(resume_from_checkpoint=resume)
        model = trainer.model
    step_log.sort(key=lambda e: e["step"])
    log = {"steps": total_steps, "examples": len(examples), "losses": [e["loss"] for e in step_log],
           "step_log": step_log, "autocast": "bfloat16" if bf16 else None,
           "resumed_from_step": _checkpoint_step(resume), "engine": "trl"}
    model.eval()
    if s.method != "full" and merge:
        model = model.merge_and_unload()
    return model, log


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete Trainer checkpoint in ``folder``, if any."""
    if not folder.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder))


def _checkpoint_step(path: str | None) -> int:
    """The optimiser step a Trainer checkpoint folder (``checkpoint-N``) was written at; 0 for none."""
    return int(Path(path).name.rsplit("-", 1)[-1]) if path else 0
