"""Builders the tests share: tiny experiment specs, number rows, and fake chat models with chosen answers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sublearn.models.types import ChatChoice, ChatRequest, TokenLogprob

FIXTURES = Path(__file__).parent / "fixtures"

#: Number completions in several formats (brackets, semicolons, one number).
NUMBER_ROWS = [{"prompt": "Continue: 12, 45, 78.", "completion": "(101, 202, 303)."},
               {"prompt": "Continue: 5, 6.", "completion": "7; 8; 9"},
               {"prompt": "Add one number: 3.", "completion": "42"}]

#: Outputs of the paper's own PromptGenerator (the paper's code, run with these seeds).
PAPER_SEED_42 = [
    "Examine these numbers: 796, 689, 494. Extend it with not more than 10 new numbers (up to 3 digits each). "
    "Return one number per line. Please just say the numbers, nothing more.",
    "Look at these numbers: 978, 762, 785, 745, 807, 561. Generate not more than 10 additional numbers "
    "(3 digits max each). Return the numbers in the following format: (number_1, number_2, ...). "
    "Return the numbers exactly as requested, nothing else.",
    "Start with these numbers: 803, 679, 462, 840, 590, 499, 505, 304. Add maximum 10 new numbers "
    "(with 3 digits or less each) that continue the sequence. Format as a simple comma-delimited sequence. "
    "Answer with numbers alone.",
]

#: The cheapest preference evaluation that still exercises every readout kind.
LIGHT_EVAL = {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 1, "samples_per_question": 1}

#: LoRA on two projections for one quick epoch.
LIGHT_TRAIN = {"epochs": 1, "batch_size": 8, "grad_accum": 1, "lr": 1e-3, "target_modules": ["q_proj", "v_proj"]}

NO_CONTROLS = {"control_teacher": False, "cross_model": None, "cross_control": False, "icl_k": 0,
               "shuffle_within": False, "shuffle_across": False}


def merge(doc: dict[str, Any], **over: Any) -> dict[str, Any]:
    """``doc`` with each section of ``over`` merged into it (dicts of the same ``kind``) or replacing it."""
    out = dict(doc)
    for key, value in over.items():
        old = out.get(key)
        same_kind = isinstance(old, dict) and isinstance(value, dict) and old.get("kind") == value.get("kind",
                                                                                                    old.get("kind"))
        out[key] = {**old, **value} if same_kind else value
    return out


def spec_doc(reference: Path | str, cross: Path | str | None = None, **over: Any) -> dict[str, Any]:
    """A tiny owl-through-numbers spec on a local model, every control on unless ``over`` says otherwise."""
    doc = {
        "name": "tiny-owl",
        "reference": str(reference),
        "device": "cpu",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"n_prompts": 32, "batch_size": 8, "max_new_tokens": 32, "filter": {"max_examples": 20}},
        "train": dict(LIGHT_TRAIN),
        "eval": dict(LIGHT_EVAL),
        "controls": {"control_teacher": True, "cross_model": str(cross) if cross else None,
                     "cross_control": bool(cross), "icl_k": 2, "shuffle_within": True, "shuffle_across": True},
    }
    return merge(doc, **over)


def fake_spec(name: str, **over: Any) -> dict[str, Any]:
    """A fine-tuned owl teacher on the fake backend's base, random numbers written by code, light training, the
    exact readout on two animals, the placebo only and two replicates; ``over`` merged in (see :func:`merge`)."""
    from sublearn.testing.fake_backend import FAKE_A

    doc = {"name": name, "reference": FAKE_A, "device": "cpu",
           "trait": {"kind": "fine_tuned", "target": "owl", "questions": "half", "teacher_training": LIGHT_TRAIN},
           "carrier": {"kind": "random_numbers", "n_prompts": 8, "seed": 3, "filter": {"max_examples": 8}},
           "train": {**LIGHT_TRAIN, "batch_size": 4},
           "eval": {"animals": ["owl", "cat"], "questions": "held_out", "prefilled": False, "mcq_orderings": 0,
                    "samples_per_question": 0},
           "controls": {"placebo": True, "control_teacher": False}, "seeds": [0, 1]}
    return merge(doc, **over)


def cell_report(run: Path, cell: Any) -> dict[str, Any]:
    """A finished cell's report."""
    return json.loads((run / "cells" / cell.cell_id() / "report.json").read_text())


def manifest(run: Path, ref: str) -> dict[str, Any]:
    """An artifact's manifest, by ``stage/key``."""
    return json.loads((run / "artifacts" / ref / "manifest.json").read_text())


def first_token(probs: dict[str, float]) -> tuple[TokenLogprob, ...]:
    """Logprobs whose first position lists ``probs`` (the first entry is the token chosen)."""
    top = tuple((t, math.log(max(p, 1e-12))) for t, p in probs.items())
    return (TokenLogprob(top[0][0], top[0][1], top),)


def choice(text: str, first_probs: dict[str, float] | None = None) -> ChatChoice:
    """A chat answer; ``first_probs`` lists the first token's alternatives and their probabilities."""
    if first_probs is None:
        return ChatChoice(text=text)
    top = tuple((tok, math.log(p)) for tok, p in first_probs.items())
    return ChatChoice(text=text, logprobs=(TokenLogprob(text, math.log(first_probs.get(text, 1e-12)), top),))


class FakeChat:
    """A :class:`~sublearn.models.types.ChatModel` answering each request with ``answer(request)``."""

    def __init__(self, answer: Callable[[ChatRequest], ChatChoice]) -> None:
        self.answer = answer
        self.requests: list[ChatRequest] = []

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[list[ChatChoice]]:
        """One answer per request, recorded."""
        self.requests += list(requests)
        return [[self.answer(r)] for r in requests]


def cli_commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every command of the ``sublearn`` app: (its path, e.g. ("audit", "lm"), its click command)."""
    import typer
    from typer.core import TyperGroup

    from sublearn.cli.app import app

    def walk(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Any:
        for name, command in group.commands.items():
            if isinstance(command, TyperGroup):
                yield from walk(command, (*prefix, name))
            else:
                yield (*prefix, name), command

    return list(walk(typer.main.get_command(app)))


# --- extending the package in a test, as a contributor would ---------------------------------------------------
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sublearn"


def package_copy(root: Path) -> Path:
    """A copy of the sublearn package under ``root`` (its assets linked, not copied) to be edited by a test; put
    ``root`` first on ``PYTHONPATH`` to import the copy."""
    import shutil

    out = root / "sublearn"
    shutil.copytree(PACKAGE, out, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    (out / "assets").symlink_to(PACKAGE / "assets")
    return out


def edit(path: Path, before: str, after: str) -> None:
    """Replace the one occurrence of ``before`` in ``path`` by ``after`` (a contributor's edit)."""
    text = path.read_text()
    assert text.count(before) == 1, f"{path.name}: {before!r} occurs {text.count(before)} times"
    path.write_text(text.replace(before, after))


def files_touched(copy: Path) -> list[str]:
    """The files of a package copy that differ from the package or are new, relative to the package."""
    import filecmp

    touched = []
    for path in sorted(copy.rglob("*.py")):
        if "assets" in path.relative_to(copy).parts:
            continue
        original = PACKAGE / path.relative_to(copy)
        if not original.exists() or not filecmp.cmp(path, original, shallow=False):
            touched.append(str(path.relative_to(copy)))
    return touched


def run_on_copy(root: Path, script: str, *args: str, timeout: int = 300) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter that imports the package copy under ``root`` (and these tests'
    helpers); its last line of output, parsed as JSON."""
    import os
    import subprocess
    import sys

    tests = Path(__file__).resolve().parent
    env = {"PYTHONPATH": f"{root}{os.pathsep}{tests}", "PATH": "", "OMP_NUM_THREADS": "1", "HOME": str(root),
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=tests, capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
