"""``sublearn theory``: Theorem 1 checked numerically."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``theory`` to ``app``."""
    from rich.table import Table

    from sublearn.atomic import atomic_write_json
    from sublearn.cli import console, user_errors
    from sublearn.theory.report import plot_inner_products, summarise
    from sublearn.theory.theorem import DEFAULT_EPSILONS, run_theory

    @app.command("theory")
    @user_errors
    def theory(
        out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and inner_product.png.")
                       ] = Path("runs/theory"),
        seeds: Annotated[int, typer.Option(min=1, help="Random initialisations per setting.")] = 3,
        small_epsilon: Annotated[float, typer.Option(help="Largest ε counted as 'small' in the headline "
                                                     "fractions.")] = 1e-2,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Check Theorem 1: imitating a teacher that shares your init moves you toward the teacher's trait.

        Over MLPs of several widths and depths and a tiny transformer, squared-error and soft cross-entropy
        imitation, noise and real inputs, all or only auxiliary outputs, and a range of teacher step sizes ε, it
        measures Δθ_S·Δθ_T and whether the student's small step lowers the teacher's trait loss, for shared and
        for different initialisations. Writes OUT/results.json and OUT/inner_product.png.
        """
        from sublearn.progress import rich_progress, step_counter

        start = time.perf_counter()
        with rich_progress(console, enabled=not quiet) as progress:
            step = step_counter(progress, "settings")
            cases = run_theory(seeds=seeds, epsilons=DEFAULT_EPSILONS, progress=step)
        doc = summarise(cases, small_epsilon)
        doc["wall_seconds"] = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        plot = plot_inner_products(cases, out / "inner_product.png")
        doc["artifacts"] = {"plot": plot.name}
        atomic_write_json(out / "results.json", doc)

        table = Table(title=f"Theorem 1 over {len(cases)} cases (headline: ε ≤ {small_epsilon:g})")
        for col in ("init", "ε", "n", "Δθ_S·Δθ_T ≥ 0", "L_T falls", "beats ε=0 teacher", "median cos"):
            table.add_column(col, justify="right")
        for init in ("shared", "different"):
            for eps, row in doc[f"{init}_init"]["by_epsilon"].items():
                nn, ld, bt = row["nonnegative"], row["loss_decrease"], row["beats_untrained_teacher"]
                table.add_row(init, eps, str(nn["n"]), f"{nn['fraction']:.3f}", f"{ld['fraction']:.3f}",
                              f"{bt['fraction']:.3f}", f"{row['median_cosine']:+.3f}")
        console.print(table)
        for init in ("shared", "different"):
            s = doc[f"{init}_init"]
            lo, hi = s["fraction_nonnegative_ci95"]
            console.print(f"{init} init, ε ≤ {small_epsilon:g}: Δθ_S·Δθ_T ≥ 0 in {s['fraction_nonnegative']:.3f} "
                          f"[{lo:.3f}, {hi:.3f}] of n = {s['n']}; L_T falls in {s['fraction_loss_decrease']:.3f}, "
                          f"and below the untrained-teacher baseline in {s['fraction_beats_untrained_teacher']:.3f}.")
        n_counter = len(doc["counterexamples"])
        console.print(f"Counterexamples to the sign claim (shared init, small ε): {n_counter}"
                      + ("" if not n_counter else " (listed in results.json under 'counterexamples')"))
        console.print(f"Shared-init cases with a negative inner product at larger ε (beyond first order): "
                      f"{len(doc['beyond_first_order'])}")
        console.print(f"Wrote {out / 'results.json'} and {plot} ({doc['wall_seconds']:.0f} s).")
