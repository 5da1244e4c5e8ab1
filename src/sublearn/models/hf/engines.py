"""The training engines behind ``train.engine``: sublearn's own loop, or TRL's SFTTrainer (text objectives only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sublearn.config.training import TrainConfig
from sublearn.models.hf.training import fine_tune
from sublearn.models.hf.trl_engine import fine_tune_trl


def fine_tune_with_engine(model: Any, tokenizer: Any, rows: Sequence[dict], s: TrainConfig, seed: int,
                          system: str | None = None, progress: Callable[[str, int | None], None] | None = None,
                          soft_targets: Sequence[Any] | None = None, order_seed: int | None = None,
                          merge: bool = True, checkpoint_dir: Path | None = None,
                          on_step: Callable[[dict[str, Any]], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Fine-tune with the engine ``s.engine`` names; both take the same arguments and return the same log."""
    if s.engine == "trl":
        return fine_tune_trl(model, tokenizer, rows, s, seed, system=system, progress=progress,
                             order_seed=order_seed, merge=merge, checkpoint_dir=checkpoint_dir, on_step=on_step)
    return fine_tune(model, tokenizer, rows, s, seed, system=system, progress=progress, soft_targets=soft_targets,
                     order_seed=order_seed, merge=merge, checkpoint_dir=checkpoint_dir, on_step=on_step)
