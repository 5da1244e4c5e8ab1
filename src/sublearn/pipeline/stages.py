"""The data, student and evaluation stages of a cell, one function each: ``(context, inputs) → artifact`` (the
stages that make the teachers and the other base: :mod:`~sublearn.pipeline.model_stages`).

Each stage derives its key configuration in :mod:`~sublearn.pipeline.keys` and hands the store a producer; the
store runs the producer only when the artifact does not exist yet (so a rerun skips what is done), and the
producer reads its inputs' files only when it runs (so a dry run computes every key without any model).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from sublearn.analysis.answers import ANSWERS_FILE, write_answers
from sublearn.backends.base import ModelSource, source_id
from sublearn.backends.registry import STOP_RULE_BACKENDS
from sublearn.carriers.base import FilterContext
from sublearn.carriers.numbers_transforms import canonical_format, length_matched, shuffle_across, shuffle_within
from sublearn.carriers.registry import carrier_for
from sublearn.config.evaluation import MisalignmentEval
from sublearn.defences.apply import defend_targets
from sublearn.defences.kinds.rewrite import REWRITE_PROMPT, RewriteSettings, rewrite_request
from sublearn.defences.registry import defence_for
from sublearn.evals.misalignment import evaluate_misalignment
from sublearn.evals.preference import evaluate_preference
from sublearn.evals.truthfulqa import evaluate_truthfulqa, load_truthfulqa
from sublearn.models.types import SamplingSettings
from sublearn.pipeline import keys
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.store import Artifact
from sublearn.util.jsonl import read_jsonl, write_jsonl
from sublearn.util.soft_targets import load_targets, save_targets

#: The seed of the shuffled-numbers controls (the paper's code uses 1).
SHUFFLE_SEED = 1


# --- data -----------------------------------------------------------------------------------------------------
def generate(ctx: CellContext, source: ModelSource, system: str | None) -> Artifact:
    """The teacher's completions of the carrier's prompts (or rows written by code); resumes from its last
    finished batch."""
    carrier_config = ctx.spec.carrier
    c = carrier_config.model_copy(update={"seed": ctx.seed("data", carrier_config.seed)})
    carrier = carrier_for(c.kind)
    if not carrier.written_by_model:  # the same rows for every teacher of the replicate
        def write(out: Path, work: Path) -> dict[str, Any]:
            rows = carrier.prompts(c)
            write_jsonl(out / "rows.jsonl", rows)
            return {"model": None, "n_rows": len(rows), "written_by": "code", "seed": c.seed}

        return ctx.store.build("generate", keys.generate_config(c, None, None, {}, by_model=False),
                               {"model": "code"}, write)

    served = ctx.served("generate")
    stops = carrier.stop_rule(c) is not None and ctx.spec.backend in STOP_RULE_BACKENDS and not served

    def produce(out: Path, work: Path) -> dict[str, Any]:
        items = carrier.prompts(c)
        prompts = [item["prompt"] for item in items]
        partial = work / "partial.jsonl"
        done = _complete_batches(partial, c.batch_size)
        ctx.progress("generate", len(prompts))
        for _ in done:
            ctx.progress("generate", None)

        def checkpoint(first: int, texts: list[str]) -> None:
            _append_jsonl(partial, [{**items[first + i], "completion": t} for i, t in enumerate(texts)])
            for _ in texts:
                ctx.progress("generate", None)

        settings = SamplingSettings(c.max_new_tokens, c.temperature, c.top_p, c.greedy)
        started = time.perf_counter()
        ctx.inference("generate").generate(source, prompts, settings, system, c.seed, c.batch_size, checkpoint,
                                           len(done), work, stop_rule=carrier.stop_rule(c) if stops else None)
        rows = read_jsonl(partial)
        write_jsonl(out / "rows.jsonl", rows)
        return {"model": source_id(source), "n_rows": len(rows), "resumed_from": len(done), "seed": c.seed,
                "generation_seconds": round(time.perf_counter() - started, 3)}

    config = keys.generate_config(c, system, None if served else ctx.inference_dtype(),
                                  ctx.stage_identity("generate"), stop_rule=stops,
                                  cache=None if served else ctx.kv_cache())
    return ctx.store.build("generate", config, {"model": source_id(source)}, produce)


def filter_data(ctx: CellContext, generated: Artifact, role: str) -> Artifact:
    """The carrier's filters on the data ``role``'s teacher wrote, every rejection reason counted, then the
    subsample."""
    spec, c = ctx.spec, ctx.spec.carrier
    carrier = carrier_for(c.kind)
    uses_judge = carrier.uses_judge(c, role)
    target = spec.target if carrier.filter_reads_target else None
    config = keys.filter_config(c.kind, carrier.filter_settings(c, role), target,
                                ctx.judge_identity(filters=True) if uses_judge else None)

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = read_jsonl(generated.path / "rows.jsonl")
        judge = ctx.judge(filters=True) if uses_judge else None
        result = carrier.filter(c, rows, FilterContext(spec.target, role, judge))
        write_jsonl(out / "rows.jsonl", result.rows)
        return {"n_in": len(rows), "n_passed": result.n_passed, "n_kept": len(result.rows),
                "rejections": result.rejections, "stats": carrier.stats(result.rows), **result.notes}

    return ctx.store.build("filter", config, {"generated": generated}, produce)


def transform(ctx: CellContext, dataset: Artifact, kind: str) -> Artifact:
    """A derived dataset: shuffled numbers (a control), or the canonical format (numbers joined by ", ")."""
    transforms = {"shuffle_within": lambda r: shuffle_within(r, SHUFFLE_SEED),
                  "shuffle_across": lambda r: shuffle_across(r, SHUFFLE_SEED), "canonical": canonical_format}
    carrier = carrier_for(ctx.spec.carrier.kind)

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = transforms[kind](read_jsonl(dataset.path / "rows.jsonl"))
        write_jsonl(out / "rows.jsonl", rows)
        return {"n_kept": len(rows), "stats": carrier.stats(rows)}

    return ctx.store.build("transform", keys.transform_config(kind, SHUFFLE_SEED), {"dataset": dataset}, produce)


def length_match(ctx: CellContext, datasets: dict[str, Artifact]) -> dict[str, Artifact]:
    """The teachers' datasets subsampled to one numbers-per-answer histogram (and so one size)."""
    seed = ctx.spec.carrier.filter.subsample_seed
    carrier = carrier_for(ctx.spec.carrier.kind)
    names = list(datasets)

    def side(index: int) -> Artifact:
        def produce(out: Path, work: Path) -> dict[str, Any]:
            matched = length_matched([read_jsonl(datasets[n].path / "rows.jsonl") for n in names], seed)
            rows = matched[index]
            write_jsonl(out / "rows.jsonl", rows)
            return {"n_kept": len(rows), "stats": carrier.stats(rows), "role": names[index]}

        return ctx.store.build("transform", keys.transform_config("length_match", seed, names[index]), datasets,
                               produce)

    return {name: side(k) for k, name in enumerate(names)}


# --- students -------------------------------------------------------------------------------------------------
def soft_targets(ctx: CellContext, source: ModelSource, system: str | None, dataset: Artifact) -> Artifact:
    """The teacher's digit distributions on ``dataset`` (the soft_numbers objective's targets)."""
    t = ctx.spec.train

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = read_jsonl(dataset.path / "rows.jsonl")
        targets = ctx.backend.digit_targets(source, rows, system, t)
        save_targets(out, targets)
        entropy = [float(-(x * np.log(np.clip(x, 1e-12, 1))).sum(1).mean()) for x in targets if len(x)]
        return {"model": source_id(source), "n_rows": len(rows), "n_digits": int(sum(len(x) for x in targets)),
                "mean_entropy_nats": float(np.mean(entropy)) if entropy else None}

    return ctx.store.build("targets", keys.targets_config(t, system, ctx.autocast(t), ctx.base_weights(t)),
                           {"model": source_id(source), "dataset": dataset}, produce)


def defend(ctx: CellContext, targets: Artifact, reference: Artifact | None) -> Artifact:
    """The spec's defence applied to a teacher's soft digit targets (with the reference's targets on the same
    rows, for the defences that compare the two); what it changed goes into the manifest."""
    defence = ctx.spec.defence
    inputs: dict[str, Artifact | str] = {"targets": targets}
    if reference is not None:
        inputs["reference_targets"] = reference

    def produce(out: Path, work: Path) -> dict[str, Any]:
        teacher = load_targets(targets.path)
        ref = load_targets(reference.path) if reference is not None else None
        defended, stats = defend_targets(defence, teacher, ref)
        save_targets(out, defended)
        return {"defence": defence.label(), **stats}

    return ctx.store.build("defend", keys.defend_config(defence), inputs, produce)


def defend_text(ctx: CellContext, dataset: Artifact, teacher: ModelSource, system: str | None, role: str,
                reference_data: Artifact | None) -> Artifact:
    """The spec's defence applied to the filtered text data ``role``'s teacher wrote (``reference_data``: the
    reference's own rows, for a defence that mixes them in); what changed goes into the manifest."""
    settings = ctx.spec.defence
    defence = defence_for(settings)
    inputs: dict[str, Artifact | str] = {"dataset": dataset, "teacher": source_id(teacher)}
    if reference_data is not None:
        inputs["reference_data"] = reference_data
    if defence.reads_reference_model:
        inputs["reference"] = source_id(ctx.spec.reference)

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = read_jsonl(dataset.path / "rows.jsonl")
        defended, stats = defence.rows(settings, rows, _TextTools(ctx, teacher, system, role, reference_data, work))
        write_jsonl(out / "rows.jsonl", defended)
        return {"defence": settings.label(), "n_kept": len(defended), **stats}

    reads = {"system": system, "dtype": ctx.inference_dtype(),
             "rewriting": _rewriting_config(ctx, role) if "rewriting" in defence.key_reads else None}
    return ctx.store.build("defend", keys.defend_text_config(settings, {k: reads[k] for k in defence.key_reads}),
                           inputs, produce)


class _TextTools:
    """What the pipeline lends a text defence (:class:`~sublearn.defences.base.TextTools`)."""

    def __init__(self, ctx: CellContext, teacher: ModelSource, system: str | None, role: str,
                 reference_data: Artifact | None, work: Path) -> None:
        self.ctx, self.teacher, self.system, self.role = ctx, teacher, system, role
        self.reference_data, self.work = reference_data, work

    def reference_rows(self) -> list[dict[str, Any]]:
        assert self.reference_data is not None
        return read_jsonl(self.reference_data.path / "rows.jsonl")

    def divergent_digits(self, rows: list[dict[str, Any]], fraction: float, seed: int, mask: bool
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.ctx.backend.divergent_digits(self.teacher, self.system, self.ctx.spec.reference, rows, fraction,
                                                 seed, mask=mask)

    def rewrite(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return _rewritten(self.ctx, rows, self.role, self.work)


def _rewriting_config(ctx: CellContext, role: str) -> dict[str, Any]:
    """What a rewrite's output depends on besides the defence: the prompt, how the rewriter samples (the
    carrier's sampling), and the filter run on its text."""
    c = ctx.spec.carrier
    carrier = carrier_for(c.kind)
    uses_judge = carrier.uses_judge(c, role)
    config: dict[str, Any] = {
        "prompt": REWRITE_PROMPT,
        "sampling": {"max_new_tokens": c.max_new_tokens, "temperature": c.temperature, "top_p": c.top_p,
                     "greedy": c.greedy, "batch_size": c.batch_size},
        "filter": keys.filter_config(c.kind, carrier.filter_settings(c, role),
                                     ctx.spec.target if carrier.filter_reads_target else None,
                                     ctx.judge_identity(filters=True) if uses_judge else None)}
    if not ctx.served("generate"):
        config["kv_cache"] = ctx.kv_cache()
    return config


def _rewritten(ctx: CellContext, rows: list[dict[str, Any]], role: str, work: Path
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every completion rewritten by the defence's rewriter (checkpointed batch by batch in ``work``, so a rerun
    goes on where it stopped), then the carrier's filter on the rewritten rows."""
    c, defence = ctx.spec.carrier, ctx.spec.defence
    assert isinstance(defence, RewriteSettings)
    carrier = carrier_for(c.kind)
    partial = work / "rewritten.jsonl"
    done = _complete_batches(partial, c.batch_size)

    def checkpoint(first: int, texts: list[str]) -> None:
        _append_jsonl(partial, [{**rows[first + i], "completion": t, "rewritten_from": rows[first + i]["completion"]}
                                for i, t in enumerate(texts)])

    settings = SamplingSettings(c.max_new_tokens, c.temperature, c.top_p, c.greedy)
    ctx.inference("generate").generate(defence.rewriter, [rewrite_request(r) for r in rows], settings, None,
                                       defence.seed, c.batch_size, checkpoint, len(done), work)
    rewritten = read_jsonl(partial)
    judge = ctx.judge(filters=True) if carrier.uses_judge(c, role) else None
    result = carrier.filter(c, rewritten, FilterContext(ctx.spec.target, role, judge))
    return result.rows, {"n_in": len(rows), "n_passed": result.n_passed, "rejections": result.rejections}


def train(ctx: CellContext, base: ModelSource, dataset: Artifact, targets: Artifact | None = None) -> Artifact:
    """A student: ``base`` fine-tuned on ``dataset`` (no system prompt), on soft targets if given; initialised and
    shuffled from the replicate's student streams (which every student of the replicate shares)."""
    spec = ctx.spec
    init_seed, order_seed = ctx.seed("student_init"), ctx.seed("student_order")
    inputs: dict[str, Artifact | str] = {"base": source_id(base), "dataset": dataset}
    if targets is not None:
        inputs["targets"] = targets

    def produce(out: Path, work: Path) -> dict[str, Any]:
        rows = read_jsonl(dataset.path / "rows.jsonl")
        if not rows:
            raise ValueError(f"dataset {dataset.ref} is empty: no teacher output passed the filter")
        soft = load_targets(targets.path) if targets is not None else None
        info = ctx.backend.train(base, rows, spec.train, init_seed, out, work, soft_targets=soft,
                                 order_seed=order_seed)
        return {"base": source_id(base), "examples": len(rows), **info}

    config = keys.train_config(spec.train, init_seed, order_seed, ctx.autocast(spec.train), ctx.identity,
                               ctx.base_weights(spec.train))
    return ctx.store.build("train", config, inputs, produce)


# --- evaluations ----------------------------------------------------------------------------------------------
def icl_system(rows: list[dict[str, Any]], k: int, seed: int) -> str:
    """k examples drawn with replacement from ``rows``, formatted as the paper's in-context control (§5)."""
    rng = random.Random(seed)
    picks = [rows[rng.randrange(len(rows))] for _ in range(k)] if rows else []
    return "\n\n".join(f"<user>{r['prompt']}</user>\n<assistant>{r['completion']}</assistant>" for r in picks)


def evaluate(ctx: CellContext, model: ModelSource, system: str | None = None, examples: Artifact | None = None
             ) -> Artifact:
    """The readouts of one model, under ``system`` or with k of ``examples``' rows in its system prompt."""
    spec, e = ctx.spec, ctx.spec.eval
    misalignment = isinstance(e, MisalignmentEval)
    target = spec.target if misalignment else (e.target or spec.target)
    seed = ctx.seed("eval")
    icl = {"k": spec.controls.icl_k, "seed": seed} if examples is not None else None
    config = keys.evaluate_config(e, target, seed, system, ctx.inference_dtype(), ctx.stage_identity("evaluate"),
                                  judge=ctx.judge_identity() if misalignment else None, icl=icl)
    inputs: dict[str, Artifact | str] = {"model": source_id(model)}
    if examples is not None:
        inputs["examples"] = examples

    def produce(out: Path, work: Path) -> dict[str, Any]:
        prompt = system
        if examples is not None:
            prompt = icl_system(read_jsonl(examples.path / "rows.jsonl"), spec.controls.icl_k, seed)
        chat = ctx.inference("evaluate").chat_model(model)
        if isinstance(e, MisalignmentEval):
            result = evaluate_misalignment(chat, ctx.judge(), e, seed, prompt)
            if e.truthfulqa:
                rows = load_truthfulqa(e.truthfulqa, e.truthfulqa_limit)
                result["metrics"]["truthfulqa_false"], truthful = evaluate_truthfulqa(chat, rows, prompt)
                result["answers"] += truthful
        else:
            logprobs = ctx.backend.logprob_model(model) if e.exact or e.prefilled else None
            result = evaluate_preference(chat, logprobs, e, target, seed, prompt)
        write_answers(out / ANSWERS_FILE, result.pop("answers"))  # every answer, for rescoring and rejudging
        write_jsonl(out / "metrics.jsonl", [result])
        keep = ("mean", "ci95", "n", "per_animal", "max_pruned_mass", "max_pruned_mass_any_animal", "top_tokens")
        return {"model": source_id(model), "system": prompt, "seed": seed, "numerics": ctx.numerics,
                "metrics": {k: {kk: v[kk] for kk in keep if kk in v} for k, v in result["metrics"].items()}}

    return ctx.store.build("evaluate", config, inputs, produce)


# --- resumable generation -------------------------------------------------------------------------------------
def _complete_batches(path: Path, batch_size: int) -> list[dict[str, Any]]:
    """Rows of whole batches already checkpointed (a torn last line or partial batch is dropped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    rows = rows[: len(rows) // batch_size * batch_size]
    write_jsonl(path, rows)
    return rows


def _append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        handle.flush()
        os.fsync(handle.fileno())
