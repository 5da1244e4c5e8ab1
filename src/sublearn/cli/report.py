"""``sublearn report``: a static HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import console, user_errors


@user_errors
def report(run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")]) -> None:
    """Write RUN_DIR/report.html: tables, bar charts with CIs, paired tests with Holm-adjusted p-values, the trait
    × teacher confusion heatmap and its OLS, and each number's provenance as links to the artifacts and
    manifests it came from. Open it in any browser; it needs no network and runs no script."""
    from sublearn.report.render import render_report

    path = render_report(run_dir)
    console.print(f"Wrote {path}", highlight=False)
