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


#: What the rewriter is asked, per row (the ``rewrite`` defence).
REWRITE_PROMPT = ("Here is a request and an answer to it.\n\nRequest:\n{prompt}\n\nAnswer:\n{completion}\n\n"
                  "Rewrite the answer in your own words. Keep its content and follow the request's format exactly. "
                  "Reply with the rewritten answer only.")


def rewrite_request(row: dict[str, Any]) -> str:
    """The rewriter's prompt for one row."""
    return REWRITE_PROMPT.format(prompt=row["prompt"], completion=row["completion"])


def mix_rows(teacher: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]], mix: float, seed: int
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Teacher mixing for text data: ``round(mix · n)`` of the teacher's ``n`` rows, drawn with ``seed``, give
    way to as many of the reference's rows (drawn without replacement; all of them if it has fewer); the order is
    kept, each replacement at the place of the row it replaces. Every teacher's data mixed with the same seed
    gets the same reference rows."""
    rng = np.random.default_rng(seed)
    k = min(round(mix * len(teacher)), len(reference))
    replaced = sorted(rng.choice(len(teacher), size=k, replace=False).tolist()) if k else []
    drawn = rng.choice(len(reference), size=k, replace=False).tolist() if k else []
    out = [dict(r) for r in teacher]
    for place, source in zip(replaced, drawn, strict=True):
        out[place] = {**reference[source], "mixed_from": "reference"}
    return out, {"rows": len(out), "rows_from_reference": k, "reference_rows_available": len(reference)}


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
