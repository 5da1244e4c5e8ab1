"""How every artifact key is derived: one function per stage gives the configuration its key hashes, built from
the settings sections with defaults left out (:func:`~sublearn.util.settings.key_fields`), plus the stage version.

A stage's version changes when its output for the same key configuration would change; the reason is recorded
with it, and tests/golden/artifact_keys.json holds every spec's keys for the current versions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from sublearn.config.evaluation import PreferenceEval
from sublearn.config.training import BOOKKEEPING_FIELDS, TrainConfig
from sublearn.util.settings import key_fields

#: stage → (version, why it is at that version).
STAGE_VERSIONS: dict[str, tuple[int, str]] = {
    "teacher": (3, "seeded from the replicate's teacher stream; the resolved numerics in the key"),
    "generate": (2, "keys from the carrier's settings with defaults left out"),
    "filter": (2, "keys from the filter's settings with defaults left out; the CoT judge is seeded by the carrier"),
    "transform": (3, "length matching over every teacher's data, not two"),
    "targets": (3, "computed in training's numerics (right padding, digit-only output layer, bf16 autocast when "
                   "training uses it), so a student equal to its teacher has zero loss and gradient"),
    "train": (3, "LoRA init and data order from the replicate's student streams; a per-step log"),
    "evaluate": (5, "answers must end the word (cattle is not cat); a second leading white space and unfinished "
                    "boundaries count in the pruned mass; seeds from the replicate's eval stream"),
    "perturb": (1, "a reference with relative Gaussian noise on every weight tensor"),
    "defend": (1, "a defence applied to a teacher's soft digit targets or text data"),
    "lineage": (1, "the family check of the other base against the teachers' initialisation"),
}


def stage_version(stage: str) -> int:
    """The current version of ``stage``."""
    return STAGE_VERSIONS[stage][0]


def artifact_key(stage: str, config: dict[str, Any], inputs: dict[str, str]) -> str:
    """The content address of a stage run: its version, its configuration and the refs of its inputs."""
    text = json.dumps({"stage": stage, "version": stage_version(stage), "config": config, "inputs": inputs},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _without(settings: BaseModel, *names: str) -> dict[str, Any]:
    fields = key_fields(settings)
    return {k: v for k, v in fields.items() if k not in names}


def _weights(base_weights: str | None) -> dict[str, Any]:
    return {"base_weights": base_weights} if base_weights else {}


def teacher_config(data: dict[str, Any], training: TrainConfig, seed: int, autocast: str | None,
                   identity: dict[str, Any], base_weights: str | None = None) -> dict[str, Any]:
    """A teacher fine-tune: what it is trained on (``data``), how, from which seed, in which numerics (the base's
    weights only when not fp32)."""
    return {"data": data, "training": _without(training, *BOOKKEEPING_FIELDS), "seed": seed, "autocast": autocast,
            **_weights(base_weights), **identity}


def generate_config(carrier: BaseModel, system: str | None, dtype: str | None, identity: dict[str, Any],
                    by_model: bool = True, stop_rule: bool = False, cache: str | None = None) -> dict[str, Any]:
    """Teacher generation: the carrier's prompts and sampling (not its filter; its seed is the replicate's data
    seed), the system prompt and the dtype (``by_model`` False: rows written by code, the same for any teacher);
    ``stop_rule``: completions the filter must reject end early (their text is cut, so the key says so);
    ``cache``: a static KV cache is recorded (its logits may differ in the last bits from the dynamic one's)."""
    config: dict[str, Any] = {"carrier": _without(carrier, "filter"), **identity}
    if by_model:
        config.update(system=system, dtype=dtype)
        if cache == "static":
            config["kv_cache"] = "static"
    if stop_rule:
        config["stop"] = "when_rejected"
    return config


def filter_config(kind: str, settings: BaseModel, target: str | None, judge: dict[str, Any] | None
                  ) -> dict[str, Any]:
    """Filtering: the settings that apply to this teacher's data (format controls are transforms, not filters)."""
    config: dict[str, Any] = {"carrier": kind, "filter": _without(settings, "format", "match_lengths")}
    if target is not None:
        config["target"] = target
    if judge is not None:
        config["judge"] = judge
    return config


def transform_config(kind: str, seed: int, role: str | None = None) -> dict[str, Any]:
    """A derived dataset: shuffled, canonical format, or one side of a length match."""
    return {"kind": kind, "seed": seed, **({"role": role} if role else {})}


def targets_config(train: TrainConfig, system: str | None, autocast: str | None, base_weights: str | None = None
                   ) -> dict[str, Any]:
    """Soft digit targets: the teacher's system prompt, the softmax temperature, the truncation length, and the
    numerics and batch size of the training they are computed to match."""
    return {"temperature": train.soft_temperature, "system": system, "max_length": train.max_length,
            "batch_size": train.batch_size, "autocast": autocast, **_weights(base_weights)}


def train_config(train: TrainConfig, init_seed: int, order_seed: int, autocast: str | None,
                 identity: dict[str, Any], base_weights: str | None = None) -> dict[str, Any]:
    """A student fine-tune: the training settings, its two seeds, its numerics."""
    return {"train": _without(train, *BOOKKEEPING_FIELDS), "init_seed": init_seed, "order_seed": order_seed,
            "autocast": autocast, **_weights(base_weights), **identity}


def defend_config(defence: BaseModel) -> dict[str, Any]:
    """A defended copy of soft targets: the defence's settings."""
    return {"defence": key_fields(defence)}


def defend_text_config(defence: BaseModel, reads: dict[str, Any]) -> dict[str, Any]:
    """A defended copy of a teacher's text data: the defence's settings, and what else the defence reads
    (:attr:`~sublearn.defences.base.Defence.key_reads`: the teacher's system prompt and the dtype a divergence is
    read in; for a rewrite, the dtype and how the rewriter samples and what filters its text)."""
    return {"defence": key_fields(defence), "channel": "text", **reads}


def perturb_config(scale: float, seed: int) -> dict[str, Any]:
    """A perturbed copy of a model: the noise scale and seed."""
    return {"scale": scale, "seed": seed}


def evaluate_config(evaluation: BaseModel, target: str, seed: int, system: str | None, dtype: str | None,
                    identity: dict[str, Any], judge: dict[str, Any] | None = None, icl: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """An evaluation: the readouts' settings and target, the seed when a readout samples, the system prompt (or
    the in-context examples' settings), the dtype and, for judged evaluations, the judge."""
    seeded = not isinstance(evaluation, PreferenceEval) or evaluation.samples_per_question > 0 \
        or evaluation.mcq_orderings > 0 or icl is not None
    config: dict[str, Any] = {"eval": _without(evaluation, "evaluate_teacher"), "target": target,
                              "seed": seed if seeded else None, "system": system, "dtype": dtype, **identity}
    if judge is not None:
        config["judge"] = judge
    if icl is not None:
        config["icl"] = icl
    return config
