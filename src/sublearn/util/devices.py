"""Device names: ``auto`` picks CUDA when there is one; asking for CUDA without it is a clear error."""

from __future__ import annotations

import torch

from sublearn.util.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; other names are checked against what exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but torch sees no CUDA device (use --device cpu)")
    return device
