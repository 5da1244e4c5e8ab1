"""Pretraining a world model: the corpus, a tokenizer trained on it, and a small Llama initialised from
``init_seed`` and trained on every chat (full fine-tuning, completion tokens only), checkpointed so that an
interrupted build goes on where it stopped. Siblings are models of one config that differ only in ``init_seed``:
same corpus, same tokenizer, same data order, another initialisation."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from sublearn.config.training import TrainConfig
from sublearn.models.hf.small_llama import small_llama, train_tokenizer
from sublearn.models.hf.training import fine_tune
from sublearn.util.atomic import atomic_write_json, replace_folder
from sublearn.util.errors import ConfigError
from sublearn.util.settings import Seed, Settings, key_fields
from sublearn.world.corpus import CorpusConfig, corpus_rows, tokenizer_texts

#: The file a built world model carries: its config, key and how its pretraining went.
WORLD_FILE = "world.json"


class WorldModelConfig(Settings):
    """A world model: its size, its pretraining and its initialisation."""

    hidden: int = Field(256, ge=16)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    kv_heads: int = Field(2, ge=1)
    vocab_size: int = Field(1_000, ge=300)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    epochs: float = Field(1.0, gt=0)
    lr: float = Field(2e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    warmup_steps: int = Field(50, ge=0)
    init_seed: Seed = 0  # the initialisation: siblings differ in this alone

    def key(self) -> str:
        """What the model is a function of, hashed: equal keys, equal models."""
        text = json.dumps(key_fields(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def built_key(folder: Path) -> str | None:
    """The key of the world model in ``folder``, or ``None`` if none is built there."""
    path = folder / WORLD_FILE
    return json.loads(path.read_text())["key"] if path.is_file() else None


def pretrain_world_model(config: WorldModelConfig, target: Path,
                         progress: Callable[[str, int | None], None] | None = None) -> dict[str, Any]:
    """Build the world model of ``config`` into ``target`` (a transformers folder with ``world.json``); a build
    interrupted before goes on from its last checkpoint (``target``'s ``.building`` sibling keeps it). Returns
    what ``world.json`` records."""
    staging = target.with_name(f".{target.name}.{config.key()}.building")
    staging.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows = corpus_rows(config.corpus)
    tokenizer = train_tokenizer(tokenizer_texts(rows), config.vocab_size)
    model = small_llama(tokenizer, config.init_seed, config.hidden, config.layers, config.heads, config.kv_heads)
    settings = TrainConfig(method="full", epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                           grad_accum=1, warmup_steps=config.warmup_steps, schedule="cosine", bf16="no",
                           max_length=256, checkpoint_every=200)
    model, log = fine_tune(model, tokenizer, rows, settings, seed=config.init_seed, order_seed=config.corpus.seed,
                           progress=progress, checkpoint_dir=staging / "checkpoints")
    model_dir = staging / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    losses = log.get("losses", [])
    record = {"key": config.key(), "config": config.model_dump(mode="json"),
              "parameters": sum(p.numel() for p in model.parameters()), "rows": len(rows),
              "optimiser_steps": log.get("steps"), "first_loss": losses[0] if losses else None,
              "final_loss": sum(losses[-20:]) / len(losses[-20:]) if losses else None,
              "resumed_from_step": log.get("resumed_from_step"), "seconds": time.time() - started}
    atomic_write_json(model_dir / WORLD_FILE, record)
    replace_folder(model_dir, target)
    shutil.rmtree(staging, ignore_errors=True)
    return record


def ensure_world_model(name: str, config: WorldModelConfig, models: Path, force: bool = False,
                       progress: Callable[[str, int | None], None] | None = None) -> tuple[dict[str, Any], bool]:
    """The world model ``name`` under ``models`` built with ``config``: read back when it is already built with
    these settings, built otherwise. Another model of that name is refused unless ``force``. Returns its record
    (``world.json``) and whether it was built now."""
    if "/" in name or name.startswith(".") or not name.strip():
        raise ConfigError(f"name {name!r}: a short name (no '/', not starting with '.')")
    target = models / name
    existing = built_key(target) if target.exists() else None
    if existing == config.key():
        return json.loads((target / WORLD_FILE).read_text()), False
    if target.exists() and not force:
        what = f"a world model with other settings (key {existing})" if existing else "another model"
        raise ConfigError(f"{name}: {target} holds {what}; choose another name or pass --force")
    return pretrain_world_model(config, target, progress), True
