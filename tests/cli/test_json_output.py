"""`--json` on every command that prints results: stdout is then one JSON document and nothing else (no table,
no progress bar, no NaN), so that scripts can read it."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import NO_CONTROLS, cli_commands, spec_doc
from sublearn.cli.app import app

#: Commands without --json, and why: they print no results, or print machine-readable output already.
WITHOUT_JSON = {("serve",): "a server", ("models", "install"): "installs",
                ("models", "pretrain"): "builds a model; its world.json records the build",
                ("report",): "writes an HTML file",
                ("export",): "writes files and their index.json", ("summary-tables",): "writes Markdown files",
                ("reference",): "writes Markdown files",
                ("numbers", "prompts"): "prints JSONL already",
                ("numbers", "check"): "prints JSONL already", ("audit", "lm"): "prints JSON always"}


def test_every_command_that_prints_results_takes_json():
    commands = cli_commands()
    missing = [path for path, command in commands if path not in WITHOUT_JSON
               and not any("--json" in p.opts for p in command.params)]
    assert missing == []
    assert set(WITHOUT_JSON) <= {path for path, _ in commands}  # the exemptions name real commands


def _json(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_validate_models_and_verify_print_one_json_document(tmp_path):
    from sublearn.config.grid import expand_grid
    from sublearn.pipeline.grid import run_grid
    from sublearn.testing.fake_backend import FAKE_A, FakeBackend

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**spec_doc(FAKE_A, controls=NO_CONTROLS), "seeds": [0, 1]}))
    doc = _json(["validate", str(spec), "--json"])
    assert doc["valid"] and [c["seed"] for c in doc["cells"]] == [0, 1]
    assert {m["name"] for m in _json(["models", "list", "--json"])["models"]} >= {"tiny", "smollm2-135m"}
    run_grid(expand_grid(spec_doc(FAKE_A, controls=NO_CONTROLS)), tmp_path / "run", backend=FakeBackend())
    verified = _json(["verify", str(tmp_path / "run"), "--json"])
    assert verified["ok"] and verified["problems"] == {} and verified["checked"]["cell_reports"] == 1


@pytest.mark.slow
def test_an_experiment_prints_its_results_as_json_without_progress_bars(tmp_path):
    doc = _json(["mnist", "--dataset", "digits", "-n", "2", "--teacher-epochs", "1", "--student-epochs", "1",
                 "--out", str(tmp_path / "mnist"), "--json"])
    saved = json.loads(Path(tmp_path / "mnist" / "results.json").read_text())
    assert doc["arms"].keys() == saved["arms"].keys() and doc["config"] == saved["config"]
