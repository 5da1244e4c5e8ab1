"""``sublearn numbers``: the paper's number-prompt generator and format filter, for auditing your own data."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from sublearn.cli._common import error_line, user_errors

group = typer.Typer(help="The number-sequence carrier: the paper's prompt generator and format filter.",
                    no_args_is_help=True)


class Banned(StrEnum):
    """Which banned numbers the filter rejects."""

    none = "none"
    paper = "paper"


@user_errors
def prompts(
    seed: Annotated[int, typer.Option(min=0, help="numpy default_rng seed (the paper's 30,000 prompts: 47).")] = 42,
    n: Annotated[int, typer.Option("-n", "--n", min=0, help="How many prompts.")] = 10,
) -> None:
    """Print N prompts as JSONL lines {"prompt": ...}, exactly as the paper's code makes them for SEED."""
    from sublearn.carriers.numbers import NumberPromptGenerator

    gen = NumberPromptGenerator.from_seed(seed)
    for _ in range(n):
        sys.stdout.write(json.dumps({"prompt": gen.prompt()}) + "\n")


@user_errors
def check(
    banned: Annotated[Banned, typer.Option(help="'paper' also rejects the paper's banned numbers (666, 911, 187, "
                                           "...).")] = Banned.none,
) -> None:
    """Read JSONL lines {"completion": ...} on stdin; print each with {"ok": bool, "reasons": [...]}.

    Reasons: invalid_format, too_many_numbers, below_min_value, above_max_value, banned_number. A line that is not
    a JSON object with a string "completion" is reported on stderr with its line number and skipped; the exit
    status is then 1.
    """
    from sublearn.carriers.numbers import NumberFilter

    flt = NumberFilter.paper(banned=banned is Banned.paper)
    bad_lines = 0
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            completion = record["completion"]
            if not isinstance(completion, str):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            error_line(f'stdin line {lineno}: expected a JSON object with a string "completion"; skipped')
            bad_lines += 1
            continue
        reasons = flt.reject_reasons(completion)
        sys.stdout.write(json.dumps({**record, "ok": not reasons, "reasons": reasons}) + "\n")
    if bad_lines:
        raise typer.Exit(code=1)


group.command("prompts")(prompts)
group.command("check")(check)
