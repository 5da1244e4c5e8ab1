"""``sublearn report``: a static HTML report of a run folder."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import AsJson, console, print_json, run_logged, user_errors, writable_folder
from sublearn.util.errors import DataError


@user_errors
@run_logged("run_dir", "report", existing=True)
def report(run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")]) -> None:
    """Write RUN_DIR/report.html: tables, bar charts with CIs, paired tests with Holm-adjusted p-values, the trait
    × teacher confusion heatmap and its OLS, and each number's provenance as links to the artifacts and
    manifests it came from. Open it in any browser; it needs no network and runs no script."""
    from sublearn.report.render import render_report

    path = render_report(run_dir)
    console.print(f"Wrote {path}", highlight=False)


class Format(StrEnum):
    """Export formats."""

    trl = "trl"
    openai = "openai"
    inspect = "inspect"


@user_errors
@run_logged("run_dir", "export", existing=True)
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    fmt: Annotated[Format, typer.Option("--format", help="trl: TRL prompt-completion JSONL; openai: chat "
                                        "fine-tuning JSONL; inspect: Inspect AI tasks of the evaluations.")
                   ] = Format.trl,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.", show_default="RUN_DIR/export-FORMAT")
                   ] = None,
) -> None:
    """Export the data every student of a run trained on, for another trainer: one JSONL per dataset and
    OUT/index.json naming, per cell and student, its file, objective, base and training settings. In the
    inspect format: OUT/tasks.py (the run's sampled evaluations as Inspect tasks, scored by sublearn's rules) and
    OUT/index.json with the `inspect eval` command of each trained model.

    TRL's SFTTrainer (completion_only_loss) trains on the trl files with the token ids and loss mask sublearn
    uses; for ChatML templates (SmolLM2, Qwen) TRL also trains the newline after <|im_end|>. Students trained on
    soft digit targets are marked: these files hold their inputs, not their targets.
    """
    from sublearn.report.export import export_run

    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run folder")
    target = out if out is not None else run_dir / f"export-{fmt.value}"
    writable_folder(target)
    index = export_run(run_dir, fmt.value, target)
    if fmt == Format.inspect:
        console.print(f"Wrote {target / 'tasks.py'} ({', '.join(index['tasks'])}) and the commands for "
                      f"{len(index['models'])} model(s) in {target / 'index.json'}", highlight=False)
        return
    console.print(f"Wrote {len(index['files'])} file(s) for {len(index['students'])} student(s) to {target}",
                  highlight=False)


@user_errors
def summary_tables(
    folder: Annotated[Path, typer.Argument(help="A folder of committed run summaries (*-summary.json).")
                      ] = Path("docs/results"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; fail if a table differs from its JSON.",
                                        show_default="off")] = False,
) -> None:
    """Render every run summary in FOLDER as the Markdown tables beside it (X-summary.json → X-summary.md), with
    the code that writes a run's own summary.md, so a table in the docs cannot drift from the run it reports."""
    from sublearn.analysis.summary import rendered_summary_file, summary_files
    from sublearn.util.atomic import atomic_write_text
    from sublearn.util.errors import DataError

    files = summary_files(folder)
    if not files:
        raise DataError(f"{folder}: no *-summary.json")
    stale = []
    for path in files:
        table, text = path.with_suffix(".md"), rendered_summary_file(path)
        if check:
            if not table.is_file() or table.read_text() != text:
                stale.append(table.name)
        else:
            atomic_write_text(table, text)
            console.print(f"wrote {table}", highlight=False)
    if stale:
        raise DataError(f"{', '.join(stale)}: differ from their JSON; run `sublearn summary-tables {folder}`")


@user_errors
def times(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    as_json: AsJson = False,
) -> None:
    """Where a run's time went: the seconds of every stage (teacher, generate, targets, train, evaluate, ...),
    summed by stage and base model from the artifacts' manifests, largest first, and each group's wall time. A
    stage reused from an earlier run counts its first build's seconds."""
    from rich.table import Table

    from sublearn.analysis.stage_times import stage_times

    doc = stage_times(run_dir)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Seconds per stage: {run_dir}")
    for name in ("stage", "base", "n", "total s", "mean s"):
        table.add_column(name, justify="right" if name in ("n", "total s", "mean s") else "left")
    for row in doc["rows"]:
        table.add_row(row["stage"], row["base"], str(row["n"]), f"{row['total_s']:.1f}", f"{row['mean_s']:.1f}")
    table.add_row("all", "", str(doc["artifacts"]), f"{doc['total_s']:.1f}", "", style="bold")
    console.print(table)
    if doc["group_wall_s"]:
        console.print("wall seconds per group (summary.json): "
                      + ", ".join(f"{w:.0f}" for w in doc["group_wall_s"] if w is not None), highlight=False)
