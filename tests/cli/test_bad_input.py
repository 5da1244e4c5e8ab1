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


@pytest.mark.parametrize("command", [["theory"], ["demo"], ["mnist", "--dataset", "digits"]])
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
