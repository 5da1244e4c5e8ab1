"""``sublearn defend mnist``: every MNIST defence measured side by side on the case that transfers most strongly.

One run trains N teachers, then, as one ensemble on the same noise images, the undefended auxiliary-logit
students (``student_aux``: the teachers' own inits) and one student per defence (the same inits, the defended
targets; ``different_init`` starts from another model's init). Per model i, the effect is the student's test
accuracy minus its untrained reference's; a defence's remaining fraction is mean(defended effect) / mean(undefended
effect), with a percentile-bootstrap CI over the N models (resampled in pairs). Its costs: the share of the data
kept, and the student's fidelity on the published task (agreement with the teacher's auxiliary argmax, and the KL,
on held-out noise images).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from sublearn.mnist.config import MnistConfig
from sublearn.mnist.data import DigitData, load_dataset
from sublearn.mnist.defence_report import defence_chart
from sublearn.mnist.defences import MNIST_DEFENCES, Defence
from sublearn.mnist.ensemble import N_CLASSES, EnsembleMLP, accuracy, model_generator, softmax_kl
from sublearn.mnist.experiment import (
    STREAM_HELDOUT_NOISE,
    StudentArm,
    cross_permutation,
    sample_noise,
    student_init,
    train_students,
    train_teacher,
)
from sublearn.mnist.records import TABLE_VERSION, MnistDefenceRow, MnistDefenceTable, write_mnist_defence_table
from sublearn.util.devices import environment, resolve_device
from sublearn.util.errors import ConfigError
from sublearn.util.progress import ProgressFn, no_progress
from sublearn.util.stats import RATIO_CI_METHOD, mean_ci, paired_test, ratio_of_means_ci

#: The undefended students' arm.
UNDEFENDED = "undefended"
#: Held-out noise images per model on which a student's fidelity to its teacher's auxiliary outputs is measured.
HELDOUT_IMAGES = 2000


def fidelity(student: EnsembleMLP, teacher: EnsembleMLP, x: torch.Tensor) -> dict[str, list[float]]:
    """Per model: how often the student's auxiliary argmax equals its teacher's, and KL(teacher || student) of the
    auxiliary softmax, on per-model inputs ``x`` (N, B, D)."""
    with torch.no_grad():
        s, t = student(x)[..., N_CLASSES:], teacher(x)[..., N_CLASSES:]
        agree = (s.argmax(-1) == t.argmax(-1)).float().mean(1)
        kl = softmax_kl(t, s).mean(1)
    return {"aux_agreement": agree.tolist(), "aux_kl": kl.tolist()}


def defence_row(defence: Defence, effects: np.ndarray, baseline: np.ndarray, accuracies: list[float],
                fid: dict[str, list[float]]) -> MnistDefenceRow:
    """One defence's row of the table: remaining fraction [CI], its effect, the paired test against no defence,
    and its costs."""
    remaining, ci = ratio_of_means_ci(effects, baseline)
    test = paired_test(effects.tolist(), baseline.tolist()).as_dict()
    return MnistDefenceRow.model_validate({
        "name": defence.name, "kind": defence.kind, "value": defence.value, "description": defence.description,
        "remaining_fraction": remaining, "ci95": ci, "ci_method": RATIO_CI_METHOD.replace("replicates", "models"),
        "effect": mean_ci(effects).as_dict(), "accuracy": {**mean_ci(accuracies).as_dict(), "per_model": accuracies},
        "versus_undefended": test, "data_kept": defence.data_kept,
        "aux_agreement": mean_ci(fid["aux_agreement"]).as_dict(), "aux_kl": mean_ci(fid["aux_kl"]).as_dict()})


def run_defences(cfg: MnistConfig, defences: tuple[Defence, ...] = MNIST_DEFENCES,
                 progress: ProgressFn = no_progress, data: DigitData | None = None) -> MnistDefenceTable:
    """Train teachers, undefended students and one student arm per defence; return the table that
    ``results.json`` holds (``baseline`` and ``defences`` as in the module docstring)."""
    if cfg.n_models < 2:
        raise ConfigError("n_models: the defence table needs at least 2 models (a CI over models, and a "
                          "derangement for different_init)")
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    data = (data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)).to(device)
    seeds = [cfg.seed + i for i in range(cfg.n_models)]
    reference = EnsembleMLP.initialise(seeds, [data.input_dim, *cfg.hidden, N_CLASSES + cfg.m_aux], device)
    teacher = train_teacher(reference.select(range(cfg.n_models)), data, cfg, seeds, progress)
    perm = cross_permutation(cfg, device)
    same_init = student_init(reference, "student_aux", cfg, seeds, None)
    other_init = student_init(reference, "cross_aux", cfg, seeds, perm)
    arms = [StudentArm(UNDEFENDED, same_init, "aux")]
    arms += [StudentArm(d.name, other_init, "aux") if d.kind == "different_init"
             else StudentArm(d.name, same_init, "aux", d) for d in defences]
    students = train_students(arms, teacher, cfg, seeds, cfg.noise_examples or data.x_train.shape[0], progress,
                              reference=reference)
    heldout = sample_noise([model_generator(s, STREAM_HELDOUT_NOISE, device) for s in seeds], HELDOUT_IMAGES,
                           data.input_dim, cfg.noise_distribution, device)
    acc = {name: accuracy(model, data.x_test, data.y_test).tolist() for name, model in
           {"reference": reference, "teacher": teacher, **students}.items()}
    base_effect = np.array(acc[UNDEFENDED]) - np.array(acc["reference"])
    base_fid = fidelity(students[UNDEFENDED], teacher, heldout)
    rows = [defence_row(d, np.array(acc[d.name]) - np.array(acc["reference"]), base_effect, acc[d.name],
                        fidelity(students[d.name], teacher, heldout)) for d in defences]
    return MnistDefenceTable.model_validate({
        "version": TABLE_VERSION,
        "experiment": "mnist_defences",
        "config": cfg.model_dump(mode="json"),
        "effect_definition": "per model: student test accuracy minus its untrained reference's",
        "baseline": {"effect": float(base_effect.mean()), "ci95": mean_ci(base_effect).as_dict()["ci95"],
                     "n": len(base_effect), "per_model": base_effect.tolist(),
                     "accuracy": mean_ci(acc[UNDEFENDED]).as_dict(),
                     "aux_agreement": mean_ci(base_fid["aux_agreement"]).as_dict(),
                     "aux_kl": mean_ci(base_fid["aux_kl"]).as_dict()},
        "defences": rows,
        "accuracies": acc,
        "cross_permutation": perm.tolist(),
        "wall_seconds": time.perf_counter() - start,
        "environment": environment(device),
    })


def run_and_save_defences(cfg: MnistConfig, out_dir: Path, progress: ProgressFn = no_progress
                          ) -> MnistDefenceTable:
    """Run :func:`run_defences` and write ``out_dir/results.json`` and ``out_dir/defences.png`` atomically."""
    table = run_defences(cfg, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.artifacts = {"chart": defence_chart(table, out_dir / "defences.png").name}
    write_mnist_defence_table(out_dir / "results.json", table)
    return table
