"""The LLM pipeline end to end on tiny local Llama models: every stage, every control, a grid, crash and resume."""

import json

import pytest
import yaml
from typer.testing import CliRunner

import sublearn.backends.hf_backend as hf_backend
from sublearn.cli import app
from sublearn.grid import run_grid
from sublearn.jsonl import read_jsonl
from sublearn.spec import expand_grid

LIGHT_EVAL = {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 1, "samples_per_question": 1}


def _spec(reference, cross=None, **over):
    doc = {
        "name": "tiny-owl",
        "reference": str(reference),
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"n_prompts": 32, "batch_size": 8, "max_new_tokens": 32},
        "filter": {"max_examples": 20},
        "train": {"epochs": 1, "batch_size": 8, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"]},
        "eval": LIGHT_EVAL,
        "controls": {"control_teacher": True, "cross_model": str(cross) if cross else None, "cross_control": True,
                     "icl_k": 2,
                     "shuffle_within": True, "shuffle_across": True},
    }
    for key, value in over.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return doc


def test_whole_pipeline_with_every_control_and_two_seeds(tiny_model_dir, tiny_cross_model_dir, tmp_path):
    cells = expand_grid({**_spec(tiny_model_dir, tiny_cross_model_dir), "seeds": [0, 1]})
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [] and len(summary["groups"]) == 1
    group = summary["groups"][0]
    expected = {"reference", "teacher", "student", "control", "cross_reference", "cross_student", "cross_control",
                "icl", "icl_control", "shuffled_within", "shuffled_across"}
    assert set(group["arms"]) == expected
    for arm in expected:
        for metric in ("p_exact", "share_exact", "mcq", "sampled_rate"):
            entry = group["arms"][arm][metric]
            assert len(entry["per_seed"]) == 2 and entry["ci_over"] == "seeds"
            assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]
    assert "student-control:p_exact" in group["tests_over_seeds"]
    assert "cross_student-cross_control:p_exact" in group["tests_over_seeds"]
    report = json.loads((tmp_path / "cells" / cells[0].cell_id() / "report.json").read_text())
    teacher_data = report["datasets"]["teacher"]
    assert teacher_data["n_in"] == 32 and teacher_data["n_passed"] + sum(teacher_data["rejections"].values()) >= 32
    assert 0 <= teacher_data["stats"]["new_number_fraction"] <= 1
    assert "student-control:p_exact" in report["comparisons"]
    # Provenance: every arm's evaluation is a finished artifact whose manifest names its model.
    for arm in report["arms"].values():
        manifest = json.loads((tmp_path / "artifacts" / arm["evaluation"] / "manifest.json").read_text())
        assert manifest["model"] == arm["model"]
    # Seeds share the teacher data: two generate artifacts (trait and control teachers) for both cells.
    assert len(list((tmp_path / "artifacts" / "generate").iterdir())) == 2
    assert not list(tmp_path.glob("artifacts/*/.tmp-*"))
    assert (tmp_path / "summary.md").read_text().count("| student |") == 1


def test_crash_mid_generation_resumes_from_the_last_batch(tiny_model_dir, tmp_path, monkeypatch):
    cells = expand_grid(_spec(tiny_model_dir, controls={"control_teacher": False, "cross_model": None, "icl_k": 0,
                                                        "shuffle_within": False, "shuffle_across": False}))
    real = hf_backend.generate_chat
    batches = []

    def crashing(*args, on_batch=None, **kwargs):
        def hook(first, texts):
            on_batch(first, texts)
            batches.append(first)
            if len(batches) == 2:
                raise KeyboardInterrupt("simulated kill")

        return real(*args, on_batch=hook, **kwargs)

    monkeypatch.setattr(hf_backend, "generate_chat", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_grid(cells, tmp_path)
    assert not (tmp_path / "artifacts" / "generate").exists() or not any(
        (p / "manifest.json").exists() for p in (tmp_path / "artifacts" / "generate").iterdir())
    partial = next((tmp_path / "work" / "generate").iterdir()) / "partial.jsonl"
    assert len(read_jsonl(partial)) == 16  # two batches of 8 kept

    resumed = []

    def counting(*args, on_batch=None, **kwargs):
        def hook(first, texts):
            resumed.append(first)
            on_batch(first, texts)

        return real(*args, on_batch=hook, **kwargs)

    monkeypatch.setattr(hf_backend, "generate_chat", counting)
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == []
    assert resumed == [16, 24]  # only the two missing batches were generated
    manifest = json.loads(next((tmp_path / "artifacts" / "generate").glob("*/manifest.json")).read_text())
    assert manifest["n_rows"] == 32 and manifest["resumed_from"] == 16
    # Same prompts and completions as an uninterrupted run:
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(hf_backend, "generate_chat", real)
    run_grid(cells, fresh)
    rows = read_jsonl(next((tmp_path / "artifacts" / "generate").glob("*/rows.jsonl")))
    assert rows == read_jsonl(next((fresh / "artifacts" / "generate").glob("*/rows.jsonl")))
    # A third run finds every artifact done and generates nothing.
    resumed.clear()
    monkeypatch.setattr(hf_backend, "generate_chat", counting)
    run_grid(cells, tmp_path)
    assert resumed == []


def test_fine_tuned_teacher_and_a_learning_rate_grid(tiny_model_dir, tmp_path):
    doc = _spec(tiny_model_dir, trait={"kind": "fine_tuned", "teacher_training": {"method": "full", "epochs": 1,
                                                                                   "batch_size": 16, "grad_accum": 1,
                                                                                   "lr": 1e-3}},
                controls={"control_teacher": False, "cross_model": None, "icl_k": 0, "shuffle_within": False,
                          "shuffle_across": False},
                eval={**LIGHT_EVAL, "samples_per_question": 0})
    doc["train"]["lr"] = [1e-3, 2e-3]
    cells = expand_grid(doc)
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [] and len(summary["groups"]) == 2
    teacher = next((tmp_path / "artifacts" / "teacher").glob("*/manifest.json"))
    assert json.loads(teacher.read_text())["examples"] == 400  # 50 questions x 8 answer variants
    assert len(list((tmp_path / "artifacts" / "generate").iterdir())) == 1  # shared by both cells
    assert len(list((tmp_path / "artifacts" / "train").iterdir())) == 2
    teacher_p = summary["groups"][0]["arms"]["teacher"]["p_exact"]["mean"]
    reference_p = summary["groups"][0]["arms"]["reference"]["p_exact"]["mean"]
    assert teacher_p > reference_p  # the fine-tuned teacher does love owls


runner = CliRunner()


def test_validate_names_every_bad_field(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"reference": "x", "train": {"lr": -1, "bogus": 1},
                                    "carrier": {"n_prompts": "many"}, "grid": {"train.nope": [1]}}))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2 and "grid: train.nope: no such field" in result.output
    spec.write_text(yaml.safe_dump({"reference": "x", "train": {"lr": -1, "bogus": 1},
                                    "carrier": {"n_prompts": "many"}}))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    for field in ("train.lr", "train.bogus", "carrier.n_prompts"):
        assert field in result.output
    spec.write_text("reference: x\ntrain: {lr: [1e-4, 2e-4]}\nseeds: [0, 1, 2]\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0 and "6 cell(s)" in result.output
    spec.write_text("reference: x\ntrain: {lr: [1e-4\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2 and "not valid YAML" in result.output


def test_run_with_a_missing_model_reports_the_cell_and_keeps_going(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "m", "reference": "nobody/no-such-model", "carrier": {"n_prompts": 4}}))
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 1
    assert "failed" in result.output and "no-such-model" in result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["failures"]
