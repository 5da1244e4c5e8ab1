"""``sublearn theory``: Theorem 1 checked numerically."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import (
    AsJson,
    Quiet,
    console,
    print_json,
    run_logged,
    user_errors,
    writable_file,
    writable_folder,
)


@user_errors
@run_logged("out", "theory")
def theory(
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and inner_product.png.")
                   ] = Path("runs/theory"),
    seeds: Annotated[int, typer.Option(min=1, help="Random initialisations per setting.")] = 3,
    small_epsilon: Annotated[float, typer.Option(min=0, help="Largest ε counted as 'small' in the headline "
                                                 "fractions.")] = 1e-2,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Check Theorem 1: imitating a teacher that shares your init moves you toward the teacher's trait.

    Over MLPs of several widths and depths and a tiny transformer, squared-error and soft cross-entropy
    imitation, noise and real inputs, all or only auxiliary outputs, and a range of teacher step sizes ε, it
    measures Δθ_S·Δθ_T and whether the student's small step lowers the teacher's trait loss, for shared and
    for different initialisations. Writes OUT/results.json and OUT/inner_product.png.
    """
    from sublearn.theory.report import run_and_save_theory, theory_lines, theory_table
    from sublearn.util.progress import rich_progress, step_counter

    writable_folder(out)
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = run_and_save_theory(out, seeds, small_epsilon, step_counter(progress, "settings"))
    if as_json:
        print_json(doc)
        return
    console.print(theory_table(doc))
    for line in theory_lines(doc):
        console.print(line)
    console.print(f"Wrote {out / 'results.json'} and {out / doc['artifacts']['plot']} "
                  f"({doc['wall_seconds']:.0f} s).")


@user_errors
def coverage(
    simulations: Annotated[int, typer.Option(min=100, help="Simulated experiments per replicate count.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulation.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the table as JSON to this file.",
                                                 show_default="not written")] = None,
    as_json: AsJson = False,
) -> None:
    """Check that the 95% intervals sublearn reports over few replicates cover: the gap fraction (Fieller's
    interval) and log-scale effects (Student's t), each beside the percentile bootstrap, at 5 and 8 replicates."""
    import json

    from rich.table import Table

    from sublearn.analysis.coverage import REPLICATE_COUNTS, simulate_coverage
    from sublearn.util.atomic import atomic_write_text

    out = writable_file(out)
    doc = {"experiment": "interval_coverage", "command": f"sublearn coverage --simulations {simulations} "
           f"--seed {seed}", "results": [simulate_coverage(n, simulations, seed) for n in REPLICATE_COUNTS]}
    if out is not None:
        atomic_write_text(out, json.dumps(doc, indent=1) + "\n")
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Coverage of 95% intervals ({simulations:,} simulated experiments each)")
    table.add_column("interval")
    for result in doc["results"]:
        table.add_column(f"n = {result['n']}", justify="right")
    for name in doc["results"][0]["coverage"]:
        table.add_row(name.replace("_", " "), *(f"{r['coverage'][name]:.1%}" for r in doc["results"]))
    console.print(table)
