"""The smoke run a new user starts with: `sublearn models install tiny`, then configs/smoke/tiny.yaml end to end
(teachers, numbers, filter, students saved as adapters, evaluation, report), through the command line."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sublearn.cli.app import app

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke" / "tiny.yaml"


# Inspect's own event streams, left open inside the library, warn on collection; nothing of ours.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_smoke_spec_runs_end_to_end_on_the_tiny_model(sublearn_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SUBLEARN_HOME", str(sublearn_home))  # `tiny` was built there by install_tiny, once
    runner = CliRunner()
    result = runner.invoke(app, ["models", "install", "tiny"])
    assert result.exit_code == 0, result.output
    assert (sublearn_home / "models" / "tiny" / "config.json").is_file()
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(SMOKE), "--out", str(run), "--quiet", "--set",
                                 "train.report_to=tensorboard"])
    assert result.exit_code == 0, result.output
    students = list((run / "artifacts" / "train").glob("*/model"))
    assert len(students) == 2 and all((s / "adapter_config.json").is_file() for s in students)
    # Each student's steps also went to TensorBoard, inside its artifact (recorded in the manifest's file table).
    for student in students:
        events = list((student.parent / "tensorboard").glob("events.out.tfevents.*"))
        files = json.loads((student.parent / "manifest.json").read_text())["files"]
        assert len(events) == 1 and f"tensorboard/{events[0].name}" in files
    # The run's log: every stage built, with its time, and the outcome.
    [log] = list((run / "logs").glob("*-run-*.log"))
    text = log.read_text()
    assert "evaluate/" in text and ": built in " in text and "cell " in text and text.rstrip().endswith("finished")
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0 and (run / "report.html").is_file()
    assert runner.invoke(app, ["verify", str(run)]).exit_code == 0

    # The run's evaluations as Inspect tasks, evaluated by Inspect on a student (a LoRA adapter folder): what
    # `inspect eval tasks.py --model hf/local -M model_path=FOLDER` runs, through its Python API (in this process,
    # which has torch and transformers loaded already).
    result = runner.invoke(app, ["export", str(run), "--format", "inspect", "--out", str(tmp_path / "inspect")])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "inspect" / "index.json").read_text())
    assert index["tasks"] == ["mcq_preference", "sampled_preference"]
    student = next(m for m in index["models"] if m["arm"] == "student")
    from inspect_ai import eval as inspect_eval  # imported here: collecting the fast tests stays quick

    logs = tmp_path / "inspect-logs"
    monkeypatch.chdir(tmp_path / "inspect")  # Inspect resolves a task file relative to the working folder
    done = inspect_eval("tasks.py", model="hf/local", model_args={"model_path": student["folder"]},
                        log_dir=str(logs), log_format="json", display="none", log_level="warning")
    assert [log.status for log in done] == ["success", "success"], [log.error for log in done]
    results = {}
    for log in logs.glob("*.json"):
        doc = json.loads(log.read_text())
        assert doc["status"] == "success", doc.get("error")
        results[doc["eval"]["task"].split("/")[-1]] = doc
    assert set(results) == {"mcq_preference", "sampled_preference"}
    assert len(results["sampled_preference"]["samples"]) == 25  # the held-out half, one answer each
    assert len(results["mcq_preference"]["samples"]) == 11  # the paper's 11 prompts, one ordering
    for doc in results.values():
        value = doc["results"]["scores"][0]["metrics"]["mean"]["value"]
        assert 0.0 <= value <= 1.0
