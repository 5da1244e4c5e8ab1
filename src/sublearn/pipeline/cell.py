"""One cell: build every active arm from the arms table, evaluate it, and write the cell report."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sublearn.backends.base import ModelSource, source_id
from sublearn.config.carrier import NumbersFilter
from sublearn.defences.registry import defence_for
from sublearn.design.arms import active_arms, active_teachers, comparisons
from sublearn.pipeline import model_stages, stages
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.store import Artifact
from sublearn.util.jsonl import read_jsonl
from sublearn.util.stats import paired_test


@dataclass(frozen=True)
class BuiltArm:
    """An arm's model, the data it used, and its evaluation."""

    model: ModelSource
    dataset: Artifact | None
    evaluation: Artifact
    targets: Artifact | None = None  # soft targets it trained on (a defend artifact when a defence applied)


@dataclass(frozen=True)
class BuiltCell:
    """Every arm of a cell, the teachers' models and system prompts, and their datasets."""

    arms: dict[str, BuiltArm]
    teachers: dict[str, ModelSource]
    systems: dict[str, str | None]
    datasets: dict[str, Artifact]
    cross: ModelSource | None = None
    lineage: Artifact | None = None  # the family check of the cross base against the teachers' initialisation


def teacher_datasets(ctx: CellContext, teachers: dict[str, ModelSource], systems: dict[str, str | None]
                     ) -> dict[str, Artifact]:
    """Each given teacher's filtered data, in the canonical format and length-matched when the filter asks."""
    datasets = {name: stages.filter_data(ctx, stages.generate(ctx, source, systems[name]), name)
                for name, source in teachers.items()}
    f = ctx.spec.carrier.filter
    if isinstance(f, NumbersFilter) and f.format == "canonical":
        datasets = {name: stages.transform(ctx, d, "canonical") for name, d in datasets.items()}
    if isinstance(f, NumbersFilter) and f.match_lengths and len(datasets) > 1:
        datasets = stages.length_match(ctx, datasets)
    return datasets


def reference_data(ctx: CellContext) -> Artifact:
    """The data the reference itself writes for the carrier (no system prompt), filtered like a teacher's: what
    text teacher mixing mixes in."""
    return stages.filter_data(ctx, stages.generate(ctx, ctx.spec.reference, None), "reference")


def build_cell(ctx: CellContext) -> BuiltCell:
    """Run (or find) every stage of the cell's active arms."""
    spec = ctx.spec
    arms_on = active_arms(spec)
    chosen = active_teachers(spec)
    teachers = {t.name: model_stages.teacher_model(ctx, t) for t in chosen}
    systems = {t.name: model_stages.teacher_system(ctx, t) for t in chosen}
    writers = {arm.data for arm in arms_on if arm.data}
    datasets = teacher_datasets(ctx, {n: m for n, m in teachers.items() if n in writers}, systems)
    bases: dict[str, ModelSource | None] = {
        "reference": spec.reference, "trait_teacher": teachers["trait"], "placebo_teacher": teachers.get("placebo"),
        "cross": model_stages.cross_model(ctx) if spec.controls.cross_model else None}
    soft = spec.train.objective == "soft_numbers"
    defence = defence_for(spec.defence)
    arms: dict[str, BuiltArm] = {}
    for arm in arms_on:
        base = bases[arm.base]
        assert base is not None
        data = datasets[arm.data] if arm.data else None
        if data is not None and arm.transform:
            data = stages.transform(ctx, data, arm.transform)
        targets = None
        if arm.use == "train":
            assert data is not None and arm.data is not None
            targets = stages.soft_targets(ctx, teachers[arm.data], systems[arm.data], data) if soft else None
            if targets is not None and defence.active:
                reference = stages.soft_targets(ctx, spec.reference, None, data) \
                    if defence.needs_reference_targets else None
                targets = stages.defend(ctx, targets, reference)
            elif not soft and defence.active:
                data = stages.defend_text(ctx, data, teachers[arm.data], systems[arm.data], arm.data,
                                          reference_data(ctx) if defence.needs_reference_rows else None)
            model: ModelSource = stages.train(ctx, base, data, targets)
            evaluation = stages.evaluate(ctx, model)
        elif arm.use == "icl":
            model, evaluation = base, stages.evaluate(ctx, base, examples=data)
        else:
            model = base
            teacher = arm.base.removesuffix("_teacher") if arm.base.endswith("_teacher") else None
            evaluation = stages.evaluate(ctx, base, systems[teacher] if teacher else None)
        arms[arm.name] = BuiltArm(model, data, evaluation, targets)
    cross = bases["cross"]
    checked = model_stages.lineage(ctx, cross) if cross is not None and spec.backend == "hf" else None
    return BuiltCell(arms, teachers, systems, datasets, cross, checked)


def per_question_tests(built: BuiltCell) -> dict[str, Any]:
    """Paired tests over the questions between each arm and its baselines, per readout."""
    metrics = {name: read_jsonl(arm.evaluation.path / "metrics.jsonl")[0]["metrics"]
               for name, arm in built.arms.items()}
    out: dict[str, Any] = {}
    for a, b in comparisons(list(built.arms)):
        for metric in sorted(metrics[a].keys() & metrics[b].keys()):
            xa, xb = metrics[a][metric]["per_question"], metrics[b][metric]["per_question"]
            if len(xa) == len(xb) >= 2:
                out[f"{a}-{b}:{metric}"] = paired_test(xa, xb).as_dict()
    return out


def cell_report(ctx: CellContext, built: BuiltCell, seconds: float) -> dict[str, Any]:
    """The cell report: each arm's model, evaluation, readouts and data; the datasets' counts; the tests."""
    spec = ctx.spec
    return {
        "cell": spec.cell_id(),
        "spec": spec.model_dump(mode="json"),
        "arms": {name: {"model": source_id(arm.model), "evaluation": arm.evaluation.ref,
                        "metrics": arm.evaluation.manifest["metrics"],
                        "dataset": arm.dataset.ref if arm.dataset else None,
                        "targets": arm.targets.ref if arm.targets else None,
                        "defence": _defence(arm), "data_sha256": _data_digest(arm)}
                 for name, arm in built.arms.items()},
        "datasets": {name: {"ref": a.ref, **{k: a.manifest.get(k) for k in ("n_in", "n_passed", "n_kept",
                                                                            "rejections", "stats")}}
                     for name, a in built.datasets.items()},
        "bases": {"reference": spec.reference,
                  "cross": _cross_base(spec.controls.cross_model, built.cross, built.lineage)},
        "teachers": {name: {"model": source_id(model), "system": built.systems.get(name),
                            "init_seed": model.manifest.get("init_seed") if not isinstance(model, str) else None}
                     for name, model in built.teachers.items()},
        "comparisons": per_question_tests(built),
        "wall_seconds": round(seconds, 3),
    }


def _data_digest(arm: BuiltArm) -> str | None:
    """A digest of what the arm learned from: the content of its rows and of its soft targets (``None``: it used
    no data). Two arms with one digest were given the same data, whichever teachers wrote it."""
    used = [a for a in (arm.dataset, arm.targets) if a is not None]
    if not used:
        return None
    files = [f"{name}:{entry['sha256']}" for a in used for name, entry in sorted(a.manifest["files"].items())]
    return hashlib.sha256("\n".join(files).encode()).hexdigest()


def _defence(arm: BuiltArm) -> str | None:
    """The defence applied to what the arm trained on: its soft targets, or its text data."""
    defended = arm.targets or arm.dataset
    return defended.manifest.get("defence") if defended is not None else None


def _cross_base(name: str | None, model: ModelSource | None, lineage: Artifact | None) -> dict[str, Any] | None:
    """The other base: its name and model, for a perturbed reference the scale and distance reached, and the
    family check against the teachers' initialisation."""
    if name is None or model is None:
        return None
    manifest = {} if isinstance(model, str) else model.manifest
    checked = {k: lineage.manifest.get(k) for k in ("score", "verdict", "reason")} if lineage else None
    return {"name": name, "model": source_id(model), "scale": manifest.get("scale"),
            "relative_distance": manifest.get("relative_distance"), "lineage": checked,
            "lineage_ref": lineage.ref if lineage else None}


def run_cell(ctx: CellContext) -> dict[str, Any]:
    """Every arm of the cell; returns the cell report."""
    started = time.perf_counter()
    built = build_cell(ctx)
    return cell_report(ctx, built, time.perf_counter() - started)
