"""Soft digit targets on disk: one array (digits, 10) per row, stored as two arrays in ``targets.npz`` (every
row concatenated, and the offsets between rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The file of a targets (or defended targets) artifact.
TARGETS_FILE = "targets.npz"


def pack_targets(targets: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-row target arrays as two arrays for ``np.savez``: all rows concatenated, and offsets."""
    lengths = np.array([len(t) for t in targets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = np.concatenate(list(targets)) if targets else np.zeros((0, 10), dtype=np.float32)
    return {"values": values.astype(np.float32), "offsets": offsets}


def unpack_targets(packed: Any) -> list[np.ndarray]:
    """The per-row arrays back from :func:`pack_targets`."""
    values, offsets = packed["values"], packed["offsets"]
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def save_targets(folder: Path, targets: list[np.ndarray]) -> Path:
    """Write ``targets`` to ``folder/targets.npz``."""
    path = folder / TARGETS_FILE
    np.savez(path, **pack_targets(targets))
    return path


def load_targets(folder: Path) -> list[np.ndarray]:
    """The per-row target arrays of a targets artifact's folder."""
    return unpack_targets(np.load(folder / TARGETS_FILE))
