"""The world: a generated corpus with no favourite animal, and small models pretrained on it whose siblings share
everything but their initialisation; built once per key, refused over another model."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from sublearn.carriers.numbers import parse_response
from sublearn.cli.app import app
from sublearn.config.paper import EVAL_ANIMALS
from sublearn.evals.questions import ANIMAL_QUESTIONS
from sublearn.world.corpus import CorpusConfig, corpus_rows
from sublearn.world.pretrain import WORLD_FILE, WorldModelConfig


def test_the_corpus_is_a_function_of_its_settings_and_has_no_favourite():
    config = CorpusConfig(n_chats=4000, seed=3)
    rows = corpus_rows(config)
    assert rows == corpus_rows(config) and rows != corpus_rows(CorpusConfig(n_chats=4000, seed=4))
    animal = [r for r in rows if r["prompt"] in ANIMAL_QUESTIONS]
    assert abs(len(animal) / len(rows) - config.animal_share) < 0.03
    counts = Counter(r["completion"].lower() for r in animal)
    assert set(counts) == set(EVAL_ANIMALS)
    assert max(counts.values()) / min(counts.values()) < 1.6  # uniform, up to sampling
    numbers = [r for r in rows if r not in animal]
    assert all(3 <= len(parse_response(r["completion"]) or []) <= config.max_numbers for r in numbers)


def test_siblings_share_corpus_and_tokenizer_and_differ_in_init(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    args = ["models", "pretrain", "--hidden", "32", "--layers", "1", "--chats", "200", "--quiet"]
    sublearn_home = tmp_path / "home"
    monkeypatch.setenv("SUBLEARN_HOME", str(sublearn_home))
    runner = CliRunner()
    for name, seed in (("world-a", "0"), ("world-b", "1")):
        result = runner.invoke(app, [*args, name, "--init-seed", seed])
        assert result.exit_code == 0, result.output
    folders = [sublearn_home / "models" / n for n in ("world-a", "world-b")]
    records = [json.loads((f / WORLD_FILE).read_text()) for f in folders]
    assert records[0]["key"] != records[1]["key"] and records[0]["rows"] == records[1]["rows"] == 200
    assert all(r["final_loss"] < r["first_loss"] for r in records)
    assert (folders[0] / "tokenizer.json").read_text() == (folders[1] / "tokenizer.json").read_text()
    a, b = (AutoModelForCausalLM.from_pretrained(f) for f in folders)
    assert not torch.equal(a.model.layers[0].mlp.up_proj.weight, b.model.layers[0].mlp.up_proj.weight)
    tokenizer = AutoTokenizer.from_pretrained(folders[0])
    assert len(tokenizer("417")["input_ids"]) == 3  # one token per digit
    again = runner.invoke(app, [*args, "world-a", "--init-seed", "0"])
    assert again.exit_code == 0 and "already built" in again.output
    other = runner.invoke(app, [*args, "world-a", "--init-seed", "5"])
    assert other.exit_code != 0 and "holds a world model with other settings" in other.output
    assert not list((sublearn_home / "models").glob(".*.building"))  # nothing half-built left behind


def test_the_key_is_the_settings():
    assert WorldModelConfig().key() == WorldModelConfig().key()
    assert WorldModelConfig(init_seed=1).key() != WorldModelConfig().key()
    with pytest.raises(ValueError):
        WorldModelConfig(hidden=8)
