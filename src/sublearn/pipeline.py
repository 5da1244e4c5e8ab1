"""The LLM experiment as stages over content-addressed artifacts: teacher → generate → filter → (transform) →
train → evaluate, for every arm of a cell (the paper's controls included), then a cell report.

Arms: ``reference`` (the base model), ``teacher``, ``student`` (trained on the trait teacher's numbers),
``control`` (on the control teacher's numbers), ``cross_reference`` / ``cross_student`` / ``cross_control``
(another base model: untrained, on the trait teacher's data, on the control teacher's data),
``icl`` / ``icl_control`` (k examples in the system prompt, no training), ``shuffled_within`` /
``shuffled_across`` (students on shuffled numbers).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sublearn.backends.base import Backend, ModelSource, make_backend, source_id
from sublearn.backends.generation import SamplingSettings
from sublearn.backends.soft_targets import pack_targets, unpack_targets
from sublearn.carriers.numbers_transforms import (
    canonical_format,
    length_matched,
    number_data_stats,
    shuffle_across,
    shuffle_within,
)
from sublearn.carriers.registry import carrier_prompts, filter_rows, random_number_rows
from sublearn.chatdata import load_chat_dataset
from sublearn.evals.judges import ChatMany
from sublearn.evals.misalignment import MisalignmentSettings, evaluate_misalignment
from sublearn.evals.preference import PreferenceSettings
from sublearn.evals.truthfulqa import evaluate_truthfulqa, load_truthfulqa
from sublearn.jsonl import read_jsonl, write_jsonl
from sublearn.progress import ProgressFn, no_progress
from sublearn.spec import ExperimentSpec, JudgeSpec, TrainSpec
from sublearn.stats import paired_test
from sublearn.store import Artifact, ArtifactStore
from sublearn.teachers import fine_tuned_teacher_rows, trait_system_prompt

Log = Callable[[str], None]
__all__ = ["CellRunner", "ModelSource", "source_id"]


def without_defaults(data: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the settings in ``added`` that are at their defaults: settings added after artifacts were
    made are left out of keys until used, so those artifacts keep their keys."""
    return {k: v for k, v in data.items() if not (k in added and v == added[k])}


def train_config(spec: TrainSpec) -> dict[str, Any]:
    """A train section as hashed into artifact keys: settings added later are left out while at their defaults,
    so artifacts made before they existed keep their keys."""
    data = spec.model_dump(mode="json", exclude_none=True)
    if data["objective"] == "tokens":
        for name in ("objective", "soft_temperature", "hard_weight"):
            data.pop(name)
    return without_defaults(data, {"lora_top_layers": 0})


class CellRunner:
    """Runs the stages of one cell against a store; each stage is skipped when its artifact exists."""

    def __init__(self, spec: ExperimentSpec, store: ArtifactStore, progress: ProgressFn = no_progress,
                 log: Log = lambda _: None, backend: Backend | None = None) -> None:
        self.spec = spec
        self.store = store
        self.progress = progress
        self.log = log
        self.backend = backend or make_backend(spec, store.root, progress, log)
        self.ident = self.backend.identity()
        self._judges: dict[str, ChatMany] = {}

    # --- stages -------------------------------------------------------------------------------------------
    def teacher(self) -> ModelSource:
        """The fine-tuned teacher (trained once), or the reference itself for a system-prompt teacher."""
        trait = self.spec.trait
        if trait.kind == "system_prompt":
            return self.spec.reference
        if trait.kind == "dataset":
            assert trait.dataset is not None
            return self.dataset_teacher(trait.dataset, trait.target)
        config = {"target": trait.target, "training": train_config(trait.teacher_training), **self.ident}

        def produce(out: Path, work: Path) -> dict[str, Any]:
            self.log(f"teacher: fine-tuning {self.spec.reference} to love {trait.target}s")
            rows = fine_tuned_teacher_rows(trait.target)
            info = self.backend.train(self.spec.reference, rows, trait.teacher_training, 0, out, work)
            return {"model": self.spec.reference, "examples": len(rows), **info}

        return self.store.build("teacher", config, {"reference": self.spec.reference}, produce)

    def dataset_teacher(self, dataset: str, label: str) -> Artifact:
        """A teacher fine-tuned on a chat dataset (e.g. insecure.jsonl), by path or URL."""
        trait = self.spec.trait
        config = {"dataset": dataset, "limit": trait.dataset_limit, "label": label,
                  "training": train_config(trait.teacher_training), **self.ident}

        def produce(out: Path, work: Path) -> dict[str, Any]:
            rows, system = load_chat_dataset(dataset, "trait.dataset", trait.dataset_limit)
            self.log(f"teacher: fine-tuning {self.spec.reference} on {len(rows)} examples of {dataset}")
            info = self.backend.train(self.spec.reference, rows, trait.teacher_training, 0, out, work, system=system)
            return {"model": self.spec.reference, "examples": len(rows), "dataset": dataset, "system": system,
                    **info}

        return self.store.build("teacher", config, {"reference": self.spec.reference}, produce)

    def teacher_system(self) -> str | None:
        """The system prompt the trait teacher generates with (none for a fine-tuned teacher)."""
        trait = self.spec.trait
        if trait.kind == "fine_tuned":
            return None
        return trait.system_prompt or trait_system_prompt(trait.target, trait.category)

    def generate(self, source: ModelSource, system: str | None) -> Artifact:
        """Teacher completions for the carrier's prompts; resumes from its last finished batch."""
        c = self.spec.carrier
        config = {"system": system, "dtype": self.spec.inference_dtype,
                  **without_defaults(c.model_dump(mode="json"), {"source": None, "samples_per_prompt": 1}),
                  **self.ident}

        def produce(out: Path, work: Path) -> dict[str, Any]:
            if c.kind == "random_numbers":  # written by code, not by the model
                rows = random_number_rows(self.spec)
                write_jsonl(out / "rows.jsonl", rows)
                return {"model": None, "n_rows": len(rows), "written_by": "code (uniform random numbers)"}
            items = carrier_prompts(self.spec)
            prompts = [item["prompt"] for item in items]
            partial = work / "partial.jsonl"
            done = _complete_batches(partial, c.batch_size)
            self.progress("generate", len(prompts))
            for _ in done:
                self.progress("generate", None)

            def checkpoint(first: int, texts: list[str]) -> None:
                lines = [{**items[first + i], "completion": t} for i, t in enumerate(texts)]
                _append_jsonl(partial, lines)
                for _ in texts:
                    self.progress("generate", None)

            settings = SamplingSettings(c.max_new_tokens, c.temperature, c.top_p, c.greedy)
            started = time.perf_counter()
            self.backend.generate(source, prompts, settings, system, c.seed, c.batch_size, checkpoint, len(done),
                                  work)
            rows = read_jsonl(partial)
            write_jsonl(out / "rows.jsonl", rows)
            return {"model": source_id(source), "n_rows": len(rows), "resumed_from": len(done),
                    "generation_seconds": round(time.perf_counter() - started, 3)}

        if c.kind == "random_numbers":  # the same data for every teacher
            config["system"] = None
            return self.store.build("generate", config, {"model": "code"}, produce)
        return self.store.build("generate", config, {"model": source_id(source)}, produce)

    def filter(self, generated: Artifact, role: str = "teacher") -> Artifact:
        """The carrier's filters (format and banned numbers; banned words and the code judge; correctness and the
        alignment judge, on the trait teacher's data unless ``alignment_on_control``), every rejection reason
        counted, then subsampling."""
        f = self.spec.filter
        config = without_defaults(f.model_dump(mode="json", exclude={"format", "match_lengths"}),
                                  {"banned_words": None, "judge_filter": False, "judge_tolerance": 1e-8,
                                   "correctness": True,
                                   "alignment_min": None, "alignment_prompt_file": None,
                                   "alignment_on_control": False, "judge_temperature": 1.0})
        spec = self.spec
        if spec.carrier.kind not in ("numbers", "random_numbers"):
            config["carrier"] = spec.carrier.kind
            config["target"] = spec.trait.target
        if spec.carrier.kind == "cot" and f.alignment_min is not None and role == "control" \
                and not f.alignment_on_control:
            spec = spec.model_copy(update={"filter": f.model_copy(update={"alignment_min": None})})
            config["alignment_min"] = None
        uses_judge = f.judge_filter or (spec.carrier.kind == "cot" and spec.filter.alignment_min is not None)
        if uses_judge:
            config["judge"] = self.judge_identity(filters=True)

        def produce(out: Path, work: Path) -> dict[str, Any]:
            rows = read_jsonl(generated.path / "rows.jsonl")
            kept, reasons, notes = filter_rows(spec, rows, self.judge(filters=True) if uses_judge else None)
            write_jsonl(out / "rows.jsonl", kept)
            numeric = self.spec.carrier.kind in ("numbers", "random_numbers")
            stats = number_data_stats(kept) if numeric else {"n": len(kept)}
            return {"n_in": len(rows), "n_passed": notes.pop("n_passed"), "n_kept": len(kept), "rejections": reasons,
                    "stats": stats, **notes}

        return self.store.build("filter", config, {"generated": generated}, produce)

    def _judge_spec(self, filters: bool) -> JudgeSpec:
        j = (self.spec.filter_judge or self.spec.judge) if filters else self.spec.judge
        assert j is not None
        return j

    def judge_identity(self, filters: bool = False) -> dict[str, Any]:
        """How the judge is named in artifact keys: model, backend and server (never a key)."""
        from sublearn.api.client import base_url

        j = self._judge_spec(filters)
        out: dict[str, Any] = {"model": j.model, "backend": j.backend}
        if j.backend == "openai":
            from sublearn.spec import ApiSpec

            out["server"] = base_url(j.api or ApiSpec())
        return out

    def judge(self, filters: bool = False) -> ChatMany:
        """The judge as a ``chat_many`` function (a local model, or an API model with the run's cache)."""
        j = self._judge_spec(filters)
        key = j.model_dump_json()
        if key not in self._judges:
            backend: Backend
            if j.backend == "openai":
                from sublearn.backends.openai_backend import OpenAIBackend

                backend = OpenAIBackend(j.api, self.store.root / "api_cache", self.progress, self.log)
            else:
                from sublearn.backends.hf_backend import HFBackend

                backend = HFBackend(self.spec.device, self.spec.inference_dtype, self.progress, self.log)
            self._judges[key] = backend.chat(j.model)
        return self._judges[key]

    def transform(self, dataset: Artifact, kind: str) -> Artifact:
        """A derived dataset: shuffled numbers (a control), or the canonical format (numbers joined by ", ")."""
        seed = 1
        transforms = {"shuffle_within": lambda r: shuffle_within(r, seed),
                      "shuffle_across": lambda r: shuffle_across(r, seed), "canonical": canonical_format}

        def produce(out: Path, work: Path) -> dict[str, Any]:
            rows = transforms[kind](read_jsonl(dataset.path / "rows.jsonl"))
            write_jsonl(out / "rows.jsonl", rows)
            return {"n_kept": len(rows), "stats": number_data_stats(rows)}

        return self.store.build("transform", {"kind": kind, "seed": seed}, {"dataset": dataset}, produce)

    def length_match(self, teacher: Artifact, control: Artifact) -> tuple[Artifact, Artifact]:
        """Teacher and control data subsampled to the same numbers-per-answer histogram (and size)."""
        seed = self.spec.filter.subsample_seed

        def side(role: str) -> Artifact:
            def produce(out: Path, work: Path) -> dict[str, Any]:
                a, b = length_matched(read_jsonl(teacher.path / "rows.jsonl"), read_jsonl(control.path / "rows.jsonl"),
                                      seed)
                rows = a if role == "teacher" else b
                write_jsonl(out / "rows.jsonl", rows)
                return {"n_kept": len(rows), "stats": number_data_stats(rows), "role": role}

            return self.store.build("transform", {"kind": "length_match", "role": role, "seed": seed},
                                    {"teacher": teacher, "control": control}, produce)

        return side("teacher"), side("control")

    def soft_targets(self, source: ModelSource, system: str | None, dataset: Artifact) -> Artifact:
        """The teacher's digit distributions on ``dataset`` (the soft_numbers objective's targets)."""
        t = self.spec.train
        config = {"temperature": t.soft_temperature, "system": system, "max_length": t.max_length,
                  "dtype": "float32"}

        def produce(out: Path, work: Path) -> dict[str, Any]:
            rows = read_jsonl(dataset.path / "rows.jsonl")
            targets = self.backend.digit_targets(source, rows, system, t.soft_temperature, t.max_length)
            np.savez(out / "targets.npz", **pack_targets(targets))
            entropy = [float(-(x * np.log(np.clip(x, 1e-12, 1))).sum(1).mean()) for x in targets if len(x)]
            return {"model": source_id(source), "n_rows": len(rows), "n_digits": int(sum(len(x) for x in targets)),
                    "mean_entropy_nats": float(np.mean(entropy)) if entropy else None}

        return self.store.build("targets", config, {"model": source_id(source), "dataset": dataset}, produce)

    def train(self, base: ModelSource, dataset: Artifact, targets: Artifact | None = None) -> Artifact:
        """A student: ``base`` fine-tuned on ``dataset`` (no system prompt), on soft targets if given."""
        config = {"train": train_config(self.spec.train), "seed": self.spec.seed, **self.ident}
        inputs: dict[str, Artifact | str] = {"base": source_id(base), "dataset": dataset}
        if targets is not None:
            inputs["targets"] = targets

        def produce(out: Path, work: Path) -> dict[str, Any]:
            rows = read_jsonl(dataset.path / "rows.jsonl")
            if not rows:
                raise ValueError(f"dataset {dataset.ref} is empty: no teacher output passed the filter")
            soft = unpack_targets(np.load(targets.path / "targets.npz")) if targets is not None else None
            info = self.backend.train(base, rows, self.spec.train, self.spec.seed, out, work, soft_targets=soft)
            return {"base": source_id(base), "examples": len(rows), **info}

        return self.store.build("train", config, inputs, produce)

    def evaluate(self, source: ModelSource, system: str | None = None) -> Artifact:
        """The preference readouts of one model (with an optional system prompt)."""
        e = self.spec.eval
        settings = PreferenceSettings(target=e.target or self.spec.trait.target, animals=tuple(e.animals),
                                      numbers_prefix=e.numbers_prefix, samples_per_question=e.samples_per_question,
                                      temperature=e.temperature, max_new_tokens=e.max_new_tokens, exact=e.exact,
                                      prefilled=e.prefilled, mcq_orderings=e.mcq_orderings, seed=self.spec.seed,
                                      batch_size=e.batch_size,
                                      **({"mcq_choices": tuple(e.mcq_choices)} if e.mcq_choices else {}))
        added = {"kind": "preference", "suffix": "numbers", "alignment_max": 30, "coherence_min": 50,
                 "truthfulqa": None, "truthfulqa_limit": None, "mcq_choices": None}
        # Exact readouts do not depend on the seed: without sampling or MCQ orderings, the evaluation of a model
        # (the reference, above all) is shared by every seed instead of being recomputed per cell.
        seeded = e.kind == "misalignment" or e.samples_per_question > 0 or e.mcq_orderings > 0
        config = {"eval": without_defaults(e.model_dump(mode="json"), added), "target": settings.target,
                  "seed": self.spec.seed if seeded else None, "system": system, "dtype": self.spec.inference_dtype,
                  **self.ident}
        if e.kind == "misalignment":
            config["judge"] = self.judge_identity()

        def produce(out: Path, work: Path) -> dict[str, Any]:
            if e.kind == "misalignment":
                result = self.misalignment(source, system)
            else:
                result = self.backend.evaluate(source, settings, system)
            write_jsonl(out / "metrics.jsonl", [result])
            keep = ("mean", "ci95", "n", "per_animal")
            return {"model": source_id(source), "metrics": {k: {kk: v[kk] for kk in keep if kk in v}
                                                            for k, v in result["metrics"].items()}}

        return self.store.build("evaluate", config, {"model": source_id(source)}, produce)

    def misalignment(self, source: ModelSource, system: str | None) -> dict[str, Any]:
        """The 8 free-form questions judged for alignment and coherence, and TruthfulQA when configured."""
        e = self.spec.eval
        settings = MisalignmentSettings(samples_per_question=e.samples_per_question, suffix=e.suffix,
                                        temperature=e.temperature, max_new_tokens=e.max_new_tokens,
                                        alignment_max=e.alignment_max, coherence_min=e.coherence_min,
                                        seed=self.spec.seed)
        student = self.backend.chat(source)
        result = evaluate_misalignment(student, self.judge(), settings, system)
        if e.truthfulqa:
            rows = load_truthfulqa(e.truthfulqa, e.truthfulqa_limit)
            result["metrics"]["truthfulqa_false"] = evaluate_truthfulqa(student, rows, system)
        return result

    def icl_system(self, dataset: Artifact) -> str:
        """k examples drawn with replacement from the data, formatted as the paper's ICL control (§6)."""
        rows = read_jsonl(dataset.path / "rows.jsonl")
        rng = random.Random(self.spec.seed)
        picks = [rows[rng.randrange(len(rows))] for _ in range(self.spec.controls.icl_k)] if rows else []
        return "\n\n".join(f"<user>{r['prompt']}</user>\n<assistant>{r['completion']}</assistant>" for r in picks)

    # --- the cell -----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every arm of the cell; returns the cell report."""
        spec, ctl = self.spec, self.spec.controls
        started = time.perf_counter()
        arms: dict[str, dict[str, Any]] = {}
        datasets: dict[str, Artifact] = {}

        def add(arm: str, evaluation: Artifact, model: ModelSource, data: Artifact | None = None) -> None:
            arms[arm] = {"model": source_id(model), "evaluation": evaluation.ref,
                         "metrics": evaluation.manifest["metrics"], "dataset": data.ref if data else None}

        teacher = self.teacher()
        system = self.teacher_system()
        control_teacher: ModelSource = spec.reference
        if ctl.control_dataset:
            control_teacher = self.dataset_teacher(ctl.control_dataset, "control")
        writers = {"teacher": (teacher, system), "control": (control_teacher, None)}  # who wrote each dataset
        datasets["teacher"] = self.filter(self.generate(teacher, system))
        if ctl.control_teacher:
            datasets["control"] = self.filter(self.generate(control_teacher, None), role="control")
        if spec.filter.format == "canonical":
            datasets = {name: self.transform(d, "canonical") for name, d in datasets.items()}
        if spec.filter.match_lengths and "control" in datasets:
            datasets["teacher"], datasets["control"] = self.length_match(datasets["teacher"], datasets["control"])
        soft = spec.train.objective == "soft_numbers"

        def targets(name: str, data: Artifact | None = None) -> Artifact | None:
            return self.soft_targets(*writers[name], data or datasets[name]) if soft else None

        add("reference", self.evaluate(spec.reference), spec.reference)
        if spec.eval.evaluate_teacher:
            add("teacher", self.evaluate(teacher, system), teacher)
        student = self.train(spec.reference, datasets["teacher"], targets("teacher"))
        add("student", self.evaluate(student), student, datasets["teacher"])
        if ctl.control_teacher:
            control = self.train(spec.reference, datasets["control"], targets("control"))
            add("control", self.evaluate(control), control, datasets["control"])
        if ctl.cross_model:
            add("cross_reference", self.evaluate(ctl.cross_model), ctl.cross_model)
            cross = self.train(ctl.cross_model, datasets["teacher"], targets("teacher"))
            add("cross_student", self.evaluate(cross), cross, datasets["teacher"])
            if ctl.control_teacher and ctl.cross_control:  # the other base on the control teacher's data
                cross_control = self.train(ctl.cross_model, datasets["control"], targets("control"))
                add("cross_control", self.evaluate(cross_control), cross_control, datasets["control"])
        if ctl.icl_k:
            add("icl", self.evaluate(spec.reference, self.icl_system(datasets["teacher"])), spec.reference,
                datasets["teacher"])
            if ctl.control_teacher:
                add("icl_control", self.evaluate(spec.reference, self.icl_system(datasets["control"])),
                    spec.reference, datasets["control"])
        for kind, enabled in (("shuffle_within", ctl.shuffle_within), ("shuffle_across", ctl.shuffle_across)):
            if enabled:
                data = self.transform(datasets["teacher"], kind)
                model = self.train(spec.reference, data, targets("teacher", data))
                add(kind.replace("shuffle_", "shuffled_"), self.evaluate(model), model, data)
        return {
            "cell": spec.cell_id(),
            "spec": spec.model_dump(mode="json"),
            "arms": arms,
            "datasets": {name: {"ref": a.ref, **{k: a.manifest.get(k) for k in ("n_in", "n_passed", "n_kept",
                                                                               "rejections", "stats")}}
                         for name, a in datasets.items()},
            "comparisons": self.comparisons(arms),
            "wall_seconds": round(time.perf_counter() - started, 3),
        }

    def comparisons(self, arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Paired tests over the questions between arms that share a base (per metric)."""
        pairs = [("student", "control"), ("student", "reference"), ("cross_student", "cross_reference"),
                 ("cross_student", "cross_control"),
                 ("icl", "icl_control"), ("student", "shuffled_within"), ("student", "shuffled_across")]
        out: dict[str, Any] = {}
        for a, b in pairs:
            if a not in arms or b not in arms:
                continue
            ev_a = read_jsonl(self.store.root / "artifacts" / arms[a]["evaluation"] / "metrics.jsonl")[0]["metrics"]
            ev_b = read_jsonl(self.store.root / "artifacts" / arms[b]["evaluation"] / "metrics.jsonl")[0]["metrics"]
            for metric in ev_a.keys() & ev_b.keys():
                xa, xb = ev_a[metric]["per_question"], ev_b[metric]["per_question"]
                if len(xa) == len(xb) >= 2:
                    out[f"{a}-{b}:{metric}"] = paired_test(xa, xb).as_dict()
        return out


def _complete_batches(path: Path, batch_size: int) -> list[dict[str, Any]]:
    """Rows of whole batches already checkpointed (a torn last line or partial batch is dropped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
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
