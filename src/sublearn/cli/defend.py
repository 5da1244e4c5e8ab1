"""``sublearn defend``: defences against subliminal transfer, measured side by side on cases that transfer."""

from __future__ import annotations

from enum import StrEnum
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
from sublearn.cli.mnist import Dataset
from sublearn.config.readouts import DEFENCE_READOUTS

group = typer.Typer(help="Defences against subliminal transfer, each measured as the fraction of the effect that "
                         "remains, on a case known to transfer.", no_args_is_help=True)

#: Options that the MNIST commands of this group share.
MnistDataset = Annotated[Dataset, typer.Option(help="mnist (real, vendored) or digits (sklearn 8x8, seconds).")]
ModelSeed = Annotated[int, typer.Option(min=0, help="Model i uses seed + i. Same seed, same result.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:K.")]


@group.command("mnist")
@user_errors
@run_logged("out", "defend mnist")
def mnist(
    n_models: Annotated[int, typer.Option("--n-models", "-n", min=2, help="Teachers N (each with its own students "
                                          "under every defence); CIs are over them.")] = 10,
    dataset: MnistDataset = Dataset.mnist,
    student_epochs: Annotated[int, typer.Option(min=1, help="Student epochs of distillation on noise.")] = 5,
    seed: ModelSeed = 0,
    device: Device = "auto",
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and defences.png.")
                   ] = Path("runs/defend-mnist"),
    quiet: Quiet = False,
    as_json: AsJson = False,
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
    from sublearn.mnist.records import table_dict
    from sublearn.util.progress import rich_progress

    cfg = MnistConfig(dataset=dataset.value, n_models=n_models, student_epochs=student_epochs, seed=seed,
                      device=device)
    writable_folder(out)
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = run_and_save_defences(cfg, out, progress)
    if as_json:
        print_json(table_dict(doc))
        return
    console.print(defence_table(doc))
    console.print(f"Wrote {out / 'results.json'} and {out / doc.artifacts['chart']} "
                  f"({doc.wall_seconds:.0f} s on {doc.environment['device']}).")


#: Readouts a defence table can be read on (from the readouts table).
Readout = StrEnum("Readout", {name: name for name in DEFENCE_READOUTS})


def _percent(value: float | None) -> str:
    """A fraction as a whole percentage ("—" when unknown; no "-0%")."""
    return "—" if value is None else f"{round(100 * value) + 0}%"


def _percent_ci(ci: list[float | None] | None) -> str:
    return "—" if not ci or None in ci else f"[{_percent(ci[0])}, {_percent(ci[1])}]"


@group.command("table")
@user_errors
@run_logged("run_dir", "defend table", existing=True)
def table(
    run_dir: Annotated[Path, typer.Argument(help="A run whose cells differ only by `defence` (a grid over it, "
                                            "with defence.kind none among them), e.g. "
                                            "configs/demo/owl-numbers-cpu-defences.yaml.")],
    readout: Annotated[Readout, typer.Option(help="The readout the effect is read on (a share only beside "
                                             "its probability: it moves with the other animals' mass).")
                       ] = Readout.p_exact,
    by: Annotated[str, typer.Option(help="What the cells' defences differ by: the defence: section, or one "
                                    "setting's dotted path (carrier.top_p for threshold sampling).")] = "defence",
    baseline: Annotated[str | None, typer.Option(help="With --by SETTING: its undefended value (e.g. 1.0).",
                                                 show_default="none")] = None,
    spec_name: Annotated[str | None, typer.Option(help="Only the cells of the spec with this name (a run folder "
                                                  "that other specs share for their artifacts, e.g. "
                                                  "owl-numbers-cpu-defences run into runs/owl-numbers-cpu).",
                                                  show_default="every cell")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the table as JSON here.",
                                             show_default="RUN_DIR/defences.json")] = None,
    as_json: AsJson = False,
) -> None:
    """The defence table of an LM run: per defence, the effect that remains (student − placebo student, paired by
    replicate, as a fraction of the undefended effect, Fieller's CI over replicates) on the difference, the
    log-ratio scale and, for a preference trait, target-specific (log ratio of the target minus its mean over the
    other animals); the paired test against no defence, Holm-corrected over every defence and scale as one family
    ("undetermined" where values fall below their error bound); and the cost: digit positions still in the loss,
    positions changed, and KL(defended ‖ teacher) in nats over the positions kept."""
    from rich.table import Table

    from sublearn.analysis.defences import lm_defence_table
    from sublearn.analysis.records import as_dict, write_defence_table
    from sublearn.util.errors import DataError

    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run folder")
    writable_file(out or run_dir / "defences.json")
    table = lm_defence_table(run_dir, readout.value, by, baseline, spec_name)
    target = out or run_dir / "defences.json"
    write_defence_table(target, table)
    if as_json:
        print_json(as_dict(table))
        return
    base = table.baseline
    specific = base.get("target_specific")
    shown = Table(title=f"Defences, {readout.value}, n = {base['n']} replicates. Undefended effect: "
                        + (f"target-specific {specific['effect']:.3g} [{specific['ci95'][0]:.3g}, "
                           f"{specific['ci95'][1]:.3g}]; " if specific else "")
                        + f"difference {base['effect']:.3g} [{base['ci95'][0]:.3g}, {base['ci95'][1]:.3g}]. "
                        f"p (Holm) over a family of {(table.family or {}).get('size', 0)} tests")
    scales = [("target-specific", "target_specific"), ("difference", None), ("log ratio", "log_ratio")]
    shown.add_column("defence")
    for title, _ in scales:
        for column in (f"{title}: remaining [95% CI]", "p (Holm)"):
            shown.add_column(column, justify="right")
    for column in ("in loss", "changed", "KL"):
        shown.add_column(column, justify="right")

    def scale_cells(section: dict | None) -> tuple[str, str]:
        if not section:
            return "—", "—"
        test = section["versus_undefended"]
        p = "undetermined" if "undetermined" in test else f"{test.get('p_holm', float('nan')):.2g}"
        return f"{_percent(section['remaining_fraction'])} {_percent_ci(section['ci95'])}", p

    for row in table.defences:
        kl = row.mean_kl_defended_to_teacher
        difference = {"remaining_fraction": row.remaining_fraction, "ci95": row.ci95,
                      "versus_undefended": row.versus_undefended}
        cells = [cell for _, key in scales
                 for cell in scale_cells(difference if key is None else getattr(row, key))]
        shown.add_row(row.name, *cells, _percent(row.kept_fraction), _percent(row.changed_fraction),
                      "—" if kl is None else f"{kl:.3f}")
    console.print(shown)
    console.print(f"Wrote {target}", highlight=False)


@group.command("detectors")
@user_errors
@run_logged("out", "defend detectors")
def detectors(
    n_models: Annotated[int, typer.Option("--n-models", "-n", min=2, help="Trait/placebo teacher pairs N; each "
                                          "writes one dataset, and CIs are over them.")] = 10,
    dataset: MnistDataset = Dataset.mnist,
    seed: ModelSeed = 0,
    device: Device = "auto",
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json.")
                   ] = Path("runs/detectors-mnist"),
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Every data detector scored by AUROC on the MNIST analogue: trait teacher's data against a placebo's.

    Per model, two teachers from the same init are trained alike, one on the real labels (the trait), one on
    shuffled labels (the placebo); each writes its auxiliary logits on the same noise images, and a student of
    each shows which data transfers. Detectors read each dataset against the reference (the students' init): per
    image, the KL of the auxiliary softmax and whether its argmax changed; per dataset, the gradient audit's
    cosine with the teacher's update and its predicted trait-loss drop. Prints each one's AUROC with its CI and
    writes OUT/results.json.
    """
    from rich.table import Table

    from sublearn.audit.detectors_mnist import run_detectors
    from sublearn.mnist.config import MnistConfig
    from sublearn.util.atomic import atomic_write_json
    from sublearn.util.progress import rich_progress

    cfg = MnistConfig(dataset=dataset.value, n_models=n_models, seed=seed, device=device)
    writable_folder(out)
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = run_detectors(cfg, progress)
    atomic_write_json(out / "results.json", doc)
    if as_json:
        print_json(doc)
        return
    transfer = doc["transfer"]
    shown = Table(title=f"Detectors on {dataset.value}: trait teacher's data (positive) against the placebo's; "
                        f"transfer {transfer['trait']['mean']:+.3f} (trait) vs {transfer['placebo']['mean']:+.3f} "
                        f"(placebo) accuracy, n = {n_models} models")
    for column in ("detector", "AUROC per image", "95% CI", "AUROC per dataset", "95% CI "):
        shown.add_column(column, justify="left" if column == "detector" else "right")
    for row in doc["detectors"]:
        example, whole = row.get("example_level"), row["dataset_level"]
        shown.add_row(row["detector"], f"{example['estimate']:.3f}" if example else "—",
                      f"[{example['ci95'][0]:.3f}, {example['ci95'][1]:.3f}]" if example else "",
                      f"{whole['auroc']:.3f}", f"[{whole['ci95'][0]:.3f}, {whole['ci95'][1]:.3f}]")
    console.print(shown)
    console.print(f"Wrote {out / 'results.json'} ({doc['wall_seconds']:.0f} s on {doc['environment']['device']}).",
                  highlight=False)
