"""The smoke run a new user starts with: `sublearn models install tiny`, then configs/smoke/tiny.yaml end to end
(teachers, numbers, filter, students saved as adapters, evaluation, report), through the command line."""

from pathlib import Path

from typer.testing import CliRunner

from sublearn.cli.app import app

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke" / "tiny.yaml"


def test_the_smoke_spec_runs_end_to_end_on_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBLEARN_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    result = runner.invoke(app, ["models", "install", "tiny"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "models" / "tiny" / "config.json").is_file()
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(SMOKE), "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    students = list((run / "artifacts" / "train").glob("*/model"))
    assert len(students) == 2 and all((s / "adapter_config.json").is_file() for s in students)
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0 and (run / "report.html").is_file()
    assert runner.invoke(app, ["verify", str(run)]).exit_code == 0
