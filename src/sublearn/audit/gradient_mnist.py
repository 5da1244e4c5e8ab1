"""Gradient-alignment audit of a distillation, for the MNIST ensemble.

Before any student is trained, one gradient tells whether distilling a teacher on a candidate dataset would
pull the student toward the teacher's trait. Per model i:
- Δθ_T,i: the teacher's trait update, ``teacher_i − reference_i`` (teacher given as weights);
- Δθ_S,i = −∇ L_distill at the student's init (its own reference init, or another model's for cross-init),
  on the candidate inputs, imitating teacher i's logits (auxiliary ones or all);
- the cosine of the two, and the predicted first-order change of the trait loss L_T (cross-entropy on
  labelled digits) after one plain gradient step of size ``lr`` along Δθ_S: ``lr · ∇L_T·Δθ_S``;
- the cosine of Δθ_S with −∇L_T at the student's init (the direction of steepest trait improvement there).

Weight decay is left out of Δθ_S by default: it pulls every weight toward zero whatever the data, and a teacher
trained with weight decay has shrunk too, so the two line up for reasons that have nothing to do with the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sublearn.mnist.data import load_dataset
from sublearn.mnist.ensemble import N_CLASSES, EnsembleMLP, classification_loss, distillation_kl, model_generator
from sublearn.mnist.experiment import STREAM_AUDIT_NOISE, cross_permutation, sample_noise
from sublearn.mnist.runner import MODELS_FILE, load_models
from sublearn.util.errors import ConfigError
from sublearn.util.stats import mean_ci


def _flat_per_model(tensors: list[torch.Tensor]) -> torch.Tensor:
    """(N, P) from per-layer tensors whose first axis is the model."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


@dataclass
class EnsembleAudit:
    """Per-model audit values."""

    cosine: list[float]
    predicted_trait_loss_change: list[float]
    inner_product: list[float]
    cosine_trait_gradient: list[float]

    def summary(self) -> dict[str, object]:
        """Means with 95% CIs over models."""
        return {
            "cosine": mean_ci(self.cosine).as_dict(),
            "predicted_trait_loss_change": mean_ci(self.predicted_trait_loss_change).as_dict(),
            "cosine_trait_gradient": mean_ci(self.cosine_trait_gradient).as_dict(),
            "per_model": {"cosine": self.cosine, "predicted_trait_loss_change": self.predicted_trait_loss_change,
                          "cosine_trait_gradient": self.cosine_trait_gradient},
        }


def audit_ensemble(reference: EnsembleMLP, teacher: EnsembleMLP, student: EnsembleMLP, inputs: torch.Tensor,
                   x_trait: torch.Tensor, y_trait: torch.Tensor, logits: str = "aux", lr: float = 1e-3,
                   weight_decay: float = 0.0) -> EnsembleAudit:
    """Audit distilling ``teacher`` into ``student`` on ``inputs`` (B, D) or (N, B, D); see the module doc."""
    cols = slice(N_CLASSES, None) if logits == "aux" else slice(None)
    delta_t = _flat_per_model([(t - r).detach() for t, r in
                               zip(teacher.parameters(), reference.parameters(), strict=True)])  # (N, P)
    params = list(student.parameters())
    with torch.no_grad():
        target = teacher(inputs)[..., cols]
    distill = distillation_kl(student(inputs)[..., cols], target)
    grads = torch.autograd.grad(distill, params)
    delta_s = -_flat_per_model([g + weight_decay * p.detach() for g, p in zip(grads, params, strict=True)])
    n = student.n_models
    trait = classification_loss(student(x_trait.expand(n, *x_trait.shape)), y_trait.expand(n, -1))
    grad_trait = _flat_per_model(list(torch.autograd.grad(trait, params)))  # (N, P)
    inner = (delta_s * delta_t).sum(1)
    cosine = inner / (delta_s.norm(dim=1) * delta_t.norm(dim=1)).clamp_min(1e-30)
    predicted = lr * (grad_trait * delta_s).sum(1)
    cos_trait = -(grad_trait * delta_s).sum(1) / (grad_trait.norm(dim=1) * delta_s.norm(dim=1)).clamp_min(1e-30)
    return EnsembleAudit(cosine.tolist(), predicted.tolist(), inner.tolist(), cos_trait.tolist())


def audit_saved_run(run_dir: Path, batch: int = 1024, logits: str = "aux", lr: float = 3e-4) -> dict[str, Any]:
    """Audit the teachers saved by ``sublearn mnist --save-models``: same-init and cross-init students, on noise
    and on real test images; the trait loss is cross-entropy on 2,000 labelled training digits."""
    saved = load_models(run_dir / MODELS_FILE)
    cfg, ens = saved["config"], saved["ensembles"]
    if "teacher" not in ens:
        raise ConfigError(f"{run_dir}: the saved run has no teacher (run it with a student or teacher arm)")
    data = load_dataset(cfg.dataset, cfg.data_dir)
    n = cfg.n_models
    perm = (torch.tensor(saved["cross_permutation"]) if saved["cross_permutation"]
            else cross_permutation(cfg) if n > 1 else None)
    seeds = [cfg.seed + i for i in range(n)]
    candidates = {"noise": sample_noise([model_generator(s, STREAM_AUDIT_NOISE) for s in seeds], batch,
                                        data.input_dim, cfg.noise_distribution, torch.device("cpu")),
                  "real": data.x_test[:batch]}
    students = {"same init": ens["reference"]}
    if perm is not None:
        students["cross init"] = ens["reference"].select(perm)
    doc: dict[str, Any] = {"run": str(run_dir), "logits": logits, "lr": lr, "batch": batch, "n_models": n,
                           "rows": []}
    for student_name, student in students.items():
        for input_name, x in candidates.items():
            summary = audit_ensemble(ens["reference"], ens["teacher"], student, x, data.x_train[:2000],
                                     data.y_train[:2000], logits=logits, lr=lr).summary()
            doc["rows"].append({"student": student_name, "inputs": input_name, **summary})
    return doc
