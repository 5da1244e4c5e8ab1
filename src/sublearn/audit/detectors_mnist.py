"""Data detectors scored on the MNIST analogue: can a detector tell a trait teacher's data from a placebo's?

Per model i, two teachers start from the same initialisation (the reference) and are trained identically (the
same images, batches, epochs and optimiser) but for one thing: the **trait** teacher learns the real labels,
the **placebo** teacher a fixed shuffle of them (it fits the images just as long, and learns no digit). Each
writes a dataset: its auxiliary logits on the same held-out noise images, the data an auxiliary-logit student is
distilled on. A student of each (the teacher's own init, auxiliary logits only) shows which dataset transfers
(accuracy gain over the reference), so the labels of the detection task are checked, not assumed.

Detectors, each read against the reference (the students' init), higher meaning "more suspicious":

- per example, ``kl``: KL(teacher ‖ reference) of the auxiliary softmax (the log-likelihood shift of soft targets);
- per example, ``divergence``: whether the teacher's and the reference's most likely auxiliary output differ;
- per dataset, the gradient-alignment audit (:mod:`sublearn.audit.gradient_mnist`): ``audit_cosine``, the cosine of
  the distillation step with the teacher's own update (needs no knowledge of the trait), and
  ``audit_trait_gain``, the predicted drop of the trait's loss after one step (needs labelled trait data).

Per-example detectors get an AUROC per model (trait data positive, placebo data negative, same noise images),
summarised as the mean over models with a t-interval, and a permutation p per model. Every detector, per-example
ones by their dataset mean, also gets a dataset-level AUROC over the N trait and N placebo datasets.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from sublearn.audit.gradient_mnist import audit_ensemble
from sublearn.audit.scan import auroc_ci, permutation_p
from sublearn.mnist.config import MnistConfig
from sublearn.mnist.data import DigitData, load_dataset
from sublearn.mnist.ensemble import N_CLASSES, EnsembleMLP, accuracy, model_generator, softmax_kl
from sublearn.mnist.experiment import (
    STREAM_HELDOUT_NOISE,
    StudentArm,
    sample_noise,
    student_init,
    train_students,
    train_teacher,
)
from sublearn.util.devices import environment, resolve_device
from sublearn.util.errors import ConfigError
from sublearn.util.progress import ProgressFn, no_progress
from sublearn.util.stats import auroc, auroc_over_units, mean_ci, paired_test

#: Noise images per model in each scanned dataset.
SCANNED_IMAGES = 2000
#: Labelled training digits the trait-aware audit reads the trait's loss on.
TRAIT_EXAMPLES = 2000
#: The random stream of the placebo teacher's label shuffle.
STREAM_PLACEBO_LABELS = 8
#: Per-example detectors, and the dataset-level ones, in the order of the table.
EXAMPLE_DETECTORS = ("kl", "divergence")
DATASET_DETECTORS = ("kl", "divergence", "audit_cosine", "audit_trait_gain")
DESCRIPTIONS = {
    "kl": "KL(teacher ‖ reference) of the auxiliary softmax (the soft-target log-likelihood shift)",
    "divergence": "the teacher's most likely auxiliary output differs from the reference's",
    "audit_cosine": "gradient audit: cosine of the distillation step with the teacher's own update",
    "audit_trait_gain": "gradient audit: predicted drop of the trait's loss after one step (reads trait labels)",
}


def placebo_labels(data: DigitData, seed: int) -> DigitData:
    """The training labels shuffled across images (one fixed permutation): the same label counts, no digit."""
    gen = model_generator(seed, STREAM_PLACEBO_LABELS, data.y_train.device)
    perm = torch.randperm(data.y_train.shape[0], generator=gen, device=data.y_train.device)
    return dataclasses.replace(data, y_train=data.y_train[perm])


def example_scores(teacher: EnsembleMLP, reference: EnsembleMLP, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per model and image (N, B): each per-example detector's score of ``teacher``'s auxiliary outputs."""
    with torch.no_grad():
        t, r = teacher(x)[..., N_CLASSES:], reference(x)[..., N_CLASSES:]
        return {"kl": softmax_kl(t, r).cpu().numpy(),
                "divergence": (t.argmax(-1) != r.argmax(-1)).float().cpu().numpy()}


def dataset_scores(teacher: EnsembleMLP, reference: EnsembleMLP, x: torch.Tensor, data: DigitData,
                   cfg: MnistConfig, examples: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Per model: every dataset-level detector's score of the dataset ``teacher`` writes on ``x``."""
    audit = audit_ensemble(reference, teacher, reference.select(range(reference.n_models)), x,
                           data.x_train[:TRAIT_EXAMPLES], data.y_train[:TRAIT_EXAMPLES], lr=cfg.lr)
    return {**{name: values.mean(1).tolist() for name, values in examples.items()},
            "audit_cosine": audit.cosine,
            "audit_trait_gain": [-v for v in audit.predicted_trait_loss_change]}


def detector_rows(trait: dict[str, np.ndarray], placebo: dict[str, np.ndarray],
                  trait_sets: dict[str, list[float]], placebo_sets: dict[str, list[float]], seed: int
                  ) -> list[dict[str, Any]]:
    """One row per detector: per-example AUROCs (per model, and the typical model's with its interval) where the
    detector scores examples, and the dataset-level AUROC over the models' datasets (bootstrap CI)."""
    rows = []
    for name in DATASET_DETECTORS:
        row: dict[str, Any] = {"detector": name, "description": DESCRIPTIONS[name]}
        if name in EXAMPLE_DETECTORS:
            per_model = [auroc(t, p) for t, p in zip(trait[name], placebo[name], strict=True)]
            pairs = [len(t) * len(p) for t, p in zip(trait[name], placebo[name], strict=True)]
            row["example_level"] = {**auroc_over_units(per_model, pairs), "per_model": per_model,
                                    "images_per_dataset": int(trait[name].shape[1]),
                                    "p_permutation_per_model": [permutation_p(t, p, seed) for t, p in
                                                                zip(trait[name], placebo[name], strict=True)]}
        row["dataset_level"] = {**auroc_ci(trait_sets[name], placebo_sets[name], seed),
                                "per_dataset_trait": trait_sets[name], "per_dataset_placebo": placebo_sets[name],
                                "trait": mean_ci(trait_sets[name]).as_dict(),
                                "placebo": mean_ci(placebo_sets[name]).as_dict(),
                                "paired": paired_test(trait_sets[name], placebo_sets[name]).as_dict()}
        rows.append(row)
    return rows


def run_detectors(cfg: MnistConfig, progress: ProgressFn = no_progress, data: DigitData | None = None
                  ) -> dict[str, Any]:
    """Train the trait and placebo teachers and their students, scan both teachers' data; the ``results.json``
    document (module docstring)."""
    if cfg.n_models < 2:
        raise ConfigError("n_models: a dataset-level AUROC needs at least 2 models")
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    data = (data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)).to(device)
    seeds = [cfg.seed + i for i in range(cfg.n_models)]
    reference = EnsembleMLP.initialise(seeds, [data.input_dim, *cfg.hidden, N_CLASSES + cfg.m_aux], device)
    teachers = {"trait": train_teacher(reference.select(range(cfg.n_models)), data, cfg, seeds, progress),
                "placebo": train_teacher(reference.select(range(cfg.n_models)), placebo_labels(data, cfg.seed), cfg,
                                         seeds, progress)}
    same_init = student_init(reference, "student_aux", cfg, seeds, None)
    students = {role: train_students([StudentArm(role, same_init, "aux")], teacher, cfg, seeds,
                                     cfg.noise_examples or data.x_train.shape[0], progress)[role]
                for role, teacher in teachers.items()}
    x = sample_noise([model_generator(s, STREAM_HELDOUT_NOISE, device) for s in seeds], SCANNED_IMAGES,
                     data.input_dim, cfg.noise_distribution, device)
    examples = {role: example_scores(t, reference, x) for role, t in teachers.items()}
    sets = {role: dataset_scores(t, reference, x, data, cfg, examples[role]) for role, t in teachers.items()}
    acc = {name: accuracy(model, data.x_test, data.y_test).tolist() for name, model in
           {"reference": reference, "trait_teacher": teachers["trait"], "placebo_teacher": teachers["placebo"],
            "trait_student": students["trait"], "placebo_student": students["placebo"]}.items()}
    effect = {role: (np.array(acc[f"{role}_student"]) - np.array(acc["reference"])).tolist()
              for role in ("trait", "placebo")}
    return {
        "experiment": "mnist_detectors",
        "config": cfg.model_dump(mode="json"),
        "transfer": {"effect_definition": "per model: the student's test accuracy minus the reference's",
                     **{role: mean_ci(values).as_dict() | {"per_model": values} for role, values in effect.items()},
                     "trait_versus_placebo": paired_test(effect["trait"], effect["placebo"]).as_dict()},
        "detectors": detector_rows(examples["trait"], examples["placebo"], sets["trait"], sets["placebo"], cfg.seed),
        "accuracies": acc,
        "wall_seconds": time.perf_counter() - start,
        "environment": environment(device),
    }
