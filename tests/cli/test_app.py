"""The command line as a whole: help is fast and loads no torch, every option shows its default, choices are
enums, and the report command renders without torch."""

import json
import subprocess
import sys
import textwrap

from typer.core import TyperOption
from typer.testing import CliRunner

from factories import cli_commands
from sublearn.cli.app import app

runner = CliRunner()


COMMANDS = cli_commands()


def _python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_of_every_command_loads_no_torch():
    names = [list(path) for path, _ in COMMANDS]
    out = _python(f"""
        import sys
        from typer.testing import CliRunner
        from sublearn.cli.app import app
        runner = CliRunner()
        for args in [[]] + {names!r}:
            result = runner.invoke(app, [*args, "--help"])
            assert result.exit_code == 0, (args, result.output)
        print(sorted(m for m in ("torch", "transformers", "peft", "scipy") if m in sys.modules))
    """)
    assert out.strip() == "[]"


def _option_help(path, command) -> dict[str, str]:
    """Each option's help text as shown (wide, so that nothing wraps), by its first flag."""
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "300"}, terminal_width=300)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    out = {}
    for option in (p for p in command.params if isinstance(p, TyperOption) and not p.required):
        start = next(i for i, line in enumerate(lines) if option.opts[0] in line.replace("│", " ").split())
        block = [lines[start]]
        for line in lines[start + 1:]:  # continuation lines have no flag of their own
            if line.replace("│", " ").strip().startswith("-") or "╰" in line:
                break
            block.append(line)
        out[option.opts[0]] = " ".join(block)
    return out


def test_every_option_shows_its_default():
    helps = {(" ".join(path), flag): text for path, command in COMMANDS
             for flag, text in _option_help(path, command).items()}
    assert len(helps) > 40  # every command's options were found
    assert [key for key, text in helps.items() if "[default:" not in text] == []


def test_fixed_choices_are_enums():
    """Options with a fixed set of values list them in --help (they are enums), not free text."""
    choices = {("run",): {"--executor": "local|ray"}, ("numbers", "check"): {"--banned": "none|paper"},
               ("audit", "mnist"): {"--logits": "aux|all"}, ("mnist",): {"--dataset": "mnist|digits",
                                                                        "--optimizer": "adam|adamw|sgd",
                                                                        "--noise": "fixed|fresh",
                                                                        "--noise-dist": "uniform|gaussian"},
               ("serve",): {"--ft-method": "lora|full"}, ("rejudge",): {"--judge-backend": "openai|hf"}}
    commands = dict(COMMANDS)
    for path, flags in choices.items():
        helps = _option_help(path, commands[path])
        for flag, values in flags.items():
            assert f"<{values}>" in helps[flag], (path, flag)


def test_report_renders_without_torch(tmp_path):
    summary = {"groups": [{"spec": {"name": "x", "reference": "m", "trait": {"kind": "system_prompt",
                                                                             "target": "owl"}},
                           "seeds": [0], "cells": [], "tests_over_seeds": {}, "wall_seconds": 1.0,
                           "arms": {"reference": {"p_exact": {"mean": 0.1, "ci95": [0.05, 0.15], "n": 50,
                                                              "ci_over": "questions", "per_seed": [0.1]}}}}],
               "failures": [], "n_cells": 1}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = _python(f"""
        import sys
        from typer.testing import CliRunner
        from sublearn.cli.app import app
        result = CliRunner().invoke(app, ["report", {str(tmp_path)!r}])
        assert result.exit_code == 0, result.output
        print("torch" in sys.modules)
    """)
    assert out.strip() == "False"
    assert "reference" in (tmp_path / "report.html").read_text()


def test_a_user_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0 and "spec file not found" in result.output
    result = runner.invoke(app, ["--debug", "validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code != 0 and isinstance(result.exception, Exception)
