"""Mid-training checkpoints: what a fine-tune needs to go on from an optimiser step exactly as if it had never
stopped (trainable weights, optimiser and schedule state, the random state, the step log so far).

The data order is not stored: it is a function of the order seed, so a resumed run replays the shuffles and skips
the steps done. A checkpoint is written to a fresh folder and renamed into place, so a crash while writing leaves
the previous one intact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from sublearn.util.atomic import fsync_path

CHECKPOINT = "checkpoint"


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    """The parameters training changes (LoRA adapters, or every weight of a full fine-tune)."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(folder: Path, model: Any, optimizer: Any, scheduler: Any, step: int, log: dict[str, Any]
                    ) -> Path:
    """Write the state after optimiser step ``step`` to ``folder/checkpoint`` (replacing an older one atomically)."""
    target = folder / CHECKPOINT
    staging = folder / f".{CHECKPOINT}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    torch.save({"step": step, "weights": trainable_state(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "log": log}, staging / "state.pt")
    fsync_path(staging / "state.pt")
    old = folder / f".{CHECKPOINT}-old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(staging, target)
    fsync_path(folder)
    shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: Path | None) -> dict[str, Any] | None:
    """The last checkpoint under ``folder``, or ``None`` (also when there is no folder)."""
    path = folder / CHECKPOINT / "state.pt" if folder is not None else None
    if path is None or not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def restore(state: dict[str, Any], model: Any, optimizer: Any, scheduler: Any) -> None:
    """Put a checkpoint's weights, optimiser, schedule and random state back."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state["weights"].items():
            if name not in params:
                raise ValueError(f"checkpoint: parameter {name} is not in the model (another train config?)")
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
