"""The pipeline with soft digit targets: format-matched data, a cross model, random numbers shared by every arm."""

import json

from factories import cell_report
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FAKE_A, FAKE_B, FakeBackend


def test_pipeline_with_soft_targets_matched_data_and_a_cross_model(tmp_path):
    cells = expand_grid({
        "name": "soft", "reference": FAKE_A, "device": "cpu",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"n_prompts": 24, "batch_size": 8, "max_new_tokens": 24,
                    "filter": {"max_examples": 16, "format": "canonical", "match_lengths": True}},
        "train": {"epochs": 1, "batch_size": 8, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"],
                  "objective": "soft_numbers"},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 1, "samples_per_question": 0},
        "controls": {"control_teacher": True, "cross_model": FAKE_B, "cross_control": True},
    })
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == []
    report = cell_report(tmp_path, cells[0])
    teacher, control = report["datasets"]["trait"], report["datasets"]["control"]
    assert teacher["n_kept"] == control["n_kept"] > 0
    for d in (teacher, control):
        assert d["stats"]["trailing_period_fraction"] == 0 and set(d["stats"]["separators"]) <= {"comma", "single"}
    targets = list((tmp_path / "artifacts" / "targets").iterdir())
    assert len(targets) == 2  # on the trait teacher's data and on the control's, shared by both base models
    train_inputs = [json.loads((d / "manifest.json").read_text())["inputs"]
                    for d in (tmp_path / "artifacts" / "train").iterdir()]
    assert all("targets" in i for i in train_inputs)


def test_random_numbers_with_soft_targets_share_one_dataset(tmp_path):
    cells = expand_grid({
        "name": "random-soft", "reference": FAKE_A, "device": "cpu",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"kind": "random_numbers", "n_prompts": 12, "seed": 3, "filter": {"max_examples": 12}},
        "train": {"epochs": 1, "batch_size": 4, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"],
                  "objective": "soft_numbers", "lora_top_layers": 1},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 0, "samples_per_question": 0},
        "controls": {"control_teacher": True},
        "seeds": [0, 1],
    })
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == []
    # Exact readouts use no seed, so both seeds share the reference's evaluations (plain, and with the teacher's
    # system prompt); the students differ per seed.
    evaluated = [json.loads((d / "manifest.json").read_text())["inputs"]["model"]
                 for d in (tmp_path / "artifacts" / "evaluate").iterdir()]
    assert evaluated.count(FAKE_A) == 2 and len(evaluated) == 2 + 2 * 2
    report = cell_report(tmp_path, cells[0])
    assert report["datasets"]["trait"]["ref"] == report["datasets"]["control"]["ref"]  # identical inputs
    rows = [json.loads(x) for x in (tmp_path / "artifacts" / report["datasets"]["trait"]["ref"] / "rows.jsonl")
            .read_text().splitlines()]
    assert len(rows) == 12 and all(1 <= len(r["completion"].split(", ")) <= 9 for r in rows)
    # Per replicate, two soft-target artifacts on its data: the teacher's (with its system prompt) and the base's.
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (tmp_path / "artifacts" / "targets").iterdir()]
    assert len(manifests) == 2 * 2 and {m["config"]["system"] is None for m in manifests} == {True, False}
    assert len({m["inputs"]["dataset"] for m in manifests}) == 2  # a replicate draws its own numbers
