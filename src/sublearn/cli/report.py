"""``sublearn report``: a static HTML report of a run folder."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import console, run_logged, user_errors, writable_folder
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
