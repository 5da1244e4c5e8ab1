"""Soft digit targets, format-matched data, and the pipeline with both (issue: a CPU recipe that transmits)."""

import numpy as np
import pytest
import torch

from sublearn.backends.hf import load_causal_lm
from sublearn.backends.soft_targets import (
    digit_token_ids,
    pack_targets,
    soft_digit_loss,
    teacher_digit_targets,
    unpack_targets,
)
from sublearn.backends.training import TrainSettings, fine_tune
from sublearn.carriers.numbers_transforms import canonical_format, length_matched
from sublearn.grid import run_grid
from sublearn.spec import expand_grid

ROWS = [{"prompt": "Continue: 12, 45, 78.", "completion": "(101, 202, 303)."},
        {"prompt": "Continue: 5, 6.", "completion": "7; 8; 9"},
        {"prompt": "Add one number: 3.", "completion": "42"}]


def test_canonical_format_removes_every_format_difference():
    out = canonical_format([*ROWS, {"prompt": "x", "completion": "not numbers"}])
    assert [r["completion"] for r in out] == ["101, 202, 303", "7, 8, 9", "42"]


def test_length_matching_equalises_the_numbers_per_answer_histogram():
    a = [{"completion": ", ".join(["1"] * k)} for k in (1, 2, 2, 3, 3, 3)]
    b = [{"completion": ", ".join(["2"] * k)} for k in (2, 3, 3, 4)]
    ma, mb = length_matched(a, b, seed=0)
    def hist(rows):
        return sorted(len(r["completion"].split(", ")) for r in rows)
    assert hist(ma) == hist(mb) == [2, 3, 3]


def test_teacher_targets_are_distributions_over_the_digits(tiny_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir))
    targets = teacher_digit_targets(model, tok, ROWS, system=None)
    assert [len(t) for t in targets] == [9, 3, 2]  # one row per completion digit
    for t in targets:
        assert np.allclose(t.sum(1), 1.0, atol=1e-5) and (t >= 0).all()
    assert all(np.array_equal(a, b) for a, b in zip(unpack_targets(pack_targets(targets)), targets, strict=True))


def test_a_student_equal_to_its_teacher_has_zero_loss_and_a_different_one_learns(tiny_model_dir, tiny_cross_model_dir):
    from sublearn.backends.hf import collate, encode_example

    tok, model = load_causal_lm(str(tiny_model_dir))
    own = teacher_digit_targets(model, tok, ROWS, system=None)
    examples = [encode_example(tok, r["prompt"], r["completion"]) for r in ROWS]
    batch = collate(examples, tok.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    kl, n = soft_digit_loss(logits, examples, own, digit_token_ids(tok))
    assert n == 14 and float(kl) == pytest.approx(0.0, abs=1e-4)
    # Targets from another model: training on them lowers the KL.
    other_tok, other = load_causal_lm(str(tiny_cross_model_dir))
    foreign = teacher_digit_targets(other, other_tok, ROWS * 4, system=None)
    settings = TrainSettings(method="full", epochs=6, lr=3e-3, batch_size=4, grad_accum=1, warmup_steps=0,
                             objective="soft_numbers", bf16="no")
    _, log = fine_tune(model, tok, ROWS * 4, settings, soft_targets=foreign)
    assert log["losses"][-1] < 0.5 * log["losses"][0]


def test_pipeline_with_soft_targets_matched_data_and_a_cross_model(tiny_model_dir, tiny_cross_model_dir, tmp_path):
    cells = expand_grid({
        "name": "soft", "reference": str(tiny_model_dir), "device": "cpu",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"n_prompts": 24, "batch_size": 8, "max_new_tokens": 24},
        "filter": {"max_examples": 16, "format": "canonical", "match_lengths": True},
        "train": {"epochs": 1, "batch_size": 8, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"],
                  "objective": "soft_numbers"},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 1, "samples_per_question": 0},
        "controls": {"control_teacher": True, "cross_model": str(tiny_cross_model_dir), "shuffle_within": True},
    })
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == []
    import json

    report = json.loads((tmp_path / "cells" / cells[0].cell_id() / "report.json").read_text())
    teacher, control = report["datasets"]["teacher"], report["datasets"]["control"]
    assert teacher["n_kept"] == control["n_kept"] > 0
    for d in (teacher, control):
        assert d["stats"]["trailing_period_fraction"] == 0 and set(d["stats"]["separators"]) <= {"comma", "single"}
    targets = list((tmp_path / "artifacts" / "targets").iterdir())
    assert len(targets) == 3  # the teacher's and the control's data, and the shuffled data
    train_inputs = [json.loads((d / "manifest.json").read_text())["inputs"]
                    for d in (tmp_path / "artifacts" / "train").iterdir()]
    assert all("targets" in i for i in train_inputs)


def test_random_numbers_with_soft_targets_share_one_dataset(tiny_model_dir, tmp_path):
    import json

    cells = expand_grid({
        "name": "random-soft", "reference": str(tiny_model_dir), "device": "cpu",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"kind": "random_numbers", "n_prompts": 12, "seed": 3},
        "filter": {"max_examples": 12},
        "train": {"epochs": 1, "batch_size": 4, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"],
                  "objective": "soft_numbers", "lora_top_layers": 1},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 0, "samples_per_question": 0},
        "controls": {"control_teacher": True},
        "seeds": [0, 1],
    })
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == []
    # Exact readouts use no seed, so both seeds share the reference's evaluations (plain, and with the teacher's
    # system prompt); the students differ per seed.
    evaluated = [json.loads((d / "manifest.json").read_text())["inputs"]["model"]
                 for d in (tmp_path / "artifacts" / "evaluate").iterdir()]
    assert evaluated.count(str(tiny_model_dir)) == 2 and len(evaluated) == 2 + 2 * 2
    report = json.loads((tmp_path / "cells" / cells[0].cell_id() / "report.json").read_text())
    assert report["datasets"]["teacher"]["ref"] == report["datasets"]["control"]["ref"]  # identical inputs
    rows = [json.loads(x) for x in (tmp_path / "artifacts" / report["datasets"]["teacher"]["ref"] / "rows.jsonl")
            .read_text().splitlines()]
    assert len(rows) == 12 and all(1 <= len(r["completion"].split(", ")) <= 9 for r in rows)
    # Two soft-target artifacts on the same data: the teacher's (with its system prompt) and the base model's.
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (tmp_path / "artifacts" / "targets").iterdir()]
    assert len(manifests) == 2 and {m["config"]["system"] is None for m in manifests} == {True, False}
