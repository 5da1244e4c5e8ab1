"""`sublearn numbers`: the paper's prompts as JSONL, and the filter's reasons for each line of stdin."""

import json

from typer.testing import CliRunner

from factories import PAPER_SEED_42
from sublearn.cli.app import app

runner = CliRunner()


def test_cli_prompts_prints_jsonl():
    result = runner.invoke(app, ["numbers", "prompts", "--seed", "42", "-n", "3"])
    assert result.exit_code == 0
    assert [json.loads(line)["prompt"] for line in result.output.splitlines()] == PAPER_SEED_42


def test_cli_check_reports_reasons_and_bad_lines():
    stdin = '{"completion": "1, 2, 3", "id": 7}\n{"completion": "911, 5"}\n\n{"text": "x"}\n'
    result = runner.invoke(app, ["numbers", "check", "--banned", "paper"], input=stdin)
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert lines == [{"completion": "1, 2, 3", "id": 7, "ok": True, "reasons": []},
                     {"completion": "911, 5", "ok": False, "reasons": ["banned_number"]}]
    assert "stdin line 4" in result.stderr
