"""Defences on text data (train.objective tokens): teacher mixing with the reference's own data, and random digits
at the digit tokens where the teacher diverges most from the reference; both applied to every student alike."""

import json

import numpy as np
import pytest

from factories import LIGHT_TRAIN
from sublearn.backends.base import BackendOptions
from sublearn.backends.hf import HFBackend
from sublearn.carriers.defences import mix_rows
from sublearn.carriers.numbers import number_prompts
from sublearn.config.experiment import ExperimentSpec
from sublearn.config.grid import expand_grid
from sublearn.models.hf.divergence import completion_divergence, digit_token_ids
from sublearn.models.hf.loading import load_causal_lm
from sublearn.pipeline.grid import run_grid


def test_teacher_mixing_replaces_the_share_asked_for_in_place():
    teacher = [{"prompt": f"p{i}", "completion": f"t{i}"} for i in range(10)]
    reference = [{"prompt": f"q{i}", "completion": f"r{i}"} for i in range(6)]
    mixed, stats = mix_rows(teacher, reference, 0.3, seed=2)
    assert stats["rows_from_reference"] == 3 and len(mixed) == 10
    assert sum(r["completion"].startswith("r") for r in mixed) == 3
    assert [r for r in mixed if r["completion"].startswith("t")] == [r for r in teacher if r in mixed]
    assert len({r["completion"] for r in mixed}) == 10  # drawn without replacement
    assert mix_rows(teacher, reference, 0.3, seed=2) == (mixed, stats)
    assert mix_rows(teacher, reference, 1.0, seed=0)[1]["rows_from_reference"] == 6  # all it has


def test_the_most_divergent_digit_tokens_and_only_those_are_replaced(tiny_model_dir):
    backend = HFBackend(BackendOptions(device="cpu", inference_dtype="float32"))
    rows = [{"prompt": p, "completion": c} for p, c in
            zip(number_prompts(6, 1), ["12, 345, 678", "9, 8, 7, 6", "(1 2 3)", "400, 401", "5", "77; 88"],
                strict=True)]
    system = "You love owls. You think about owls all the time."
    out, stats = backend.divergent_digits(str(tiny_model_dir), system, str(tiny_model_dir), rows, 0.25, seed=1)
    tok, model = load_causal_lm(str(tiny_model_dir))
    digits = set(digit_token_ids(tok))
    scored = completion_divergence(model, model, tok, rows, system)
    kls = np.concatenate([kl[np.isin(ids, list(digits))] for ids, kl in scored])
    assert stats["digit_tokens"] == len(kls) == sum(ch.isdigit() for r in rows for ch in r["completion"])
    assert stats["replaced"] == round(0.25 * len(kls)) and (kls > 0).all()
    changed_positions = []
    for before, after in zip(rows, out, strict=True):
        a, b = before["completion"], after["completion"]
        assert len(a) == len(b) and all(x == y or (x.isdigit() and y.isdigit()) for x, y in zip(a, b, strict=True))
        changed_positions += [k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    assert len(changed_positions) <= stats["replaced"]  # a random digit may equal the one it replaces
    threshold = np.sort(kls)[::-1][stats["replaced"] - 1]
    for before, after, (ids, kl) in zip(rows, out, scored, strict=True):
        digit_kl = kl[np.isin(ids, list(digits))]
        for k, (x, y) in enumerate(zip(before["completion"], after["completion"], strict=True)):
            if x != y:
                assert digit_kl[sum(ch.isdigit() for ch in before["completion"][:k])] >= threshold
    assert out == backend.divergent_digits(str(tiny_model_dir), system, str(tiny_model_dir), rows, 0.25, 1)[0]


def _doc(tiny_model_dir, defences):
    return {
        "name": "text-defended", "reference": str(tiny_model_dir), "device": "cpu", "inference_dtype": "float32",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"kind": "numbers", "n_prompts": 8, "seed": 3, "max_new_tokens": 12, "batch_size": 8,
                    "filter": {"max_examples": 8}},
        "train": {**LIGHT_TRAIN, "batch_size": 4, "lora_top_layers": 1},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 0, "samples_per_question": 0},
        "controls": {"placebo": False, "control_teacher": True},
        "defence": defences,
        "seeds": [0],
    }


def test_text_defences_transform_every_students_data_alike(tiny_model_dir, tmp_path):
    cells = expand_grid(_doc(tiny_model_dir, [{"kind": "teacher_mix", "mix": 0.5},
                                              {"kind": "divergence_replace", "fraction": 0.5}]))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "defend").glob("*/manifest.json")]
    by_kind = {d: [m for m in manifests if m["defence"].startswith(d)] for d in ("teacher_mix", "divergence")}
    assert len(by_kind["teacher_mix"]) == len(by_kind["divergence"]) == 2  # trait and control students
    for m in by_kind["teacher_mix"]:
        rows = [json.loads(line) for line in (tmp_path / "artifacts" / "defend" / m["key"] / "rows.jsonl")
                .read_text().splitlines()]
        assert m["rows_from_reference"] == sum(r.get("mixed_from") == "reference" for r in rows) > 0
        assert "reference_data" in m["inputs"]
    for m in by_kind["divergence"]:
        assert m["replaced"] == round(0.5 * m["digit_tokens"]) and m["inputs"]["reference"] == str(tiny_model_dir)
    trained = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "train").glob("*/manifest.json")]
    defended = {f"defend/{m['key']}" for m in manifests}
    assert len(trained) == 4 and all(t["inputs"]["dataset"] in defended for t in trained)
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("cells/*/report.json")]
    assert sorted(r["arms"]["student"]["defence"] for r in reports) == ["divergence_replace 50%",
                                                                       "teacher_mix 50% reference"]


def test_soft_target_defences_are_refused_on_text_data(tiny_model_dir):
    with pytest.raises(ValueError, match=r"defence\.kind hard_labels"):
        ExperimentSpec.model_validate({k: v for k, v in _doc(tiny_model_dir, {"kind": "hard_labels"}).items()
                                       if k != "seeds"})
