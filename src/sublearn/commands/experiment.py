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
        executor: Annotated[str, typer.Option(help="Where cells run: 'local' (one after another, this process) or "
                                              "'ray' (one Ray task per cell).")] = "local",
        address: Annotated[str | None, typer.Option(help="Ray cluster address (e.g. 127.0.0.1:6379 or "
                                                    "'auto'); default: start a local Ray for this run.")] = None,
        cpus_per_cell: Annotated[float, typer.Option(help="CPUs each Ray task declares.")] = 1.0,
        gpus_per_cell: Annotated[float, typer.Option(help="GPUs each Ray task declares (fractions allowed).")]
        = 0.0,
        retries: Annotated[int, typer.Option(help="Ray: times a cell is retried (worker died or cell raised) "
                                             "before it is reported as failed.")] = 3,
        store: Annotated[str | None, typer.Option(help="Shared artifact store for workers that share no folder: "
                                                  "an fsspec URL (s3://bucket/run, file:///shared/run). "
                                                  "Default: OUT itself.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ) -> None:
        """Run every cell of a spec: teacher → numbers → filter → students → evaluations → report.

        Stages are content-addressed artifacts in OUT/artifacts: rerunning skips what is done and resumes an
        interrupted generation from its last batch; a cell with a report is never run again. Writes
        OUT/cells/ID/report.json, OUT/summary.json and OUT/summary.md, the tidy tables OUT/results.parquet and
        .csv (and per_animal.*), and for grids over traits OUT/selective_transfer.json. `sublearn report OUT`
        renders them as HTML.
        """
        from sublearn.errors import ConfigError
        from sublearn.grid import LocalExecutor, run_grid
        from sublearn.progress import no_progress, rich_progress
        from sublearn.spec import load_spec_file
        from sublearn.store import ArtifactStore

        cells = load_spec_file(spec)
        if executor not in ("local", "ray"):
            raise ConfigError(f"--executor: {executor!r} is not available (choose 'local' or 'ray')")
        folder = (out or Path("runs") / cells[0].name).resolve()
        console.print(f"{len(cells)} cell(s) → {folder}" + (f" (store {store})" if store else ""))
        artifact_store = ArtifactStore(folder, remote=store)
        if executor == "ray":
            try:
                from sublearn.ray_executor import RayExecutor
            except ImportError as exc:
                raise ConfigError("--executor ray: Ray is not installed (pip install 'sublearn[ray]')") from exc
            with rich_progress(console, enabled=not quiet) as progress:
                progress("cells", len(cells))
                ray_executor = RayExecutor(address, cpus_per_cell, gpus_per_cell, retries,
                                           on_cell_done=lambda _cell, _result: progress("cells", None))
                summary = run_grid(cells, folder, ray_executor, no_progress, log=_print_line, store=artifact_store)
        else:
            with rich_progress(console, enabled=not quiet) as progress:
                summary = run_grid(cells, folder, LocalExecutor(), progress, log=console.print,
                                   store=artifact_store)
        for group in summary["groups"]:
            table = Table(title=f"{group['spec']['name']} — seeds {group['seeds']} "
                                f"({group['wall_seconds']:.0f} s)")
            shown = ("p_exact", "share_prefilled", "mcq", "sampled_rate", "misaligned_rate", "truthfulqa_false")
            metrics = [m for m in shown if any(m in a for a in group["arms"].values())]
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


def _print_line(text: str) -> None:
    """A log function that pickles (for Ray workers, whose output goes to the Ray logs)."""
    print(text, flush=True)
