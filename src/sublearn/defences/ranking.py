"""Where a teacher diverges from the reference, and how far defended targets are from the teacher's: the
measures the divergence defences rank by and every soft-target defence reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EPS = 1e-12


def position_kl(teacher: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """KL(teacher ‖ reference) at each digit position of one row."""
    p, q = np.clip(teacher, EPS, 1), np.clip(reference, EPS, 1)
    return (teacher * (np.log(p) - np.log(q))).sum(-1)


def top_fraction(scores: Sequence[np.ndarray], fraction: float) -> list[np.ndarray]:
    """Per row, a boolean mask of its positions among the ``fraction`` of all positions (over the dataset) with
    the largest scores; ties broken by order."""
    flat = np.concatenate(scores) if len(scores) else np.zeros(0)
    k = round(fraction * len(flat))
    chosen = np.zeros(len(flat), dtype=bool)
    if k:
        chosen[np.argsort(-flat, kind="stable")[:k]] = True
    out, start = [], 0
    for row in scores:
        out.append(chosen[start:start + len(row)])
        start += len(row)
    return out


def most_divergent(teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray], fraction: float
                   ) -> list[np.ndarray]:
    """Per row, a boolean mask of the positions among the ``fraction`` of all positions (over the dataset) with
    the largest KL(teacher ‖ reference); ties broken by order."""
    return top_fraction([position_kl(t, r) for t, r in zip(teacher, reference, strict=True)], fraction)


def defence_stats(teacher: Sequence[np.ndarray], defended: Sequence[np.ndarray]) -> dict[str, Any]:
    """Positions in all, still in the loss, and changed; the mean KL(defended ‖ teacher) over the positions kept:
    how far what the student now learns is from the teacher's distribution, in nats (finite for one-hot
    targets, unlike the reverse)."""
    total = kept = changed = 0
    kl_sum = 0.0
    for t, d in zip(teacher, defended, strict=True):
        live = d.sum(-1) > 0
        total += len(t)
        kept += int(live.sum())
        changed += int((np.abs(np.asarray(t) - d).max(-1) > 1e-6).sum()) if len(t) else 0
        if live.any():
            kl_sum += float(position_kl(d[live], np.asarray(t)[live]).sum())
    return {"digit_positions": total, "kept_fraction": kept / total if total else None,
            "changed_fraction": changed / total if total else None,
            "mean_kl_defended_to_teacher": kl_sum / kept if kept else None}
