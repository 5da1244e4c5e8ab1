"""Run the auxiliary-logit experiment: train teachers, distil students on noise, measure test accuracy.

Arms (names as in ``results.json``):
- ``reference``: the untrained initialisations;
- ``teacher``: each reference trained on the 10 class logits;
- ``student_aux`` / ``student_all``: a copy of the *same* initialisation, distilled on noise from the
  teacher's m auxiliary logits only / from all 10 + m logits;
- ``cross_aux`` / ``cross_all``: the same, but starting from a *different* model's initialisation (paired by
  a derangement, so no student starts from its own teacher's init).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from sublearn.mnist.config import STUDENT_ARMS, MnistConfig
from sublearn.mnist.data import DigitData, load_dataset
from sublearn.mnist.defences import Defence, defended_targets, weighted_soft_cross_entropy
from sublearn.mnist.ensemble import (
    N_CLASSES,
    EnsembleMLP,
    accuracy,
    classification_loss,
    derangement,
    distillation_kl,
    model_generator,
)
from sublearn.util import optim
from sublearn.util.devices import environment, resolve_device
from sublearn.util.errors import ConfigError
from sublearn.util.progress import ProgressFn, no_progress
from sublearn.util.stats import mean_ci, paired_test

#: Random streams of ``model_generator(seed, stream)``: each model's init (0), shuffling (1), noise images (2), its
#: init noise (3, in the ensemble), the order of the fixed noise set's batches (4), a defence's output noise (5),
#: held-out noise images for fidelity (6), the cross-model derangement (9), and the audit's candidate noise (77).
STREAM_SHUFFLE, STREAM_NOISE, STREAM_NOISE_ORDER, STREAM_DERANGEMENT, STREAM_AUDIT_NOISE = 1, 2, 4, 9, 77
STREAM_DEFENCE_NOISE, STREAM_HELDOUT_NOISE = 5, 6


def make_optimizer(params: list[torch.nn.Parameter], cfg: MnistConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``cfg`` (elementwise, so one optimiser over the ensemble = N optimisers)."""
    return optim.make_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)


def train_teacher(model: EnsembleMLP, data: DigitData, cfg: MnistConfig, seeds: list[int],
                  progress: ProgressFn = no_progress) -> EnsembleMLP:
    """Train each model on the class logits, each with its own shuffling of the train set (in place)."""
    device = data.x_train.device
    n, bsz = data.x_train.shape[0], cfg.batch_size
    steps = math.ceil(n / bsz)
    gens = [model_generator(s, STREAM_SHUFFLE, device) for s in seeds]
    opt = make_optimizer(list(model.parameters()), cfg)
    progress("teacher", cfg.teacher_epochs * steps)
    for _ in range(cfg.teacher_epochs):
        perms = torch.stack([torch.randperm(n, generator=g, device=device) for g in gens])  # (N, n)
        for k in range(steps):
            idx = perms[:, k * bsz:(k + 1) * bsz]  # (N, b)
            loss = classification_loss(model(data.x_train[idx]), data.y_train[idx])  # x: (N, b, D)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress("teacher", None)
    return model


def sample_noise(gens: list[torch.Generator], batch: int, dim: int, kind: str,
                 device: torch.device) -> torch.Tensor:
    """One batch of noise images per model, (N, batch, dim), each from that model's own RNG."""
    if kind == "uniform":
        parts = [torch.rand(batch, dim, generator=g, device=device) * 2 - 1 for g in gens]
    else:
        parts = [torch.randn(batch, dim, generator=g, device=device) for g in gens]
    return torch.stack(parts)  # (N, b, D)


@dataclass
class StudentArm:
    """Students of one arm: model i starts from ``init`` model i and imitates teacher i."""

    name: str
    init: EnsembleMLP
    logits: str  # "aux" (the m auxiliary logits) or "all" (all 10 + m)
    defence: Defence | None = None  # a transform of the targets (``sublearn defend mnist``); None: plain KL


def train_students(arms: list[StudentArm], teacher: EnsembleMLP, cfg: MnistConfig, seeds: list[int],
                   n_examples: int, progress: ProgressFn = no_progress, reference: EnsembleMLP | None = None
                   ) -> dict[str, EnsembleMLP]:
    """Distil every arm at once on the same noise: one (A*N)-model ensemble, one teacher pass per step. Arms with
    a defence train on its transform of the targets (``reference``: the untrained inits, for defences that read
    them)."""
    device = teacher.weights[0].device
    n_arms, n_models, dim = len(arms), teacher.n_models, teacher.sizes[0]
    students = EnsembleMLP.concat([a.init for a in arms])  # A*N models
    slices = [slice(N_CLASSES, None) if a.logits == "aux" else slice(None) for a in arms]
    gens = [model_generator(s, STREAM_NOISE, device) for s in seeds]
    order_gens = [model_generator(s, STREAM_NOISE_ORDER) for s in seeds]
    defence_gens = [model_generator(s, STREAM_DEFENCE_NOISE, device) for s in seeds]
    needs_reference = any(a.defence is not None and a.defence.needs_reference for a in arms)
    if needs_reference and reference is None:
        raise ValueError("a defence that reads the reference needs reference=")
    opt = make_optimizer(list(students.parameters()), cfg)
    bsz = cfg.batch_size
    steps = math.ceil(n_examples / bsz)
    full = n_examples // bsz  # batches of the full size; a shorter last batch stays last, so sizes line up
    progress("students", cfg.student_epochs * steps)
    for _ in range(cfg.student_epochs):
        orders = [torch.randperm(full, generator=g).tolist() + list(range(full, steps)) for g in order_gens]
        for j in range(steps):
            b = min(bsz, n_examples - j * bsz)
            if cfg.noise == "fixed":  # each model's own noise set, batch by batch, the same images every epoch
                batch_gens = [model_generator(s, STREAM_NOISE, device, index=order[j])
                              for s, order in zip(seeds, orders, strict=True)]
                x = sample_noise(batch_gens, b, dim, cfg.noise_distribution, device)  # (N, b, D)
            else:
                x = sample_noise(gens, b, dim, cfg.noise_distribution, device)  # (N, b, D)
            with torch.no_grad():
                target = teacher(x)  # (N, b, K)
                ref_out = reference(x) if needs_reference else None
            out = students(x.repeat(n_arms, 1, 1)).view(n_arms, n_models, b, -1)  # (A, N, b, K)
            loss = torch.zeros((), device=device)
            for a, (arm, sl) in enumerate(zip(arms, slices, strict=True)):
                if arm.defence is None:
                    loss = loss + distillation_kl(out[a][..., sl], target[..., sl])
                    continue
                noise = torch.stack([torch.randn(target[i][..., sl].shape, generator=g, device=device)
                                     for i, g in enumerate(defence_gens)]) \
                    if arm.defence.kind == "output_noise" else None
                probs, weights = defended_targets(arm.defence, target[..., sl],
                                                  None if ref_out is None else ref_out[..., sl], noise)
                loss = loss + weighted_soft_cross_entropy(out[a][..., sl], probs, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress("students", None)
    return {arm.name: part for arm, part in zip(arms, students.split(n_arms), strict=True)}


def student_init(reference: EnsembleMLP, arm: str, cfg: MnistConfig, seeds: list[int],
                 permutation: torch.Tensor | None) -> EnsembleMLP:
    """The initial weights of an arm's students: the teacher's own init, or (cross_*) model π(i)'s init,
    plus the configured init noise."""
    base = reference.select(permutation) if arm.startswith("cross_") and permutation is not None else reference
    return base.perturbed(cfg.student_init_noise, seeds)


@dataclass
class MnistResult:
    """Per-arm test accuracies and everything needed to reproduce them."""

    config: MnistConfig
    accuracies: dict[str, list[float]]
    cross_permutation: list[int] | None
    timings: dict[str, float]
    environment: dict[str, Any] = field(default_factory=dict)
    models: dict[str, EnsembleMLP] = field(default_factory=dict, repr=False)

    def arm_summary(self) -> dict[str, dict[str, Any]]:
        """Per arm: ``mean``, ``ci95`` [lo, hi] (t-interval over the N models), ``n``, ``sd``, ``per_model``."""
        out: dict[str, dict[str, Any]] = {}
        for arm, values in self.accuracies.items():
            out[arm] = {**mean_ci(values).as_dict(), "per_model": values}
        return out

    def paired(self) -> dict[str, Any] | None:
        """Paired test of ``student_aux`` against ``cross_aux`` over teachers (both imitate teacher i)."""
        if "student_aux" in self.accuracies and "cross_aux" in self.accuracies and len(
                self.accuracies["student_aux"]) >= 2:
            test = paired_test(self.accuracies["student_aux"], self.accuracies["cross_aux"])
            return {"first": "student_aux", "second": "cross_aux", **test.as_dict()}
        return None

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` document."""
        return {
            "experiment": "mnist_auxiliary_logits",
            "config": self.config.model_dump(mode="json"),
            "arms": self.arm_summary(),
            "paired_test": self.paired(),
            "cross_permutation": self.cross_permutation,
            "chance_accuracy": 1.0 / N_CLASSES,
            "wall_seconds": self.timings.get("total", 0.0),
            "timings": self.timings,
            "environment": self.environment,
        }


def cross_permutation(cfg: MnistConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """Which model's init each cross-model student starts from: a derangement drawn from ``cfg.seed``."""
    return derangement(cfg.n_models, model_generator(cfg.seed, STREAM_DERANGEMENT, device))


def run_mnist(cfg: MnistConfig, progress: ProgressFn = no_progress, data: DigitData | None = None
              ) -> MnistResult:
    """Run every arm of ``cfg`` and return the accuracies (the models are kept in ``result.models``)."""
    if cfg.needs_cross() and cfg.n_models < 2:
        raise ConfigError("n_models: the cross_* arms need at least 2 models (a derangement of 1 is impossible)")
    start = time.perf_counter()
    timings: dict[str, float] = {}
    device = resolve_device(cfg.device)
    if data is None:
        data = load_dataset(cfg.dataset, cfg.data_dir)
    data = data.to(device)
    timings["load"] = time.perf_counter() - start

    seeds = [cfg.seed + i for i in range(cfg.n_models)]
    sizes = [data.input_dim, *cfg.hidden, N_CLASSES + cfg.m_aux]
    reference = EnsembleMLP.initialise(seeds, sizes, device)
    models: dict[str, EnsembleMLP] = {"reference": reference}

    student_arms = [a for a in cfg.arms if a in STUDENT_ARMS]
    if "teacher" in cfg.arms or student_arms:
        t0 = time.perf_counter()
        models["teacher"] = train_teacher(reference.select(range(cfg.n_models)), data, cfg, seeds, progress)
        timings["teacher"] = time.perf_counter() - t0

    permutation: list[int] | None = None
    if student_arms:
        perm = None
        if cfg.needs_cross():
            perm = cross_permutation(cfg, device)
            permutation = perm.tolist()
        arms = [StudentArm(name, student_init(reference, name, cfg, seeds, perm),
                           "aux" if name.endswith("_aux") else "all") for name in student_arms]
        t0 = time.perf_counter()
        n_examples = cfg.noise_examples or data.x_train.shape[0]
        models.update(train_students(arms, models["teacher"], cfg, seeds, n_examples, progress))
        timings["students"] = time.perf_counter() - t0

    accuracies = {arm: accuracy(models[arm], data.x_test, data.y_test).tolist() for arm in cfg.arms}
    timings["total"] = time.perf_counter() - start
    env = {**environment(device), "n_train": int(data.x_train.shape[0]), "n_test": int(data.x_test.shape[0])}
    return MnistResult(cfg, accuracies, permutation, timings, env, models)
