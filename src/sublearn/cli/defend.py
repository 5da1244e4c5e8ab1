"""``sublearn defend``: defences against subliminal transfer, measured side by side on cases that transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import Quiet, console, user_errors, writable_folder
from sublearn.cli.mnist import Dataset

group = typer.Typer(help="Defences against subliminal transfer, each measured as the fraction of the effect that "
                         "remains, on a case known to transfer.", no_args_is_help=True)


@group.command("mnist")
@user_errors
def mnist(
    n_models: Annotated[int, typer.Option("--n-models", "-n", min=2, help="Teachers N (each with its own students "
                                          "under every defence); CIs are over them.")] = 10,
    dataset: Annotated[Dataset, typer.Option(help="mnist (real, vendored) or digits (sklearn 8x8, seconds).")
                       ] = Dataset.mnist,
    student_epochs: Annotated[int, typer.Option(min=1, help="Student epochs of distillation on noise.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Model i uses seed + i. Same seed, same result.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:K.")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and defences.png.")
                   ] = Path("runs/defend-mnist"),
    quiet: Quiet = False,
) -> None:
    """Every MNIST defence against the auxiliary-logit students, side by side.

    Trains N teachers, the undefended students (the teachers' own inits, auxiliary logits only, on noise) and
    one student per defence: hard labels, temperature 0.25 and 4, top-2 truncation, output noise, dropping the
    half of the noise images where teacher and reference diverge most, and a different initialisation. For each,
    the effect that remains as a fraction of the undefended effect (accuracy gain over the untrained reference),
    with a bootstrap CI over the N models, the paired test against no defence, and the costs: data kept and the
    student's agreement with its teacher's auxiliary outputs on held-out noise. Writes OUT/results.json and
    OUT/defences.png.
    """
    from sublearn.mnist.config import MnistConfig
    from sublearn.mnist.defence_report import defence_table
    from sublearn.mnist.defend import run_and_save_defences
    from sublearn.util.progress import rich_progress

    cfg = MnistConfig(dataset=dataset.value, n_models=n_models, student_epochs=student_epochs, seed=seed,
                      device=device)
    writable_folder(out)
    with rich_progress(console, enabled=not quiet) as progress:
        doc = run_and_save_defences(cfg, out, progress)
    console.print(defence_table(doc))
    console.print(f"Wrote {out / 'results.json'} and {out / doc['artifacts']['chart']} "
                  f"({doc['wall_seconds']:.0f} s on {doc['environment']['device']}).")
