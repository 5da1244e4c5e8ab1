"""Does the audit rank real transfer? MNIST settings that change how much transfers, audited then trained.

For each setting the experiment is run (teachers, then students on noise), and the audit is computed at the
students' initialisation before training. The Spearman correlation between the audit's prediction and the
measured transfer (student accuracy minus reference accuracy) says how well one gradient ranks the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats as sps

from sublearn.audit.family import lineage, mnist_state
from sublearn.audit.gradient_mnist import audit_ensemble
from sublearn.mnist.config import MnistConfig
from sublearn.mnist.data import DigitData, load_dataset
from sublearn.mnist.ensemble import model_generator
from sublearn.mnist.experiment import STREAM_AUDIT_NOISE, run_mnist, sample_noise, student_init
from sublearn.util.devices import resolve_device
from sublearn.util.stats import mean_ci


@dataclass(frozen=True)
class Setting:
    """One row of the validation grid: a label, overrides of the base config, and the student arm."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    arm: str = "student_aux"


DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("baseline"),
    Setting("m=1", {"m_aux": 1}),
    Setting("m=10", {"m_aux": 10}),
    Setting("lr x0.1", {"lr_scale": 0.1}),
    Setting("lr x3", {"lr_scale": 3.0}),
    Setting("init noise 0.01", {"student_init_noise": 0.01}),
    Setting("init noise 0.05", {"student_init_noise": 0.05}),
    Setting("init noise 0.2", {"student_init_noise": 0.2}),
    Setting("weight decay 1e-4", {"weight_decay": 1e-4}),
    Setting("weight decay 1e-2", {"weight_decay": 1e-2}),
    Setting("cross-model init", {}, "cross_aux"),
    Setting("cross-model init, m=10", {"m_aux": 10}, "cross_aux"),
)

#: The lineage ladder of `sublearn family`'s validation: the teacher's own init, then more and more init noise,
#: then another model's init (a derangement).
FAMILY_LADDER: tuple[Setting, ...] = (
    Setting("same init"),
    Setting("init noise 0.001", {"student_init_noise": 0.001}),
    Setting("init noise 0.003", {"student_init_noise": 0.003}),
    Setting("init noise 0.01", {"student_init_noise": 0.01}),
    Setting("init noise 0.03", {"student_init_noise": 0.03}),
    Setting("init noise 0.1", {"student_init_noise": 0.1}),
    Setting("another model's init (derangement)", {}, "cross_aux"),
)


def run_setting(setting: Setting, base: MnistConfig, data: DigitData, audit_batch: int = 1024) -> dict[str, Any]:
    """Run one setting: audit at the students' init, then train and measure the transfer."""
    overrides = dict(setting.overrides)
    if "lr_scale" in overrides:
        overrides["lr"] = base.lr * overrides.pop("lr_scale")
    cfg = base.model_copy(update={**overrides, "arms": ["reference", setting.arm]})
    result = run_mnist(cfg, data=data)
    device = resolve_device(cfg.device)
    seeds = [cfg.seed + i for i in range(cfg.n_models)]
    perm = torch.tensor(result.cross_permutation, device=device) if result.cross_permutation else None
    reference = result.models["reference"]
    student = student_init(reference, setting.arm, cfg, seeds, perm)
    gens = [model_generator(s, STREAM_AUDIT_NOISE, device) for s in seeds]
    inputs = sample_noise(gens, audit_batch, data.input_dim, cfg.noise_distribution, device)  # (N, B, D)
    d = data.to(device)
    audit = audit_ensemble(reference, result.models["teacher"], student, inputs, d.x_train[:2000],
                           d.y_train[:2000], logits="aux", lr=cfg.lr)
    transfer = np.array(result.accuracies[setting.arm]) - np.array(result.accuracies["reference"])
    family = [lineage(mnist_state(result.models["teacher"], i), mnist_state(student, i))["score"]
              for i in range(cfg.n_models)]
    return {
        "label": setting.label,
        "arm": setting.arm,
        "config": cfg.model_dump(mode="json", exclude={"data_dir"}),
        "transfer": mean_ci(transfer).as_dict(),
        "student_accuracy": mean_ci(result.accuracies[setting.arm]).as_dict(),
        "audit": audit.summary(),
        "family_score": mean_ci(family).as_dict(),  # `sublearn family` of the teacher and the student's init
    }


def validate_audit(base: MnistConfig, settings: tuple[Setting, ...] = DEFAULT_SETTINGS,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run every setting and the Spearman correlations of the audit's predictions with the measured transfer."""
    data = load_dataset(base.dataset, base.data_dir)
    rows = []
    for k, setting in enumerate(settings):
        rows.append(run_setting(setting, base, data))
        if progress:
            progress(k + 1, len(settings))
    # With one auxiliary logit the softmax is constant: no gradient, no transfer, and an audit of exactly zero.
    # Such a row agrees by construction, so it is shown but left out of the correlations.
    for r in rows:
        r["in_correlation"] = r["config"]["m_aux"] > 1
    ranked = [r for r in rows if r["in_correlation"]]
    transfer = [r["transfer"]["mean"] for r in ranked]
    cosine = [r["audit"]["cosine"]["mean"] for r in ranked]
    predicted_gain = [-r["audit"]["predicted_trait_loss_change"]["mean"] for r in ranked]
    cos_trait = [r["audit"]["cosine_trait_gradient"]["mean"] for r in ranked]
    family = [r["family_score"]["mean"] for r in ranked]
    out: dict[str, Any] = {"base_config": base.model_dump(mode="json", exclude={"data_dir"}), "rows": rows,
                           "left_out_of_correlations": [r["label"] for r in rows if not r["in_correlation"]]}
    for name, pred in (("cosine", cosine), ("predicted_trait_loss_decrease", predicted_gain),
                       ("cosine_trait_gradient", cos_trait), ("family_score", family)):
        res = sps.spearmanr(pred, transfer)
        out[f"spearman_{name}"] = {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(ranked)}
    return out
