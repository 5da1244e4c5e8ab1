"""``sublearn run`` and ``sublearn validate``: experiment specs (YAML) and their grids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``validate`` to ``app``."""
    from rich.table import Table

    from sublearn.cli import console, user_errors

    @app.command("validate")
    @user_errors
    def validate(spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML).")]) -> None:
        """Check a spec: every bad field is named with its path; prints the grid's cells when it is valid."""
        from sublearn.spec import load_spec_file

        cells = load_spec_file(spec)
        console.print(f"{spec}: valid, {len(cells)} cell(s)", soft_wrap=True)
        for cell in cells:
            console.print(f"  {cell.cell_id()}  seed={cell.seed}  reference={cell.reference}  "
                          f"target={cell.trait.target}")

    @app.command("run")
    @user_errors
    def run(
        spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML); lists of values and `seeds` make a "
                                             "grid.")],
        out: Annotated[Path | None, typer.Option(help="Run folder (artifacts, cell reports, summary) "
                                                 "[default: runs/NAME].")] = None,
        executor: Annotated[str, typer.Option(help="Where cells run: 'local' (one after another).")] = "local",
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ) -> None:
        """Run every cell of a spec: teacher → numbers → filter → students → evaluations → report.

        Stages are content-addressed artifacts in OUT/artifacts: rerunning skips what is done and resumes an
        interrupted generation from its last batch. Writes OUT/cells/ID/report.json, OUT/summary.json and
        OUT/summary.md.
        """
        from sublearn.errors import ConfigError
        from sublearn.grid import LocalExecutor, run_grid
        from sublearn.progress import rich_progress
        from sublearn.spec import load_spec_file

        cells = load_spec_file(spec)
        if executor != "local":
            raise ConfigError(f"--executor: {executor!r} is not available (choose 'local')")
        folder = out or Path("runs") / cells[0].name
        console.print(f"{len(cells)} cell(s) → {folder}")
        with rich_progress(console, enabled=not quiet) as progress:
            summary = run_grid(cells, folder, LocalExecutor(), progress, log=console.print)
        for group in summary["groups"]:
            table = Table(title=f"{group['spec']['name']} — seeds {group['seeds']} "
                                f"({group['wall_seconds']:.0f} s)")
            metrics = [m for m in ("p_exact", "share_prefilled", "mcq", "sampled_rate")
                       if any(m in a for a in group["arms"].values())]
            table.add_column("arm")
            for m in metrics:
                table.add_column(m, justify="right")
            for arm, values in group["arms"].items():
                table.add_row(arm, *[f"{values[m]['mean']:.4g} [{values[m]['ci95'][0]:.3g}, "
                                     f"{values[m]['ci95'][1]:.3g}] n={values[m]['n']}" if m in values else ""
                                     for m in metrics])
            console.print(table)
        for failure in summary["failures"]:
            console.print(f"[red]cell {failure['cell']} failed:[/red] {failure['error']}")
        console.print(f"Wrote {folder / 'summary.json'} and {folder / 'summary.md'}.")
        if summary["failures"]:
            raise typer.Exit(code=1)
