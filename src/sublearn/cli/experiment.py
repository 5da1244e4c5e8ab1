"""``sublearn run`` and ``sublearn validate``: experiment specs (YAML) and their grids."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sublearn.cli._common import SETTINGS, AsJson, Quiet, console, print_json, user_errors, writable_folder

LOG = logging.getLogger("sublearn.run")

#: ``--set PATH=VALUE``, repeatable: change one field of the spec without editing the file.
Overrides = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a spec field, e.g. --set train.lr=1e-4 --set seeds=[0,1] --set grid.train.epochs=[1,2] "
    "(repeatable; YAML values; validated with the rest of the spec and recorded in the run).",
    show_default="none")]


class Executor(StrEnum):
    """Where the cells of a grid run."""

    local = "local"
    ray = "ray"


@user_errors
def validate(spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML).")],
             overrides: Overrides = None, as_json: AsJson = False) -> None:
    """Check a spec: every bad field is named with its path; prints the grid's cells when it is valid."""
    from sublearn.config.grid import load_spec_file

    cells = load_spec_file(spec, overrides)
    if as_json:
        print_json({"spec": str(spec), "valid": True, "cells": [
            {"cell": c.cell_id(), "seed": c.seed, "reference": c.reference, "target": c.target,
             "spec": c.model_dump(mode="json")} for c in cells]})
        return
    console.print(f"{spec}: valid, {len(cells)} cell(s)", soft_wrap=True)
    for cell in cells:
        console.print(f"  {cell.cell_id()}  seed={cell.seed}  reference={cell.reference}  target={cell.target}",
                      highlight=False)


@user_errors
def plan(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML).")],
    out: Annotated[Path | None, typer.Option(help="The run folder whose finished stages count as done.",
                                             show_default="runs/NAME")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.",
                                          show_default="off")] = False,
    overrides: Overrides = None,
) -> None:
    """Show what a run would do, before any compute: each cell's arms, the base of each, the teacher that writes
    its data and its system prompt, the init seed of every trained model, the data, the training settings, every
    stage (and whether it is done), and the model calls, tokens, training examples and API requests still to run
    (upper bounds). Loads no model and needs no API key."""
    import json

    from rich.table import Table

    from sublearn.config.grid import load_spec_file
    from sublearn.pipeline.plan import plan_spec

    cells = load_spec_file(spec, overrides)
    folder = (out or Path("runs") / cells[0].name).resolve()
    doc = plan_spec(cells, folder)
    if as_json:
        print(json.dumps(doc, indent=1))
        return
    primary = doc["primary"]
    console.print(f"Primary test: {primary}" if isinstance(primary, str) and primary != "none declared" else
                  f"Primary test: {primary if isinstance(primary, str) else ', '.join(primary)} (declare one with "
                  "analysis.primary: readout, contrast, base; every other test is secondary, Holm-corrected as "
                  "one family)", highlight=False)
    for cell in doc["cells"]:
        table = Table(title=f"cell {cell['id']} · replicate {cell['replicate']} · data seed {cell['data_seed']}")
        for col in ("arm", "base", "trains", "init seed", "data from (system prompt)", "teacher init seed"):
            table.add_column(col)
        for name, arm in cell["arms"].items():
            teacher = arm["teacher"] or {}
            prompt = teacher.get("system_prompt")
            written = f"{teacher['name']} ({(prompt[:40] + '…') if prompt else 'no system prompt'})" if teacher else ""
            if teacher.get("answers_from"):
                written += f"; answers name {', '.join(teacher['answers_from'])}"
            table.add_row(name, arm["base"], "yes" if arm["trains"] else "", str(arm["init_seed"] or ""), written,
                          str(teacher.get("init_seed") or ""))
        console.print(table)
    totals = doc["totals"]
    console.print(f"{totals['stages']} stages, {totals['stages_done']} done. Still to run (upper bounds): "
                  + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in totals.items()
                              if k not in ("stages", "stages_done")), highlight=False)


def _print_line(text: str) -> None:
    """A log function that pickles (for Ray workers, whose output goes to the Ray logs)."""
    print(text, flush=True)


def _say(text: str) -> None:
    """What the pipeline tells the user: printed, and kept in the run's log."""
    console.print(text, highlight=False)
    LOG.info("%s", text)


def _summary_tables(data: dict[str, Any]) -> None:
    from rich.table import Table

    from sublearn.analysis.records import parse_summary
    from sublearn.analysis.summary import TERMINAL_METRICS as shown
    from sublearn.analysis.summary import dose_rows, effect_rows, primary_line

    summary = parse_summary(data, "the run's summary")
    for group in summary.groups:
        wall = "" if group.wall_seconds is None else f" ({group.wall_seconds:.0f} s)"
        table = Table(title=f"{group.spec['name']} — seeds {group.seeds}{wall}")
        metrics = [m for m in shown if any(m in a for a in group.arms.values())]
        table.add_column("arm")
        for m in metrics:
            table.add_column(m, justify="right")
        for arm, values in group.arms.items():
            table.add_row(arm, *[f"{values[m].mean:.4g} [{values[m].ci95[0]:.3g}, {values[m].ci95[1]:.3g}] "
                                 f"n={values[m].n}" if m in values and values[m].ci95 else "" for m in metrics])
        console.print(table)
        console.print(primary_line(group), highlight=False, soft_wrap=True)
        family = summary.secondary_family or {}
        _rows_table(f"Effects (mean [95% CI] over replicates; Holm over {family.get('size', '?')} secondary tests)",
                    effect_rows(group))
    for metric, rows in dose_rows(summary).items():
        _rows_table(f"Dose-response: {metric}", rows)


def _rows_table(title: str, rows: list[dict[str, str]]) -> None:
    """A table of printable rows (their keys are the columns)."""
    from rich.table import Table

    if not rows:
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column, justify="left" if column in ("readout", "other base") else "right")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@user_errors
def run(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML); lists of values and `seeds` make a grid.")],
    out: Annotated[Path | None, typer.Option(help="Run folder (artifacts, cell reports, summary).",
                                             show_default="runs/NAME")] = None,
    executor: Annotated[Executor, typer.Option(help="Where cells run: local (one after another, this process) or "
                                               "ray (one Ray task per cell).")] = Executor.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (e.g. 127.0.0.1:6379 or 'auto').",
                                                show_default="a local Ray started for this run")] = None,
    cpus_per_cell: Annotated[float, typer.Option(min=0, help="CPUs each Ray task declares.")] = 1.0,
    gpus_per_cell: Annotated[float, typer.Option(min=0, help="GPUs each Ray task declares (fractions allowed).")
                             ] = 0.0,
    retries: Annotated[int, typer.Option(min=0, help="Ray: times a cell is retried when its worker or node "
                                         "dies; a cell that raises fails at once.")] = 3,
    store: Annotated[str | None, typer.Option(help="Shared artifact store for workers that share no folder: an "
                                              "fsspec URL (s3://bucket/run, file:///shared/run).",
                                              show_default="OUT itself")] = None,
    overrides: Overrides = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Run every cell of a spec: teacher → data → filter → students → evaluations → report.

    Stages are content-addressed artifacts in OUT/artifacts: rerunning skips what is done and resumes an
    interrupted generation from its last batch; a cell with a report is never run again. Writes
    OUT/cells/ID/report.json, OUT/summary.json and OUT/summary.md, the tidy tables OUT/results.parquet and
    .csv (and per_animal.*), every evaluation's answers OUT/answers.parquet (`sublearn rescore OUT` and
    `sublearn rejudge OUT` recompute readouts from them), and for grids over traits OUT/selective_transfer.json.
    `sublearn report OUT` renders them as HTML.
    """
    from sublearn.config.grid import load_spec_file
    from sublearn.pipeline.grid import LocalExecutor, record_invocation, run_grid
    from sublearn.pipeline.store import ArtifactStore
    from sublearn.util.errors import ConfigError
    from sublearn.util.logs import run_log
    from sublearn.util.progress import no_progress, rich_progress

    cells = load_spec_file(spec, overrides)
    folder = (out or Path("runs") / cells[0].name).resolve()
    writable_folder(folder)
    given = {"spec": spec, "out": folder, "executor": executor.value, "store": store, "overrides": overrides}
    with run_log(folder, "run", SETTINGS["log_level"], given):  # OUT/logs/TIME-run-PID.log
        record_invocation(folder, spec, overrides or [], len(cells))
        say = LOG.info if as_json else _say  # with --json, stdout holds the summary alone
        say(f"{len(cells)} cell(s) → {folder}" + (f" (store {store})" if store else ""))
        artifact_store = ArtifactStore(folder, remote=store)
        with rich_progress(console, enabled=not (quiet or as_json)) as progress:
            if executor is Executor.ray:
                try:
                    from sublearn.pipeline.ray_executor import RayExecutor
                except ImportError as exc:
                    raise ConfigError("--executor ray: Ray is not installed (pip install 'sublearn[ray]')") from exc
                progress("cells", len(cells))
                ray_executor = RayExecutor(address, cpus_per_cell, gpus_per_cell, retries,
                                           on_cell_done=lambda _cell, _result: progress("cells", None))
                summary = run_grid(cells, folder, ray_executor, no_progress, log=_print_line, store=artifact_store)
            else:
                summary = run_grid(cells, folder, LocalExecutor(), progress, log=say, store=artifact_store)
        if as_json:
            print_json(summary)
            if summary["failures"]:
                raise typer.Exit(code=1)
            return
        _summary_tables(summary)
        for failure in summary["failures"]:
            console.print(f"[red]cell {failure['cell']} failed:[/red] {failure['error']}", highlight=False)
        console.print(f"Wrote {folder / 'summary.json'} and {folder / 'summary.md'}.", highlight=False)
        if summary["failures"]:
            raise typer.Exit(code=1)
