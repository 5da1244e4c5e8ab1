"""Logs: `--log-level` sets what stderr shows; each command that works on a folder keeps its own log file there
(the command line, the outcome, and a failure's whole traceback that the console shows as one line)."""

import logging

import pytest
from typer.testing import CliRunner

from factories import NO_CONTROLS, spec_doc
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FAKE_A, FakeBackend


@pytest.fixture()
def run(tmp_path):
    cells = expand_grid(spec_doc(FAKE_A, controls=NO_CONTROLS))
    assert run_grid(cells, tmp_path / "run", backend=FakeBackend())["failures"] == []
    return tmp_path / "run"


def _logs(folder, command):
    return sorted((folder / "logs").glob(f"*-{command}-*.log"))


def test_a_command_on_a_run_keeps_its_log_there(run):
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 0, result.output
    [log] = _logs(run, "verify")
    text = log.read_text()
    assert f"verify run_dir={run}" in text.splitlines()[0] and text.rstrip().endswith("finished")


def test_a_failure_is_one_line_on_the_console_and_its_traceback_in_the_log(run):
    report = next(run.glob("cells/*/report.json"))
    report.write_text("{not json")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2 and "Traceback" not in result.output and "corrupt" in result.output
    [log] = _logs(run, "report")
    text = log.read_text()
    assert "failed: DataError" in text and "Traceback (most recent call last)" in text


def test_a_command_on_a_missing_run_creates_no_folder_for_its_log(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and not (tmp_path / "nowhere").exists()


def test_the_log_level_sets_what_stderr_shows(run, capsys):
    runner = CliRunner()
    assert runner.invoke(app, ["--log-level", "debug", "verify", str(run)]).exit_code == 0
    logger = logging.getLogger("sublearn.test")
    handler = next(h for h in logging.getLogger("sublearn").handlers if h.get_name() == "sublearn-console")
    assert handler.level == logging.DEBUG
    assert runner.invoke(app, ["--log-level", "error", "verify", str(run)]).exit_code == 0
    handler = next(h for h in logging.getLogger("sublearn").handlers if h.get_name() == "sublearn-console")
    assert handler.level == logging.ERROR
    logger.warning("below the level")
    assert "below the level" not in capsys.readouterr().err
    refused = runner.invoke(app, ["--log-level", "loud", "verify", str(run)])
    assert refused.exit_code == 2 and "loud" in refused.output


def test_lines_wait_for_the_folder_and_a_refused_input_leaves_none(tmp_path):
    from sublearn.util.logs import FolderLogHandler

    handler = FolderLogHandler(tmp_path / "out", "x.log", logging.INFO)
    record = logging.LogRecord("sublearn", logging.INFO, __file__, 1, "%s", ("first",), None)
    handler.emit(record)
    assert not (tmp_path / "out").exists()  # nothing made for a command that has not made its folder
    (tmp_path / "out").mkdir()
    handler.emit(logging.LogRecord("sublearn", logging.INFO, __file__, 1, "%s", ("second",), None))
    handler.close()
    lines = (tmp_path / "out" / "logs" / "x.log").read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["first", "second"]
    refused = CliRunner().invoke(app, ["mnist", "--lr", "nan", "--out", str(tmp_path / "never")])
    assert refused.exit_code == 2 and not (tmp_path / "never").exists()
