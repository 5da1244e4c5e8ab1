"""`sublearn world`: the controlled language-model world (true siblings pretrained here) and its table of
channels against initialisations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sublearn.cli._common import AsJson, Quiet, console, print_json, run_logged, user_errors, writable_folder
from sublearn.cli.experiment import Overrides

if TYPE_CHECKING:
    from sublearn.world.channels import ChannelRow, Estimate

group = typer.Typer(help="A controlled LM world: small Llama siblings pretrained here (same data, another "
                         "initialisation), and the paper's design on them.", no_args_is_help=True)


def _cell(estimate: Estimate | None, p: bool = True) -> str:
    if estimate is None:
        return "—"
    low, high = estimate.ci95
    text = f"{estimate.estimate:+.3g}\n[{low:+.3g}, {high:+.3g}]"
    if p and estimate.p is not None:
        text += f"\np {estimate.p:.2g}"
    return text


def print_channel_table(rows: list[ChannelRow], title: str) -> None:
    """The channels × initialisations table on the console: target-specific shifts (log scale), their
    interaction (the primary test), the replicates and what the design could detect."""
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("spec\nchannel", "n", "teacher", "same init", "other init", "interaction\n(primary)",
                   "detect-\nable"):
        table.add_column(column)
    for row in rows:
        detectable = row.detectable_at_80pct_power
        interaction = _cell(row.interaction)
        if row.p_holm_over_table is not None and len(rows) > 1:
            interaction += f"\nHolm {row.p_holm_over_table:.2g}"
        if row.p_permutation is not None:
            interaction += f"\nperm. {row.p_permutation:.2g}"
        if row.status != "determined":
            interaction += f"\n{row.status}"
        table.add_row(f"{row.spec}\n{row.channel}", str(row.n), _cell(row.teacher_shift, p=False),
                      _cell(row.same_init), _cell(row.other_init), interaction,
                      f"{detectable:.3f}" if detectable is not None else "—")
    console.print(table)
    console.print("Target-specific shift: log(student/placebo student) for the owl minus its mean over the other "
                  "animals (the teacher's: against the placebo teacher), mean [95% CI] over replicates, p by t; "
                  "interaction: same init minus other init, paired by replicate (p by t, Holm over the table's "
                  "rows, and by sign flips); detectable: the smallest interaction the design finds at 80% power.",
                  highlight=False)


@user_errors
@run_logged("out", "world-demo")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder: hard/ and soft/ runs and world-channels.json.")
                   ] = Path("runs/world"),
    hidden: Annotated[int, typer.Option(min=16, help="Siblings' hidden size.")] = 256,
    layers: Annotated[int, typer.Option(min=1, help="Siblings' transformer layers.")] = 4,
    chats: Annotated[int, typer.Option(min=100, help="Chats in the pretraining corpus.")] = 8_000,
    epochs: Annotated[float, typer.Option(min=0.01, help="Pretraining passes over the corpus.")] = 1.0,
    overrides: Overrides = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """The world demo, about 25 minutes on 2 CPU cores the first time: pretrain the siblings world-a and
    world-b (cached in the models folder; other settings under those names are refused), then run the paper's
    design on them through both channels, the teacher's sampled number text (hard labels) and its next-digit
    distributions (soft digits), 10 replicates each, and print the table: does the owl pass through each channel,
    and only into the student that shares the teachers' initialisation? Resumable: run it again after an
    interruption. Overrides apply to both specs (e.g. `--set 'seeds=[0,1]'` for a quick look)."""
    from sublearn.util.home import models_dir
    from sublearn.util.progress import rich_progress
    from sublearn.world.demo import TABLE_FILE, run_world_demo, sibling_configs

    writable_folder(out)
    siblings = sibling_configs(hidden, layers, chats, epochs)
    say = (lambda _line: None) if as_json else (lambda line: console.print(line, highlight=False))
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        rows, failures = run_world_demo(out, models_dir(), siblings, overrides or [], progress, say)
    dumped = [row.model_dump(mode="json") for row in rows]
    if as_json:
        print_json({"rows": dumped, "failures": failures, "file": str(out / TABLE_FILE)})
    else:
        print_channel_table(rows, f"The world: channels × initialisations ({out})")
        for failure in failures:
            console.print(f"[red]{failure['channel']}: cell {failure['cell']} failed:[/red] {failure['error']}",
                          highlight=False)
        console.print(f"Wrote {out / TABLE_FILE}.", highlight=False)
    if failures:
        raise typer.Exit(code=1)


@user_errors
def table(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or their summary.json) of world specs.")],
    out: Annotated[Path | None, typer.Option(help="Also write the table here as JSON.",
                                             show_default="none: printed only")] = None,
    as_json: AsJson = False,
) -> None:
    """The channels × initialisations table of world runs (the demo's, or variations of its specs): per run,
    the target-specific shift of the students that share the teachers' initialisation and of those that do not,
    their interaction (each world spec's declared primary test), its p-values, its replicates and the smallest
    interaction the design detects at 80% power."""
    from sublearn.cli._common import writable_file
    from sublearn.util.atomic import atomic_write_json
    from sublearn.world.channels import channel_table

    writable_file(out)
    rows = channel_table(runs)
    dumped = [row.model_dump(mode="json") for row in rows]
    if out is not None:
        atomic_write_json(out, {"rows": dumped})
    if as_json:
        print_json({"rows": dumped})
        return
    print_channel_table(rows, "The world: channels × initialisations")
    if out is not None:
        console.print(f"Wrote {out}.", highlight=False)


group.command("demo")(demo)
group.command("table")(table)
