"""``sublearn report``: a static HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    from sublearn.cli import console, user_errors

    @app.command("report")
    @user_errors
    def report(run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")]) -> None:
        """Write RUN_DIR/report.html: tables, bar charts with CIs, paired tests with Holm-adjusted p-values, the
        trait × teacher confusion heatmap and its OLS, and each number's provenance as links to the artifacts
        and manifests it came from. Open it in any browser; it needs no network and runs no script."""
        from sublearn.grid import write_analysis
        from sublearn.htmlreport.render import render_report

        if (run_dir / "summary.json").is_file() and not (run_dir / "results.csv").is_file():
            from sublearn.analysis.tidy import load_reports

            write_analysis(run_dir, load_reports(run_dir))  # runs made before the tables existed
        path = render_report(run_dir)
        console.print(f"Wrote {path}")
