"""Bad input at the command line: one line naming the option or file, before any computation, never a
traceback; `sublearn verify` names every damaged artifact."""

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from sublearn.cli._common import error_text
from sublearn.cli.app import app
from sublearn.pipeline.store import ArtifactStore

runner = CliRunner()


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = result.output.strip()
    assert text.startswith("error:") and "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


@pytest.fixture()
def read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield folder
    folder.chmod(stat.S_IRWXU)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command", [["theory"], ["demo"], ["mnist", "--dataset", "digits"]])
def test_an_unwritable_out_is_refused_before_any_computation(command, read_only):
    result = runner.invoke(app, [*command, "--out", str(read_only / "x"), "--quiet"])
    _one_line_error(result, "--out", "cannot write there")


@pytest.mark.parametrize("command", [["theory"], ["demo"], ["mnist", "--dataset", "digits"], ["audit", "validate"]])
def test_an_out_that_cannot_be_a_folder_is_refused_before_any_computation(command, tmp_path):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, [*command, "--out", str(tmp_path / "file" / "sub"), "--quiet"])
    _one_line_error(result, "--out", "cannot write there")


def test_file_json_and_encoding_errors_are_one_line():
    assert error_text(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    try:
        json.loads('{"a": ')
    except json.JSONDecodeError as exc:
        assert error_text(exc).startswith("not valid JSON: Expecting value at line 1")
    try:
        b"\xff".decode()
    except UnicodeDecodeError as exc:
        assert error_text(exc).startswith("not UTF-8 text (invalid start byte at byte 0)")


def test_report_of_a_run_whose_summary_is_corrupt_is_one_line(tmp_path):
    (tmp_path / "summary.json").write_text("{half")
    _one_line_error(runner.invoke(app, ["report", str(tmp_path)]), "summary.json: corrupt, not valid JSON")
    (tmp_path / "summary.json").unlink()
    (tmp_path / "summary.json").mkdir()
    _one_line_error(runner.invoke(app, ["report", str(tmp_path)]), "summary.json: cannot be read")


def test_serve_refuses_to_listen_beyond_this_machine_without_a_key():
    result = runner.invoke(app, ["serve", "tiny", "--host", "0.0.0.0"])
    _one_line_error(result, "--host 0.0.0.0", "--allow-remote-without-key")


def test_verify_names_each_damaged_artifact_and_exits_1(tmp_path):
    store = ArtifactStore(tmp_path, note=lambda _: None)

    def produce(out, work):
        (out / "data.txt").write_text("hello")
        return {}

    good = store.build("filter", {"a": 1}, {}, produce)
    bad = store.build("filter", {"a": 2}, {}, produce)
    assert runner.invoke(app, ["verify", str(tmp_path)]).exit_code == 0
    (bad.path / "data.txt").write_text("HELLO")
    result = runner.invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 1
    assert bad.key in result.output and good.key not in result.output
    assert "2 artifact(s) and 0 cell report(s) checked (sizes and sha256): 1 ok, 1 with problems" in " ".join(
        result.output.split())
    assert runner.invoke(app, ["verify", str(tmp_path), "--sizes-only"]).exit_code == 0
    _one_line_error(runner.invoke(app, ["verify", str(tmp_path / "nothing")]), "no artifacts folder")


@pytest.mark.parametrize(("text", "needle"), [
    (b"\xff\xfe name: x", "cannot be read"),
    (b"name: x\ntrait: {target: owl\n", "not valid YAML"),
    (b"name: x\nreference: m\ntrait: {target: owl}\ncolour: blue\n", "colour: Extra inputs are not permitted"),
    (b"name: x\nreference: m\ntrait: {target: []}\n", "trait.target: an empty list of values makes no cells"),
    (b"name: x\nreference: m\ntrait: {target: owl}\nseeds: []\n", "seeds: must be a non-empty list"),
    (b"name: ../../etc/x\nreference: m\ntrait: {target: owl}\n", "name: '../../etc/x' must be 1-100 letters"),
    (b"- 1\n- 2\n", "the top level must be a mapping"),
])
def test_a_bad_spec_is_one_line_naming_the_field(tmp_path, text, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(text)
    _one_line_error(runner.invoke(app, ["validate", str(spec)]), str(spec), needle)


def test_a_folder_given_as_a_spec_is_named(tmp_path):
    _one_line_error(runner.invoke(app, ["validate", str(tmp_path)]), "a folder, not a spec file")


@pytest.mark.parametrize(("args", "needle"), [
    (["--device", "bogus"], "device: 'bogus' is not a device"),
    (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
])
def test_bad_mnist_options_are_one_line(tmp_path, args, needle):
    _one_line_error(runner.invoke(app, ["mnist", *args, "--out", str(tmp_path / "m")]), needle)


def test_run_with_an_out_that_cannot_be_a_folder_is_refused_before_any_computation(tmp_path):
    (tmp_path / "file").write_text("x")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: probe\nreference: smollm2-135m\ntrait: {target: owl}\n")
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "file" / "out"), "--quiet"])
    _one_line_error(result, "--out", "cannot write there")


def test_audit_lm_with_a_missing_data_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["audit", "lm", "--reference", "tiny", "--data", str(tmp_path / "x.jsonl"),
                                 "--trait-data", str(tmp_path / "x.jsonl")])
    _one_line_error(result, "x.jsonl: file not found")


def test_every_case_of_the_hardening_table_names_a_test_that_exists():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "hardening.md").read_text()
    rows = [line.split(" | ") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| area", "|---"))]
    assert len(rows) > 50
    for row in rows:
        test = row[-1].strip(" |`")
        path, _, name = test.partition("::")
        assert name, f"{row[1]}: names a file, not a test"
        assert f"def {name}(" in (root / path).read_text(), test
    results = [row[2] for row in rows]
    headline = re.search(r"\*\*(\d+) bad inputs\*\*: \*\*(\d+)\*\* clear error, \*\*(\d+)\*\* safe result", text)
    assert headline, "docs/hardening.md: the counts line is missing"
    assert [int(x) for x in headline.groups()] == [len(rows), results.count("clear error"),
                                                   results.count("safe result")]
    assert set(results) <= {"clear error", "safe result"}


@pytest.mark.parametrize("command", [
    ["scan", "DATA", "--teacher", "nobody/teacher", "--reference", "nobody/reference"],
    ["audit", "lm", "--reference", "nobody/reference", "--data", "DATA", "--teacher", "nobody/teacher"],
    ["defend", "table", "RUN"],
])
def test_a_result_file_that_cannot_be_written_is_refused_before_any_computation(command, tmp_path):
    (tmp_path / "data.jsonl").write_text('{"prompt": "p", "completion": "1, 2"}\n')
    (tmp_path / "run").mkdir()
    (tmp_path / "file").write_text("x")
    args = [{"DATA": str(tmp_path / "data.jsonl"), "RUN": str(tmp_path / "run")}.get(a, a) for a in command]
    _one_line_error(runner.invoke(app, [*args, "--out", str(tmp_path / "file" / "result.json")]), "--out",
                    "cannot write there")
    _one_line_error(runner.invoke(app, [*args, "--out", str(tmp_path)]), "--out", "a folder")
