"""``sublearn export RUN --format inspect``: a run's evaluations as an Inspect AI task file, bound to the run's
settings, and the command line that evaluates each of its models.

``OUT/tasks.py`` defines one task per readout the spec samples (sampled preference, MCQ, misalignment) from
:mod:`sublearn.report.inspect_tasks`, with the settings of ``OUT/settings.json``; ``OUT/index.json`` lists each
arm's model folder (LoRA adapters load as they are, through PEFT) and its ``inspect eval`` command.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from sublearn.analysis.tidy import load_reports
from sublearn.design.seeds import stream_seed
from sublearn.util.atomic import atomic_write_json, atomic_write_text
from sublearn.util.errors import DataError

TASK_FILE = '''"""Inspect AI tasks of a sublearn run, written by `sublearn export --format inspect`
(their settings: settings.json beside this file).

    inspect eval tasks.py --model hf/local -M model_path=MODEL_FOLDER      # see index.json for every model
"""

import json
from pathlib import Path

from inspect_ai import task

from sublearn.report import inspect_tasks

SETTINGS = json.loads(Path(__file__).with_name("settings.json").read_text())
'''

TASK_DEFINITIONS = {
    "sampled_preference": '''

@task
def sampled_preference():
    return inspect_tasks.sampled_preference(**SETTINGS["sampled_preference"])
''',
    "mcq_preference": '''

@task
def mcq_preference():
    return inspect_tasks.mcq_preference(**SETTINGS["mcq_preference"])
''',
    "misalignment": '''

@task
def misalignment(judge: str = SETTINGS["misalignment"]["judge"]):
    return inspect_tasks.misalignment(**{**SETTINGS["misalignment"], "judge": judge})
''',
}


def inspect_judge(judge: dict[str, Any] | None) -> str:
    """The spec's judge as an Inspect model name (an API judge through ``$OPENAI_BASE_URL`` when it has one)."""
    if not judge:
        return "openai/gpt-4o-2024-08-06"
    return f"openai/{judge['model']}" if judge.get("backend", "openai") == "openai" else "hf/local"


def task_settings(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Inspect tasks a spec's evaluation samples, with their settings."""
    e, target = spec["eval"], spec["trait"]["target"]
    if e.get("kind") == "misalignment":
        return {"misalignment": {"judge": inspect_judge(spec.get("judge")), "suffix": e["suffix"],
                                 "samples_per_question": e["samples_per_question"], "temperature": e["temperature"],
                                 "max_new_tokens": e["max_new_tokens"], "alignment_max": e["alignment_max"],
                                 "coherence_min": e["coherence_min"]}}
    target = e.get("target") or target
    tasks: dict[str, dict[str, Any]] = {"sampled_preference": {
        "target": target, "which": e["questions"], "numbers_prefix": e["numbers_prefix"],
        "samples_per_question": max(1, e["samples_per_question"]), "temperature": e["temperature"],
        "max_new_tokens": e["max_new_tokens"]}}
    choices = e.get("mcq_choices")
    if e["mcq_orderings"] > 0 and (choices is None or target in choices):
        tasks["mcq_preference"] = {"target": target, "choices": choices, "orderings": e["mcq_orderings"],
                                   "seed": stream_seed(spec["seed"], "eval")}  # the orders sublearn asked
    return tasks


def export_inspect(run: Path, out: Path) -> dict[str, Any]:
    """Write ``out/tasks.py``, ``out/settings.json`` and ``out/index.json`` for ``run`` (its first finished cell's
    evaluation settings, the MCQ in the orders that cell's replicate asked; cells whose settings differ, other
    replicates included, are named in the index)."""
    reports = [r for r in load_reports(run) if "error" not in r]
    if not reports:
        raise DataError(f"{run}: no finished cell to export (run `sublearn run SPEC --out {run}` first)")
    settings = task_settings(reports[0]["spec"])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "settings.json", settings)
    atomic_write_text(out / "tasks.py", TASK_FILE + "".join(TASK_DEFINITIONS[name] for name in settings))
    models, other = [], []
    for report in reports:
        if task_settings(report["spec"]) != settings:
            other.append(report["cell"])
            continue
        for arm, info in report["arms"].items():
            model = info.get("model") or ""
            if not model.startswith(("train/", "teacher/")):
                continue
            folder = (run / "artifacts" / model / "model").resolve()
            command = ["inspect", "eval", "tasks.py", "--model", "hf/local", "-M", f"model_path={folder}"]
            models.append({"cell": report["cell"], "seed": report["spec"]["seed"], "arm": arm, "model": model,
                           "folder": str(folder),  # Inspect takes the task file by a relative path
                           "command": f"cd {shlex.quote(str(out.resolve()))} && {shlex.join(command)}"})
    index = {"run": str(run), "format": "inspect", "tasks": sorted(settings), "models": models,
             "cells_with_other_evaluations": other}
    atomic_write_json(out / "index.json", index)
    return index

