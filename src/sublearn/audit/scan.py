"""Data scanners: does a dataset carry its teacher's signature? Two detectors that read the data with the teacher
and a reference model, per example and per dataset.

- **LLS** (log-likelihood shift): the mean per completion token of log p_teacher − log p_reference. Data a teacher
  wrote is more likely under that teacher than under the reference.
- **Divergence tokens**: completion positions where the teacher's and the reference's most likely next token
  differ; per example, their share of the completion (the positions where a teacher's signal can hide).

Against a control dataset (e.g. a placebo teacher's data for the same prompts), the dataset-level verdict is a
permutation test of the difference in mean LLS, and each detector is scored by its AUROC at telling the two
datasets' examples apart, with a bootstrap CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sublearn.models.hf.encoding import collate, encode_example
from sublearn.models.hf.loading import load_for_inference
from sublearn.util.stats import BOOTSTRAP_RESAMPLES, auroc, mean_ci

#: Random label permutations for the dataset-level test.
PERMUTATIONS = 10_000


def token_scores(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], batch_size: int = 16,
                 max_length: int = 512) -> list[dict[str, np.ndarray]]:
    """Per row: the log-probability of each completion token (``logp``) and the model's most likely token at each
    completion position (``top``), with the completion-only encoding the trainer uses."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = [encode_example(tokenizer, r["prompt"], r["completion"], r.get("system"), max_length=max_length)
                for r in rows]
    out: list[dict[str, np.ndarray]] = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = {k: v.to(device) for k, v in collate(chunk, pad).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            labels = batch["labels"][:, 1:]
            for i in range(len(chunk)):
                keep = labels[i] != -100
                targets = labels[i][keep]
                out.append({"logp": logp[i][keep].gather(-1, targets[:, None])[:, 0].cpu().numpy(),
                            "top": logp[i][keep].argmax(-1).cpu().numpy(), "ids": targets.cpu().numpy()})
    return out


def example_scores(teacher: list[dict[str, np.ndarray]], reference: list[dict[str, np.ndarray]]
                   ) -> list[dict[str, float]]:
    """Per example: LLS (mean per token of teacher − reference log-probability) and the share of divergence
    tokens (positions where the two models' most likely tokens differ)."""
    rows = []
    for t, r in zip(teacher, reference, strict=True):
        n = len(t["logp"])
        rows.append({"lls": float((t["logp"] - r["logp"]).mean()) if n else 0.0,
                     "divergence_share": float((t["top"] != r["top"]).mean()) if n else 0.0, "tokens": n})
    return rows


def auroc_ci(positive: Sequence[float], negative: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """:func:`auroc` with a percentile-bootstrap 95% CI (each dataset resampled on its own)."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    rng = np.random.default_rng(seed)
    boots = [auroc(pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))])
             for _ in range(BOOTSTRAP_RESAMPLES // 10)]
    return {"auroc": auroc(pos, neg), "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "n_positive": len(pos), "n_negative": len(neg),
            "ci_method": f"percentile bootstrap ({BOOTSTRAP_RESAMPLES // 10:,} resamples)"}


def permutation_p(first: Sequence[float], second: Sequence[float], seed: int = 0) -> float:
    """Two-sided permutation p-value of the difference in means (labels shuffled, the observed split counted)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(PERMUTATIONS):
        perm = rng.permutation(pooled)
        hits += abs(perm[:len(a)].mean() - perm[len(a):].mean()) >= observed - 1e-15
    return float((hits + 1) / (PERMUTATIONS + 1))


def _summary(scores: list[dict[str, float]]) -> dict[str, Any]:
    return {name: mean_ci([s[name] for s in scores]).as_dict() for name in ("lls", "divergence_share")}


def gradient_audit(rows: Sequence[dict[str, str]], teacher: str, reference: str, device: str = "cpu"
                   ) -> dict[str, Any]:
    """The gradient-alignment audit of ``rows`` (:func:`~sublearn.audit.gradient_lm.audit_causal_lm`): the cosine
    between the reference's SFT step on the data and the teacher's weights minus the reference's."""
    from sublearn.audit.gradient_lm import audit_causal_lm

    result = audit_causal_lm(reference, rows, teacher=teacher, device=device)
    return {k: v for k, v in result.items() if k != "parameters"}


def scan_dataset(rows: Sequence[dict[str, str]], teacher: str, reference: str,
                 control: Sequence[dict[str, str]] | None = None, device: str = "cpu", batch_size: int = 16,
                 audit: bool = False) -> dict[str, Any]:
    """Score ``rows`` (and ``control``) with ``teacher`` against ``reference``: per-example scores, dataset means
    with 95% CIs, and with a control the permutation test of mean LLS and each detector's AUROC; with ``audit``,
    the gradient-alignment audit of each dataset too (a dataset-level detector: one cosine per dataset)."""
    scored = {}
    for name, source in (("teacher", teacher), ("reference", reference)):
        tokenizer, model = load_for_inference(source, device, "float32")
        scored[name] = {"data": token_scores(model, tokenizer, rows, batch_size),
                        "control": token_scores(model, tokenizer, control, batch_size) if control else None}
        del model
    data = example_scores(scored["teacher"]["data"], scored["reference"]["data"])
    result: dict[str, Any] = {"teacher": teacher, "reference": reference, "n": len(data), "dataset": _summary(data),
                              "examples": data}
    if control:
        ctrl = example_scores(scored["teacher"]["control"], scored["reference"]["control"])
        result["control"] = {"n": len(ctrl), "dataset": _summary(ctrl), "examples": ctrl}
        result["versus_control"] = {
            "lls_difference": float(np.mean([d["lls"] for d in data]) - np.mean([c["lls"] for c in ctrl])),
            "p_permutation": permutation_p([d["lls"] for d in data], [c["lls"] for c in ctrl]),
            "auroc": {name: auroc_ci([d[name] for d in data], [c[name] for c in ctrl])
                      for name in ("lls", "divergence_share")}}
    if audit:
        result["gradient_audit"] = gradient_audit(rows, teacher, reference, device)
        if control:
            result["control"]["gradient_audit"] = gradient_audit(control, teacher, reference, device)
    return result
