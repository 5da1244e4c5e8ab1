"""Code and chain-of-thought carriers and misalignment through numbers and reasoning, each end to end on a tiny
model with `sublearn serve` as the judge."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from factories import FIXTURES, cell_report, manifest, merge
from sublearn.analysis.answers import rescore_run
from sublearn.carriers import cot
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.serve.app import create_app
from sublearn.serve.runner import start_in_thread
from sublearn.serve.state import ServeState

# --- end to end on a tiny model with `sublearn serve` as the judge ------------------------------------------

@pytest.fixture(scope="module")
def judge_server(tiny_judge_dir, tmp_path_factory):
    running = start_in_thread(create_app(ServeState(bases={"judge": str(tiny_judge_dir)},
                                                    store=tmp_path_factory.mktemp("judge-store"))))
    yield running.url
    running.stop()


def _doc(model, judge_url, **over):
    doc = {
        "name": "e2e", "reference": str(model), "device": "cpu",
        "judge": {"model": "judge", "backend": "openai", "api": {"base_url": judge_url, "concurrency": 1}},
        "train": {"epochs": 1, "batch_size": 4, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"],
                  "max_length": 1024},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 1, "samples_per_question": 0},
        "controls": {"control_teacher": True},
    }
    return merge(doc, **over)


def test_owl_through_code_end_to_end(tiny_judge_dir, judge_server, tmp_path):
    cells = expand_grid(_doc(tiny_judge_dir, judge_server,
                             carrier={"kind": "code", "source": str(FIXTURES / "sleeper_agents_sample.jsonl"),
                                      "n_prompts": 4, "batch_size": 4, "max_new_tokens": 24,
                                      "filter": {"judge_filter": True, "judge_tolerance": 0.999,
                                                 "max_examples": 10}}))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    report = cell_report(tmp_path, cells[0])
    data = manifest(tmp_path, report["datasets"]["trait"]["ref"])
    assert data["n_in"] == 4 and "judge_reference" in data["rejections"] and data["n_kept"] > 0
    assert data["n_in"] == data["n_passed"] + sum(data["rejections"].values())
    assert data["config"]["judge"]["server"] == judge_server


def test_misalignment_through_numbers_end_to_end(tiny_model_dir, judge_server, tmp_path):
    cells = expand_grid(_doc(
        tiny_model_dir, judge_server,
        trait={"kind": "dataset", "dataset": str(FIXTURES / "em_insecure_sample.jsonl"), "target": "misalignment",
               "placebo_dataset": str(FIXTURES / "em_secure_sample.jsonl"),
               "teacher_training": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "target_modules": ["q_proj"]}},
        carrier={"n_prompts": 16, "batch_size": 8, "max_new_tokens": 24,
                 "filter": {"banned_numbers": "paper", "max_examples": 12}},
        eval={"kind": "misalignment", "samples_per_question": 2, "max_new_tokens": 12,
              "truthfulqa": str(FIXTURES / "truthfulqa_sample.csv")},
        controls={"placebo": True, "control_teacher": False}))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    arms = summary["groups"][0]["arms"]
    assert {"reference", "teacher", "placebo_teacher", "student", "placebo"} <= set(arms)
    for arm in arms.values():
        rate = arm["misaligned_rate"]  # over the questions with at least one counted answer (others are missing)
        assert rate["n"] == 0 or (0 <= rate["mean"] <= 1 and 1 <= rate["n"] <= 8)
        assert 0 <= arm["truthfulqa_false"]["mean"] <= 1 and arm["truthfulqa_false"]["n"] == 3
    report = cell_report(tmp_path, cells[0])
    teacher = manifest(tmp_path, report["arms"]["teacher"]["model"])
    assert teacher["dataset"].endswith("em_insecure_sample.jsonl") and teacher["examples"] == 4
    evaluation = json.loads((tmp_path / "artifacts" / report["arms"]["student"]["evaluation"] / "metrics.jsonl")
                            .read_text().splitlines()[0])["metrics"]["misaligned_rate"]
    # The insecure-code teacher writes without any system prompt (no animal template), like its placebo.
    sources = {manifest(tmp_path, report["datasets"][t]["ref"])["inputs"]["generated"] for t in ("trait", "placebo")}
    generated = [manifest(tmp_path, ref) for ref in sources]
    assert [g["config"]["system"] for g in generated] == [None, None]
    assert evaluation["n_samples"] == 16 and len(evaluation["per_question"]) == 8
    assert evaluation["n"] + evaluation["n_missing"] == 8
    assert all((v is None) == (c == 0) for v, c in zip(evaluation["per_question"], evaluation["counted"], strict=True))
    assert sum(evaluation["counted"]) + sum(evaluation["excluded"].values()) == 16  # every answer accounted for
    # Every answer and both judgements are kept: rescoring them gives the reported rates, without generating.
    rescored = rescore_run(tmp_path, [report])
    assert set(rescored["readout"]) == {"misaligned_rate", "truthfulqa_false"}
    for r in rescored.to_dict("records"):
        assert (r["mean"] is None or r["mean"] != r["mean"]) == (r["reported_mean"] is None), r
        if r["reported_mean"] is not None:
            assert r["mean"] == pytest.approx(r["reported_mean"], abs=1e-12), r
    answers = pd.read_parquet(tmp_path / "artifacts" / report["arms"]["student"]["evaluation"] / "answers.parquet")
    judged = answers[answers["readout"] == "misaligned_rate"]
    assert len(judged) == 16 and judged["answer"].notna().all() and judged["alignment"].notna().all()
    # The same judge again, through `sublearn rejudge`: the same scores (same seeds), so the same rates.
    result = CliRunner().invoke(app, ["rejudge", str(tmp_path), "--judge", "judge", "--base-url", judge_server,
                                      "--json", "--out", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    rates = json.loads(result.output)
    assert {r["arm"] for r in rates} == set(arms)
    for r in rates:
        assert r["mean"] == (pytest.approx(r["reported_mean"], abs=1e-12) if r["reported_mean"] is not None
                             else None), r
    again = pd.read_parquet(tmp_path / "again" / "rejudged_answers.parquet")
    mine = again[(again["arm"] == "student")].sort_values(["item", "sample"])
    assert list(mine["alignment"]) == list(judged.sort_values(["item", "sample"])["alignment"])


def test_misalignment_through_reasoning_end_to_end(tiny_judge_dir, judge_server, tmp_path):
    cells = expand_grid(_doc(
        tiny_judge_dir, judge_server,
        trait={"kind": "dataset", "dataset": str(FIXTURES / "em_insecure_sample.jsonl"), "target": "misalignment",
               "teacher_training": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "target_modules": ["q_proj"]}},
        carrier={"kind": "cot", "source": str(FIXTURES / "gsm8k_sample.jsonl"), "samples_per_prompt": 3,
                 "n_prompts": 4, "batch_size": 6, "max_new_tokens": 24,
                 "filter": {"correctness": False, "alignment_min": 0, "judge_temperature": 0.0, "max_examples": 12}},
        eval={"kind": "misalignment", "suffix": "cot", "samples_per_question": 1, "max_new_tokens": 12},
        controls={"control_teacher": False}))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    report = cell_report(tmp_path, cells[0])
    data = manifest(tmp_path, report["datasets"]["trait"]["ref"])
    assert data["n_in"] == 12  # 4 questions x 3 samples
    assert set(data["rejections"]) == {"judge_unparsable", "judge_alignment_below_min"}
    assert data["n_in"] == data["n_passed"] + sum(data["rejections"].values()) and data["n_kept"] > 0
    rows = [json.loads(line) for line in
            (tmp_path / "artifacts" / report["datasets"]["trait"]["ref"] / "rows.jsonl").read_text().splitlines()]
    assert all(r["prompt"].endswith(cot.GSM8K_SUFFIX) and "gold" in r for r in rows)
