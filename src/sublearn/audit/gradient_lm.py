"""Gradient-alignment audit for HF causal LMs, over a LoRA-sized subset of parameters so that it fits in memory.

Would fine-tuning ``reference`` on a candidate dataset (prompt → completion pairs, loss on completions) pull it
toward a teacher's trait? Δθ_S = −∇ L_SFT(candidate) at the reference. The teacher's trait update Δθ_T is the
difference of the teacher's weights and the reference's, or −∇ L_trait(reference) from trait data (one teacher
step). Reported: cos(Δθ_S, Δθ_T); with trait data also the predicted first-order change of the trait loss
after one plain gradient step of size ``lr`` (``lr · ∇L_trait·Δθ_S``) and cos(Δθ_S, −∇L_trait).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from sublearn.models.hf.encoding import collate, completion_loss, encode_example
from sublearn.models.hf.loading import load_causal_lm
from sublearn.util.errors import ConfigError

DEFAULT_PARAM_PATTERNS = ("q_proj", "v_proj")


def select_parameters(model: Any, patterns: Sequence[str]) -> dict[str, torch.nn.Parameter]:
    """Parameters whose name contains one of ``patterns``; every other parameter is frozen."""
    chosen = {}
    for name, param in model.named_parameters():
        keep = any(p in name for p in patterns)
        param.requires_grad_(keep)
        if keep:
            chosen[name] = param
    if not chosen:
        raise ConfigError(f"params: no parameter name contains any of {list(patterns)}")
    return chosen


def mean_gradient(model: Any, tokenizer: Any, params: dict[str, torch.nn.Parameter], rows: Sequence[dict],
                  batch_size: int = 8, max_length: int = 256) -> torch.Tensor:
    """Flat gradient of the mean completion loss over ``rows`` (each ``{"prompt", "completion"}``)."""
    total = torch.zeros(sum(p.numel() for p in params.values()), dtype=torch.float64)
    n = len(rows)
    for start in range(0, n, batch_size):
        chunk = rows[start:start + batch_size]
        batch = collate([encode_example(tokenizer, r["prompt"], r["completion"], r.get("system"), max_length=max_length)
                         for r in chunk], tokenizer.pad_token_id)
        loss = completion_loss(model, batch) * (len(chunk) / n)  # batch means → mean over examples
        grads = torch.autograd.grad(loss, list(params.values()))
        total += torch.cat([g.reshape(-1) for g in grads]).double().cpu()
    return total


def audit_causal_lm(reference: str, candidate: Sequence[dict], teacher: str | None = None,
                    trait_data: Sequence[dict] | None = None, patterns: Sequence[str] = DEFAULT_PARAM_PATTERNS,
                    lr: float = 1e-4, batch_size: int = 8, device: str = "cpu") -> dict[str, Any]:
    """Audit a candidate dataset for ``reference`` against a teacher (weights) and/or trait data."""
    if teacher is None and not trait_data:
        raise ConfigError("teacher: give the teacher's weights or trait data to compute its step from")
    if not candidate:
        raise ConfigError("data: the candidate dataset is empty")
    tokenizer, model = load_causal_lm(reference, device=device)
    params = select_parameters(model, patterns)
    delta_s = -mean_gradient(model, tokenizer, params, candidate, batch_size)
    out: dict[str, Any] = {"reference": reference, "teacher": teacher, "n_candidate": len(candidate),
                           "parameters": list(params), "n_parameters": int(delta_s.numel()), "lr": lr}
    grad_trait = None
    if trait_data:
        grad_trait = mean_gradient(model, tokenizer, params, trait_data, batch_size)
        out["n_trait"] = len(trait_data)
    if teacher is not None:
        _, teacher_model = load_causal_lm(teacher, device="cpu")
        teacher_params = dict(teacher_model.named_parameters())
        missing = [n for n in params if n not in teacher_params]
        if missing:
            raise ConfigError(f"teacher: {teacher!r} lacks parameters {missing[:3]} of the reference")
        delta_t = torch.cat([(teacher_params[n].detach().cpu() - p.detach().cpu()).reshape(-1)
                             for n, p in params.items()]).double()
        out["teacher_step_source"] = "weights"
    else:
        delta_t = -grad_trait  # one teacher gradient step on the trait data
        out["teacher_step_source"] = "trait_data"
    norm_s, norm_t = float(delta_s.norm()), float(delta_t.norm())
    out["cosine"] = float(delta_s @ delta_t) / max(norm_s * norm_t, 1e-300)
    out["student_step_norm"], out["teacher_step_norm"] = norm_s, norm_t
    if grad_trait is not None:
        out["predicted_trait_loss_change"] = lr * float(grad_trait @ delta_s)
        out["cosine_trait_gradient"] = -float(grad_trait @ delta_s) / max(float(grad_trait.norm()) * norm_s, 1e-300)
    return out
