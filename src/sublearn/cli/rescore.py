"""``sublearn rescore`` and ``sublearn rejudge``: a run's readouts recomputed from every answer it kept, and its
misalignment answers judged again, without generating."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import Quiet, console, print_json, run_logged, user_errors, writable_folder
from sublearn.util.errors import DataError


class JudgeBackend(StrEnum):
    """Where the judge runs."""

    openai = "openai"
    hf = "hf"


def _finished_reports(run_dir: Path, verb: str) -> list[dict]:
    from sublearn.analysis.tidy import load_reports

    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run folder")
    reports = [r for r in load_reports(run_dir) if "error" not in r]
    if not reports:
        raise DataError(f"{run_dir}: no finished cell to {verb} (run `sublearn run SPEC --out {run_dir}` first)")
    return reports


def _print(frame: object, title: str, as_json: bool) -> None:
    """The table as JSON records (NaN as null), or as a rich table beside the reported values."""
    from rich.table import Table

    if as_json:
        print_json(frame.to_dict("records"))  # type: ignore[attr-defined]  (NaN as null)
        return
    table = Table(title=title)
    for column in ("cell", "arm", "readout", "target", "value [95% CI]", "n", "reported"):
        table.add_column(column, justify="right" if column in ("value [95% CI]", "n", "reported") else "left")

    def fmt(value: object) -> str:
        return "—" if value is None or value != value else f"{value:.4g}"

    for r in frame.to_dict("records"):  # type: ignore[attr-defined]
        table.add_row(r["cell"], r["arm"], r["readout"], str(r.get("rescored_target", r["target"])),
                      f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", str(r["n"]),
                      fmt(r["reported_mean"]))
    console.print(table)


@user_errors
@run_logged("run_dir", "rescore", existing=True)
def rescore(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    target: Annotated[str | None, typer.Option(help="Score the preference readouts for this animal instead "
                                               "(one the evaluation measured: sampled answers are read again; "
                                               "probabilities exist for the spec's eval.animals and MCQ "
                                               "choices).", show_default="each cell's target")] = None,
    coherence_min: Annotated[int | None, typer.Option(min=0, max=100, help="Misalignment: count an answer when "
                                                      "its coherence is at least this.",
                                                      show_default="the spec's")] = None,
    alignment_max: Annotated[int | None, typer.Option(min=0, max=100, help="Misalignment: an answer counted is "
                                                      "misaligned when its alignment is at most this.",
                                                      show_default="the spec's")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for rescored.parquet and rescored.csv.",
                                             show_default="RUN_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON records.",
                                          show_default="off")] = False,
) -> None:
    """Recompute every readout of RUN_DIR from its kept answers (each evaluation's samples, judgements and
    probabilities, gathered in RUN_DIR/answers.parquet), for another target animal or other judge thresholds,
    without loading a model. With the run's own settings each value equals the one the run reported (shown
    beside it). Writes OUT/rescored.parquet and OUT/rescored.csv."""
    from sublearn.analysis.answers import rescore_run
    from sublearn.analysis.tidy import write_table

    reports = _finished_reports(run_dir, "rescore")
    folder = writable_folder(out if out is not None else run_dir)
    frame = rescore_run(run_dir, reports, target, coherence_min, alignment_max)
    write_table(frame, folder / "rescored")
    _print(frame, f"{run_dir}: readouts from the kept answers (95% CI over questions)", as_json)
    if not as_json:
        console.print(f"Wrote {folder / 'rescored.parquet'} and {folder / 'rescored.csv'}.", highlight=False)


@user_errors
@run_logged("run_dir", "rejudge", existing=True)
def rejudge(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    judge: Annotated[str, typer.Option(help="The judge model: its name on the server, or for a local judge (hf) "
                                       "a local folder, sublearn name or hub id.")],
    judge_backend: Annotated[JudgeBackend, typer.Option(help="openai: any OpenAI-compatible server; hf: a local "
                                                      "model.")] = JudgeBackend.openai,
    base_url: Annotated[str | None, typer.Option(help="The server's URL (openai backend).",
                                                 show_default="$OPENAI_BASE_URL, else OpenAI")] = None,
    api_key_env: Annotated[str, typer.Option(help="The variable holding the server's API key.")
                           ] = "OPENAI_API_KEY",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (hf backend).")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Folder for rejudged.* and rejudged_answers.parquet.",
                                             show_default="RUN_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON records.",
                                          show_default="off")] = False,
    quiet: Quiet = False,
) -> None:
    """Judge the kept misalignment answers of RUN_DIR again with JUDGE (the paper's alignment and coherence
    prompts, each evaluation's seed and the spec's thresholds) and recompute the misalignment rate, without
    generating the answers again: the run's own judge gives the reported rates back, another judge shows how much
    they depend on it. Writes OUT/rejudged.parquet and .csv (a row per cell and arm) and
    OUT/rejudged_answers.parquet (every answer with the new scores). API answers are cached in OUT/api_cache."""
    from sublearn.analysis.rejudge import rejudge_run
    from sublearn.analysis.tidy import write_table
    from sublearn.backends.base import BackendOptions
    from sublearn.backends.registry import judge_model
    from sublearn.config.api import ApiConfig, JudgeConfig
    from sublearn.util.atomic import atomic_write_with
    from sublearn.util.progress import rich_progress, step_counter

    reports = _finished_reports(run_dir, "rejudge")
    folder = writable_folder(out if out is not None else run_dir)
    config = JudgeConfig(model=judge, backend=judge_backend.value,
                         api=ApiConfig(base_url=base_url, api_key_env=api_key_env)
                         if judge_backend is JudgeBackend.openai else None)
    chat = judge_model(config, BackendOptions(device=device, cache_dir=folder / "api_cache"))
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        answers, rates = rejudge_run(run_dir, reports, chat, progress=step_counter(progress, "evaluations"))
    if rates.empty:
        raise DataError(f"{run_dir}: no kept misalignment answers to judge (a preference run has none; runs from "
                        "before answers were kept must be run again)")
    atomic_write_with(folder / "rejudged_answers.parquet", lambda p: answers.to_parquet(p, index=False))
    write_table(rates, folder / "rejudged")
    _print(rates, f"{run_dir}: misalignment rates judged by {judge}", as_json)
    if not as_json:
        console.print(f"Wrote {folder / 'rejudged.parquet'} and {folder / 'rejudged_answers.parquet'}.",
                      highlight=False)
