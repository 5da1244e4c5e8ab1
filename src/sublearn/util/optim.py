"""Optimiser by name, shared by the MNIST ensemble and LM fine-tuning."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
                   ) -> torch.optim.Optimizer:
    """``adam`` (L2 weight decay), ``adamw`` (decoupled) or ``sgd``; all elementwise."""
    params = list(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer: unknown optimiser {name!r} (adam, adamw, sgd)")
