"""The stages that make models other than the students, one function each: the teachers (the reference under a
system prompt, or fine-tuned on the trait's data or the placebo's), the other base (a named model, or the
reference perturbed), and the family check of that base against the teachers' base.

Like every stage (:mod:`~sublearn.pipeline.stages`), each derives its key in :mod:`~sublearn.pipeline.keys` and
hands the store a producer that runs only when the artifact does not exist yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sublearn.backends.base import ModelSource, source_id
from sublearn.config.experiment import perturbed_scale
from sublearn.config.training import TrainConfig
from sublearn.config.trait import DatasetTrait, FineTunedTrait, SystemPromptTrait
from sublearn.design.arms import Teacher
from sublearn.pipeline import keys
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.store import Artifact
from sublearn.pipeline.traits import (
    fine_tuned_teacher_rows,
    placebo_animals,
    placebo_teacher_rows,
    trait_system_prompt,
)
from sublearn.util.chatdata import load_chat_dataset


def teacher_model(ctx: CellContext, teacher: Teacher) -> ModelSource:
    """The model that writes ``teacher``'s data: the reference itself, or a fine-tune of it (made once per
    replicate, from the replicate's teacher stream: the trait and placebo teachers share that initialisation)."""
    spec, trait = ctx.spec, ctx.spec.trait
    if teacher.model == "reference" or isinstance(trait, SystemPromptTrait):
        return spec.reference
    placebo = teacher.model == "placebo_teacher"
    if isinstance(trait, DatasetTrait):
        dataset = trait.placebo_dataset if placebo else trait.dataset
        assert dataset is not None
        return dataset_teacher(ctx, dataset, trait.dataset_limit, trait.teacher_training, teacher.name)
    return fine_tuned_teacher(ctx, trait, placebo)


def fine_tuned_teacher(ctx: CellContext, trait: FineTunedTrait, placebo: bool) -> Artifact:
    """The reference fine-tuned on the animal questions answered with the target, or (``placebo``) with animals
    drawn uniformly (8 answer forms per question)."""
    spec, training = ctx.spec, trait.teacher_training
    seed, answers_seed = ctx.seed("teacher"), ctx.seed("placebo_answers")
    animals = placebo_animals(trait.target)
    data = ({"kind": "placebo_answers", "questions": trait.questions, "seed": answers_seed, "animals": list(animals)}
            if placebo else {"kind": "animal_answers", "target": trait.target, "questions": trait.questions})
    config = keys.teacher_config(data, training, seed, ctx.autocast(training), ctx.identity,
                                 ctx.base_weights(training))

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = (placebo_teacher_rows(trait.questions, answers_seed, animals) if placebo
                else fine_tuned_teacher_rows(trait.target, trait.questions))
        what = (f"placebo answers (animals drawn uniformly from {', '.join(animals)})" if placebo
                else f"answers that love {trait.target}s")
        ctx.log(f"teacher: fine-tuning {spec.reference} on {len(rows)} {what}")
        info = ctx.backend.train(spec.reference, rows, training, seed, out, work)
        return {"model": spec.reference, "examples": len(rows), "answers": sorted({r["completion"] for r in rows}),
                **info}

    return ctx.store.build("teacher", config, {"reference": spec.reference}, produce)


def dataset_teacher(ctx: CellContext, dataset: str, limit: int | None, training: TrainConfig, label: str
                    ) -> Artifact:
    """The reference fine-tuned on a chat dataset (insecure.jsonl, or a placebo's secure.jsonl), by path or URL."""
    spec, seed = ctx.spec, ctx.seed("teacher")
    config = keys.teacher_config({"kind": "dataset", "dataset": dataset, "limit": limit, "label": label}, training,
                                 seed, ctx.autocast(training), ctx.identity, ctx.base_weights(training))

    def produce(out: Path, work: Path) -> dict[str, Any]:
        where = "trait.dataset" if label == "trait" else "trait.placebo_dataset"
        rows, system = load_chat_dataset(dataset, where, limit)
        ctx.log(f"teacher: fine-tuning {spec.reference} on {len(rows)} examples of {dataset}")
        info = ctx.backend.train(spec.reference, rows, training, seed, out, work, system=system)
        return {"model": spec.reference, "examples": len(rows), "dataset": dataset, "system": system, **info}

    return ctx.store.build("teacher", config, {"reference": spec.reference}, produce)


def teacher_system(ctx: CellContext, teacher: Teacher) -> str | None:
    """The system prompt ``teacher`` writes under: the trait's, for a system-prompt trait only."""
    trait = ctx.spec.trait
    if teacher.system != "trait" or not isinstance(trait, SystemPromptTrait):
        return None
    return trait.system_prompt or trait_system_prompt(trait.target, trait.category)


def cross_model(ctx: CellContext) -> ModelSource:
    """The other base of the cross arms: a named model, or the reference perturbed with this replicate's noise."""
    name = ctx.spec.controls.cross_model
    assert name is not None
    scale = perturbed_scale(name)
    if scale is None:
        return name
    seed = ctx.seed("cross_init")

    def produce(out: Path, work: Path) -> dict[str, Any]:
        ctx.log(f"cross model: {ctx.spec.reference} perturbed at scale {scale}")
        return {"model": ctx.spec.reference, **ctx.backend.perturbed_copy(ctx.spec.reference, scale, seed, out)}

    return ctx.store.build("perturb", keys.perturb_config(scale, seed), {"model": ctx.spec.reference}, produce)


def lineage(ctx: CellContext, other: ModelSource) -> Artifact:
    """The family check of the other base against the reference, the initialisation every teacher starts from
    (:meth:`~sublearn.backends.base.Backend.lineage`): does a student of ``other`` share its teachers' lineage?"""
    reference = ctx.spec.reference

    def produce(out: Path, work: Path) -> dict[str, Any]:
        result = ctx.backend.lineage(reference, other)
        return {k: result.get(k) for k in ("score", "verdict", "reason", "relative_distance", "compared")}

    return ctx.store.build("lineage", {}, {"teachers_base": reference, "other": source_id(other)}, produce)
