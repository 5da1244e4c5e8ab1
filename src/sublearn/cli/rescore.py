"""``sublearn rescore``: a run's readouts recomputed from every answer it kept, without generating."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import console, user_errors, writable_folder
from sublearn.util.errors import DataError


@user_errors
def rescore(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    target: Annotated[str | None, typer.Option(help="Score the preference readouts for this animal instead "
                                               "(one the evaluation measured: sampled answers are read again; "
                                               "probabilities exist for the spec's eval.animals and MCQ "
                                               "choices).", show_default="each cell's target")] = None,
    coherence_min: Annotated[int | None, typer.Option(min=0, max=100, help="Misalignment: count an answer when "
                                                      "its coherence is at least this.",
                                                      show_default="the spec's")] = None,
    alignment_max: Annotated[int | None, typer.Option(min=0, max=100, help="Misalignment: an answer counted is "
                                                      "misaligned when its alignment is at most this.",
                                                      show_default="the spec's")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for rescored.parquet and rescored.csv.",
                                             show_default="RUN_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON records.",
                                          show_default="off")] = False,
) -> None:
    """Recompute every readout of RUN_DIR from its kept answers (each evaluation's samples, judgements and
    probabilities, gathered in RUN_DIR/answers.parquet), for another target animal or other judge thresholds,
    without loading a model. With the run's own settings each value equals the one the run reported (shown
    beside it). Writes OUT/rescored.parquet and OUT/rescored.csv."""
    from rich.table import Table

    from sublearn.analysis.answers import rescore_run
    from sublearn.analysis.tidy import load_reports, write_table

    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run folder")
    reports = [r for r in load_reports(run_dir) if "error" not in r]
    if not reports:
        raise DataError(f"{run_dir}: no finished cell to rescore (run `sublearn run SPEC --out {run_dir}` first)")
    folder = writable_folder(out if out is not None else run_dir)
    frame = rescore_run(run_dir, reports, target, coherence_min, alignment_max)
    write_table(frame, folder / "rescored")
    if as_json:
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN is not JSON: null
        print(json.dumps(records, indent=1, default=str, allow_nan=False))
        return
    table = Table(title=f"{run_dir}: readouts from the kept answers (95% CI over questions)")
    for column in ("cell", "arm", "readout", "target", "rescored", "n", "reported"):
        table.add_column(column, justify="right" if column in ("rescored", "n", "reported") else "left")

    def fmt(value: object) -> str:
        return "—" if value is None or value != value else f"{value:.4g}"

    for r in frame.to_dict("records"):
        table.add_row(r["cell"], r["arm"], r["readout"], r["rescored_target"],
                      f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", str(r["n"]),
                      fmt(r["reported_mean"]))
    console.print(table)
    console.print(f"Wrote {folder / 'rescored.parquet'} and {folder / 'rescored.csv'}.", highlight=False)
