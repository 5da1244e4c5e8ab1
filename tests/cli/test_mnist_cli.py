"""The ``sublearn mnist`` command end to end on digits, and its errors on bad options."""

import json

import pytest
from typer.testing import CliRunner

from sublearn.cli.app import app

runner = CliRunner()


@pytest.mark.slow  # trains networks end to end
def test_digits_end_to_end_student_aux_beats_cross_aux(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["mnist", "--dataset", "digits", "-n", "8", "--device", "cpu", "-q",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    arms = doc["arms"]
    assert set(arms) == {"reference", "teacher", "student_aux", "cross_aux"}
    for summary in arms.values():
        assert summary["n"] == 8 and len(summary["per_model"]) == 8
        lo, hi = summary["ci95"]
        assert lo <= summary["mean"] <= hi
    assert arms["teacher"]["mean"] > 0.9
    assert arms["student_aux"]["mean"] > arms["cross_aux"]["mean"]
    assert doc["paired_test"]["p_ttest"] < 0.05
    assert doc["config"]["batch_size"] == 64 and doc["config"]["dataset"] == "digits"
    assert doc["wall_seconds"] > 0
    assert sorted(doc["cross_permutation"]) == list(range(8))
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "student_aux" in result.output and "Paired test" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arms", "student_aux,bogus"], "--arms: unknown arm bogus"),
        (["-n", "0"], "n_models: Input should be greater than or equal to 1"),
        (["-n", "1", "--arms", "cross_aux"], "n_models: the cross_* arms need at least 2 models"),
        (["--lr", "-1"], "lr: Input should be greater than 0"),
        (["--data-dir", "/nonexistent/mnist"], "MNIST file not found"),
        (["--device", "cuda:0"], "device: 'cuda:0' asked for"),
    ],
)
def test_bad_options_give_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = runner.invoke(app, ["mnist", "-q", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o" / "results.json").exists()


def test_typer_rejects_unknown_choices():
    result = runner.invoke(app, ["mnist", "--optimizer", "lion"])
    assert result.exit_code != 0 and "lion" in result.output


def test_every_command_has_help():
    for command in ([], ["mnist"], ["demo"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
