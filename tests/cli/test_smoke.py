"""The smoke run a new user starts with: `sublearn models install tiny`, then configs/smoke/tiny.yaml end to end
(teachers, numbers, filter, students saved as adapters, evaluation, report), through the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sublearn.cli.app import app

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke" / "tiny.yaml"


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
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0 and (run / "report.html").is_file()
    assert runner.invoke(app, ["verify", str(run)]).exit_code == 0

    # The run's evaluations as Inspect tasks, evaluated by `inspect eval` on a student (a LoRA adapter folder).
    result = runner.invoke(app, ["export", str(run), "--format", "inspect", "--out", str(tmp_path / "inspect")])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "inspect" / "index.json").read_text())
    assert index["tasks"] == ["mcq_preference", "sampled_preference"]
    student = next(m for m in index["models"] if m["arm"] == "student")
    logs = tmp_path / "inspect-logs"
    inspect = Path(sys.executable).parent / "inspect"
    done = subprocess.run([str(inspect), "eval", "tasks.py", "--model", "hf/local",
                           "-M", f"model_path={student['folder']}", "--log-dir", str(logs), "--log-format", "json",
                           "--display", "none"], capture_output=True, text=True, timeout=300, cwd=tmp_path / "inspect",
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "INSPECT_LOG_LEVEL": "warning"})
    assert done.returncode == 0, done.stdout + done.stderr
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
