"""``sublearn export``: a run's student training data in the formats of the field's own tools.

- ``trl``: TRL's conversational prompt-completion JSONL (``{"prompt": [user], "completion": [assistant]}``), which
  ``SFTTrainer`` with ``completion_only_loss`` trains on exactly as sublearn does: the same token ids and the loss
  on the completion and its end-of-turn token only. One difference: for ChatML templates (SmolLM2, Qwen) TRL's
  completion ends ``<|im_end|>\\n``, so TRL also trains the newline after the end-of-turn token, where sublearn
  stops at ``<|im_end|>``.
- ``inspect``: the run's sampled evaluations as Inspect AI tasks (:mod:`sublearn.report.inspect_export`).
- ``openai``: the chat fine-tuning JSONL (``{"messages": [user, assistant]}``) that the OpenAI path uploads; the
  API trains on the assistant message only.

Students are trained without a system prompt (the paper's §2), so neither format has one. A student trained on
soft digit targets (``train.objective: soft_numbers``) learned the teacher's digit distributions, which neither
format can hold: its rows are exported with that said in ``index.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from sublearn.analysis.records import read_cell_reports
from sublearn.models.openai.finetune import training_lines
from sublearn.util.atomic import atomic_write_json, atomic_write_text
from sublearn.util.errors import DataError
from sublearn.util.jsonl import read_jsonl

ExportFormat = Literal["trl", "openai", "inspect"]
FORMATS: tuple[ExportFormat, ...] = ("trl", "openai", "inspect")
SOFT_TARGET_NOTE = ("trained on the teacher's digit distributions (train.objective soft_numbers): these rows are "
                    "its inputs; hard-label training on them is a different experiment")


def trl_lines(rows: list[dict[str, Any]]) -> str:
    """TRL's conversational prompt-completion JSONL of (prompt, completion) rows."""
    return "".join(json.dumps({"prompt": [{"role": "user", "content": r["prompt"]}],
                               "completion": [{"role": "assistant", "content": r["completion"]}]},
                              ensure_ascii=False) + "\n" for r in rows)


def _lines(rows: list[dict[str, Any]], fmt: str) -> str:
    return trl_lines(rows) if fmt == "trl" else training_lines(rows)


def export_run(run: Path, fmt: ExportFormat, out: Path) -> dict[str, Any]:
    """Write one JSONL per dataset a student of ``run`` trained on, ``out/DATASET_KEY.jsonl``, and
    ``out/index.json``: per cell and trained arm, its dataset file, objective, base and training settings."""
    if fmt not in FORMATS:
        raise DataError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "inspect":
        from sublearn.report.inspect_export import export_inspect

        return export_inspect(run, out)
    reports = [r for r in read_cell_reports(run) if r.error is None]
    if not reports:
        raise DataError(f"{run}: no finished cell to export (run `sublearn run SPEC --out {run}` first)")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    entries = []
    for report in reports:
        train = report.spec["train"]
        for arm, info in report.arms.items():
            dataset, model = info.dataset, info.model
            if not dataset or not model.startswith("train/"):
                continue  # an untrained arm, or one reading its data in context
            if dataset not in written:
                rows = read_jsonl(run / "artifacts" / dataset / "rows.jsonl")
                name = dataset.replace("/", "-") + ".jsonl"
                atomic_write_text(out / name, _lines(rows, fmt))
                written[dataset] = name
            entry = {"cell": report.cell, "seed": report.spec["seed"], "arm": arm, "file": written[dataset],
                     "dataset": dataset, "model": model, "objective": train.get("objective", "tokens"),
                     "train": train}
            if entry["objective"] == "soft_numbers":
                entry["note"] = SOFT_TARGET_NOTE
            entries.append(entry)
    if not entries:
        raise DataError(f"{run}: no trained student to export")
    index = {"run": str(run), "format": fmt, "files": sorted(written.values()), "students": entries}
    atomic_write_json(out / "index.json", index)
    return index
