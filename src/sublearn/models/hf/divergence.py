"""Divergence tokens of text data: where a teacher's next-token distribution departs from a reference's, and the
digit tokens there replaced at random (a defence)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sublearn.models.hf.encoding import collate, encode_example
from sublearn.models.hf.soft_targets import digit_token_ids


def _completion_log_probs(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], system: str | None,
                          max_length: int) -> list[tuple[list[int], torch.Tensor]]:
    """Per row, the completion's token ids and the log-softmax of the model's next-token logits before each (the
    trainer's encoding)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = [encode_example(tokenizer, r["prompt"], r["completion"], system=system, max_length=max_length)
                for r in rows]
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in collate(examples, pad).items()}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    return [([t for t in e.labels if t != -100], torch.log_softmax(logits[i][labels[i] != -100], dim=-1))
            for i, e in enumerate(examples)]


@torch.no_grad()
def completion_divergence(teacher: Any, reference: Any, tokenizer: Any, rows: Sequence[dict[str, str]],
                          system: str | None, batch_size: int = 16, max_length: int = 512
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row: the completion's token ids (its end-of-sequence token left out) and KL(teacher ‖ reference) of the
    two models' next-token distributions before each; the teacher reads the rows with ``system``, the
    reference without (as its student will)."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        t_rows = _completion_log_probs(teacher, tokenizer, chunk, system, max_length)
        r_rows = _completion_log_probs(reference, tokenizer, chunk, None, max_length)
        for (ids, t), (_, r) in zip(t_rows, r_rows, strict=True):
            kl = (t.exp() * (t - r)).sum(-1)
            keep = len(ids) - 1 if ids and ids[-1] == tokenizer.eos_token_id else len(ids)
            out.append((np.asarray(ids[:keep]), kl[:keep].cpu().numpy()))
    return out


def replace_tokens(tokenizer: Any, ids: Sequence[np.ndarray], masks: Sequence[np.ndarray], seed: int
                   ) -> list[str | None]:
    """Each row's completion with its masked tokens replaced by digit tokens drawn uniformly with ``seed``
    (``None`` where nothing is masked: the row stays as written)."""
    digits = digit_token_ids(tokenizer, "defence.kind divergence_replace")
    rng = np.random.default_rng(seed)
    texts: list[str | None] = []
    for row_ids, mask in zip(ids, masks, strict=True):
        if not mask.any():
            texts.append(None)
            continue
        new = np.array(row_ids, copy=True)
        new[mask] = rng.choice(digits, size=int(mask.sum()))
        texts.append(tokenizer.decode(new.tolist()))
    return texts
