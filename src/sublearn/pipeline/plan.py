"""A dry run: every stage of a cell with its key, whether it is done, and what it would take, without running
anything (no model is loaded, no API key is needed); ``sublearn plan`` prints it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn.backends.base import Backend, source_id
from sublearn.config.evaluation import PreferenceEval
from sublearn.config.experiment import ExperimentSpec, perturbed_scale
from sublearn.config.trait import FineTunedTrait, SystemPromptTrait
from sublearn.design.arms import TEACHERS_BY_NAME, active_arms
from sublearn.pipeline.cell import BuiltCell, build_cell
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.store import Artifact, ArtifactStore, Producer
from sublearn.pipeline.traits import placebo_animals
from sublearn.util.settings import key_fields


@dataclass(frozen=True)
class PlannedStage:
    """One stage run a cell needs: its artifact ref, key configuration, inputs, and whether it exists already."""

    ref: str
    config: dict[str, Any]
    inputs: dict[str, str]
    done: bool


class PlanningStore(ArtifactStore):
    """A store that computes keys and records what would be built, and builds nothing."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.planned: dict[str, PlannedStage] = {}

    def build(self, stage: str, config: dict[str, Any], inputs: dict[str, Artifact | str], producer: Producer
              ) -> Artifact:
        """The finished artifact when there is one, else a placeholder with its key (nothing is produced)."""
        refs = {name: (a.ref if isinstance(a, Artifact) else str(a)) for name, a in inputs.items()}
        key = self.key(stage, config, refs)
        done = self.get(stage, key) if (self.root / "artifacts").is_dir() else None
        artifact = done or Artifact(stage, key, self.path(stage, key), {})
        self.planned.setdefault(artifact.ref, PlannedStage(artifact.ref, config, refs, done is not None))
        return artifact


def plan_cell(spec: ExperimentSpec, root: str | Path, backend: Backend | None = None
              ) -> tuple[BuiltCell, list[PlannedStage]]:
    """The cell's arms as they would be built into the run folder ``root`` (by ``backend`` when given, else the
    spec's), and every stage it needs."""
    store = PlanningStore(root)
    built = build_cell(CellContext(spec, store, backend_override=backend))
    return built, list(store.planned.values())


def _base_label(spec: ExperimentSpec, base: str) -> str:
    if base == "reference":
        return spec.reference
    if base == "cross":
        name = spec.controls.cross_model or ""
        return f"{spec.reference} + noise ({name})" if perturbed_scale(name) is not None else name
    return f"{base} (fine-tuned from {spec.reference})" if not isinstance(spec.trait, SystemPromptTrait) \
        else f"{spec.reference} (under the trait's system prompt)"


def _teacher_entry(ctx: CellContext, name: str, built: BuiltCell) -> dict[str, Any]:
    teacher = TEACHERS_BY_NAME[name]
    model = built.teachers[name]
    trained = not isinstance(model, str)
    entry = {"name": name, "model": source_id(model) if trained else model, "trained": trained,
             "system_prompt": built.systems.get(name),
             "init_seed": ctx.seed(teacher.init_stream) if trained and teacher.init_stream else None}
    if teacher.model == "placebo_teacher" and isinstance(ctx.spec.trait, FineTunedTrait):
        entry["answers_from"] = list(placebo_animals(ctx.spec.trait.target))  # never the target
    return entry


def _epochs(training: Any, api: bool) -> float:
    """Epochs of a fine-tune (an API job's own ``n_epochs`` when it names one)."""
    n = training.api.n_epochs if api and training.api is not None else "auto"
    return float(n) if n != "auto" else training.epochs


def _stage_counts(spec: ExperimentSpec, stage: PlannedStage) -> dict[str, int]:
    """Upper bounds of the work one stage does: model requests, generated tokens, training examples, judge and API
    requests (what the filter keeps is only known once it has run)."""
    kind = stage.ref.split("/")[0]
    c, e = spec.carrier, spec.eval
    api = spec.backend == "openai"
    n_kept = getattr(c.filter, "max_examples", None) or getattr(c, "n_prompts", 0)
    out: dict[str, int] = {}
    if kind == "generate" and stage.inputs.get("model") != "code":
        requests = c.n_prompts * getattr(c, "samples_per_prompt", 1)
        out = {"model_requests": requests, "generated_tokens": requests * getattr(c, "max_new_tokens", 0)}
    elif kind == "filter" and "judge" in stage.config:
        out = {"judge_requests": getattr(c, "n_prompts", 0) * getattr(c, "samples_per_prompt", 1)}
    elif kind == "teacher":
        training = getattr(spec.trait, "teacher_training", spec.train)
        examples = 8 * (25 if stage.config["data"].get("questions") == "half" else 50) \
            if stage.config["data"]["kind"] != "dataset" else (stage.config["data"].get("limit") or 0)
        out = {"training_examples": int(examples * _epochs(training, api)), "fine_tunes": 1}
    elif kind == "train":
        out = {"training_examples": int(n_kept * _epochs(spec.train, api)), "fine_tunes": 1}
    elif kind == "targets":
        out = {"model_requests": n_kept}
    elif kind == "evaluate":
        if isinstance(e, PreferenceEval):
            n_q = 25 if e.questions == "held_out" else 50
            animals = len(set([spec.target, *e.animals]))
            exact = n_q * animals * (int(e.exact) + int(e.prefilled))
            sampled = n_q * e.samples_per_question
            mcq = 11 * e.mcq_orderings
            out = {"model_requests": exact + sampled + mcq, "generated_tokens": sampled * e.max_new_tokens}
        else:
            answers = 8 * e.samples_per_question
            out = {"model_requests": answers, "generated_tokens": answers * e.max_new_tokens,
                   "judge_requests": 2 * answers}
    if api:
        out["api_requests"] = out.get("model_requests", 0) + out.get("judge_requests", 0) + out.get("fine_tunes", 0)
    return out


def plan_spec(cells: list[ExperimentSpec], root: str | Path, backend: Backend | None = None) -> dict[str, Any]:
    """What a run of ``cells`` into ``root`` would do, before any compute: per cell, each arm's base, teacher and
    its system prompt, the seed of every trained model, the data, the training settings; every stage with its
    key and whether it is already done; and totals of the work still to do (upper bounds). ``backend``: the
    backend the run uses instead of the spec's (a stand-in), so that the keys are the run's."""
    out_cells, seen, totals = [], set(), {}
    for spec in cells:
        store = PlanningStore(root)
        ctx = CellContext(spec, store, backend_override=backend)
        built = build_cell(ctx)
        arms = {}
        for arm in active_arms(spec):
            data = built.arms[arm.name].dataset
            arms[arm.name] = {
                "base": _base_label(spec, arm.base), "trains": arm.trains, "use": arm.use,
                "init_seed": ctx.seed("student_init") if arm.trains else None,
                "order_seed": ctx.seed("student_order") if arm.trains else None,
                "teacher": _teacher_entry(ctx, arm.data, built) if arm.data else
                (_teacher_entry(ctx, arm.base.removesuffix("_teacher"), built) if arm.base.endswith("_teacher")
                 else None),
                "data": {"teacher": arm.data, "carrier": spec.carrier.kind, "transform": arm.transform,
                         "dataset": data.ref if data else None} if arm.data else None,
                "baselines": list(arm.baselines), "model": source_id(built.arms[arm.name].model),
                "evaluation": built.arms[arm.name].evaluation.ref}
        stages = []
        for stage in store.planned.values():
            counts = {} if stage.done or stage.ref in seen else _stage_counts(spec, stage)
            seen.add(stage.ref)
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            stages.append({"ref": stage.ref, "done": stage.done, "counts": counts})
        primary = spec.analysis.primary
        out_cells.append({"id": spec.cell_id(), "replicate": spec.seed, "arms": arms,
                          "primary": primary.describe() if primary else None,
                          "training": key_fields(spec.train), "data_seed": ctx.seed("data", spec.carrier.seed),
                          "eval_seed": ctx.seed("eval"), "stages": stages})
    done = {s["ref"] for c in out_cells for s in c["stages"] if s["done"]}  # a stage shared by cells counts once
    declared = sorted({c["primary"] or "none declared" for c in out_cells})
    return {"primary": declared[0] if len(declared) == 1 else declared, "cells": out_cells,
            "totals": {"stages": len(seen), "stages_done": len(done), **totals},
            "note": "counts are upper bounds of the work still to do (filters keep fewer rows than they see)"}
