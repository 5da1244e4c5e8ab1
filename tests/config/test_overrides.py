"""`--set PATH=VALUE`: one field of a spec changed from the command line, checked and validated like the file,
and recorded in the run folder."""

import json

import pytest
from typer.testing import CliRunner

from sublearn.cli.app import app
from sublearn.config.grid import load_spec_file, parse_override
from sublearn.util.errors import ConfigError

SPEC = "name: x\nreference: some/model\ntrait: {target: owl}\ntrain: {lr: 2.0e-4}\n"


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("train.lr=1e-4", ("train.lr", 1e-4)), ("seeds=[0, 1]", ("seeds", [0, 1])),
    ("trait.target=cat", ("trait.target", "cat")), ("controls.cross_model=null", ("controls.cross_model", None)),
    ("train.method=lora", ("train.method", "lora")),
])
def test_values_are_read_as_yaml(text, expected):
    assert parse_override(text) == expected


def test_overrides_change_the_cells(spec):
    cells = load_spec_file(spec, ["train.lr=1e-4", "seeds=[0,1]", "grid.train.epochs=[1,2]"])
    assert len(cells) == 4 and {c.train.lr for c in cells} == {1e-4} and {c.train.epochs for c in cells} == {1, 2}
    assert load_spec_file(spec)[0].train.lr == 2e-4  # the file is untouched


@pytest.mark.parametrize(("text", "message"), [
    ("train.lrr=1", "--set train.lrr: no such field"),
    ("train.lr", "give PATH=VALUE"),
    ("train.lr=-1", "train.lr"),
    ("train.lr=[oops", "not a YAML value"),
])
def test_a_bad_override_is_named(spec, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_spec_file(spec, [text])


def test_the_cli_takes_overrides_and_the_run_records_them(spec, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(spec), "--set", "seeds=[3, 4]"])
    assert result.exit_code == 0 and "2 cell(s)" in result.output
    result = runner.invoke(app, ["validate", str(spec), "--set", "train.nope=1"])
    assert result.exit_code == 2 and "--set train.nope: no such field" in result.output
    from sublearn.pipeline.grid import record_invocation

    record_invocation(tmp_path / "run", spec, ["train.lr=1e-4"], 1)
    line = json.loads((tmp_path / "run" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line["overrides"] == ["train.lr=1e-4"] and line["spec"] == str(spec) and len(line["spec_sha256"]) == 64


@pytest.mark.parametrize(("text", "expected"), [("train.bf16=no", "no"), ("train.bf16=yes", "yes"),
                                                 ("train.bf16=auto", "auto")])
def test_yaml_yes_and_no_mean_the_bf16_setting_not_an_error(spec, text, expected):
    assert load_spec_file(spec, [text])[0].train.bf16 == expected
