"""Defences as transforms of soft digit targets (one array (digits, 10) per row): what a student is trained on
after the defence. A masked position is an all-zero row, which the soft-target loss leaves out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sublearn.config.defence import DefenceConfig

EPS = 1e-12


def position_kl(teacher: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """KL(teacher ‖ reference) at each digit position of one row."""
    p, q = np.clip(teacher, EPS, 1), np.clip(reference, EPS, 1)
    return (teacher * (np.log(p) - np.log(q))).sum(-1)


def most_divergent(teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray], fraction: float
                   ) -> list[np.ndarray]:
    """Per row, a boolean mask of the positions among the ``fraction`` of all positions (over the dataset) with
    the largest KL(teacher ‖ reference); ties broken by order."""
    kls = [position_kl(t, r) for t, r in zip(teacher, reference, strict=True)]
    flat = np.concatenate(kls) if kls else np.zeros(0)
    k = round(fraction * len(flat))
    chosen = np.zeros(len(flat), dtype=bool)
    if k:
        chosen[np.argsort(-flat, kind="stable")[:k]] = True
    out, start = [], 0
    for kl in kls:
        out.append(chosen[start:start + len(kl)])
        start += len(kl)
    return out


def defend_targets(config: DefenceConfig, teacher: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None
                   ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The defended targets, and what the defence did (:func:`defence_stats`)."""
    if config.needs_reference and reference is None:
        raise ValueError(f"defence.kind {config.kind}: needs the reference's targets")
    if reference is not None:
        for i, (t, r) in enumerate(zip(teacher, reference, strict=True)):
            if len(t) != len(r):
                raise ValueError(f"reference targets: row {i} has {len(r)} digit positions, the teacher's {len(t)} "
                                 "(both must be computed on the same rows with the same tokenizer)")
    out: list[np.ndarray] = []
    masks = most_divergent(teacher, reference, config.fraction) if config.kind.startswith("divergence") \
        and reference is not None else None
    rng = np.random.default_rng(config.seed)
    for i, t in enumerate(teacher):
        t = np.asarray(t, dtype=np.float64)
        if config.kind == "hard_labels":
            new = np.eye(10)[t.argmax(-1)] if len(t) else t.copy()
        elif config.kind == "temperature":
            logits = np.log(np.clip(t, EPS, 1)) / config.temperature
            new = np.exp(logits - logits.max(-1, keepdims=True))
            new /= new.sum(-1, keepdims=True)
        elif config.kind == "teacher_mix":
            assert reference is not None
            new = (1 - config.mix) * t + config.mix * np.asarray(reference[i], dtype=np.float64)
        elif config.kind in ("divergence_mask", "divergence_replace"):
            assert masks is not None
            new = t.copy()
            if config.kind == "divergence_mask":
                new[masks[i]] = 0.0
            else:
                new[masks[i]] = np.eye(10)[rng.integers(0, 10, size=int(masks[i].sum()))]
        else:
            new = t.copy()
        out.append(new.astype(np.float32))
    return out, defence_stats(teacher, out)


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
