"""Run the experiment and write its artifacts: ``results.json``, ``accuracy.png`` and a printed table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from sublearn.atomic import atomic_write_json
from sublearn.mnist.config import MnistConfig
from sublearn.mnist.experiment import run_mnist
from sublearn.mnist.report import accuracy_table, bar_chart, paired_test_line
from sublearn.progress import ProgressFn

PAPER_FIGURE_COMMAND = "sublearn mnist --n-models 100 --arms all --out runs/mnist-paper"


def run_and_save(cfg: MnistConfig, out_dir: Path, progress: ProgressFn) -> dict[str, Any]:
    """Run ``cfg`` and write ``out_dir/results.json`` and ``out_dir/accuracy.png`` (atomically)."""
    doc = run_mnist(cfg, progress=progress).to_json()
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = bar_chart(doc, out_dir / "accuracy.png")
    doc["artifacts"] = {"chart": chart.name}
    atomic_write_json(out_dir / "results.json", doc)
    return doc


def print_report(doc: dict[str, Any], out_dir: Path, console: Console) -> None:
    """Print the accuracy table, the paired test and where the artifacts are."""
    console.print(accuracy_table(doc))
    line = paired_test_line(doc)
    if line:
        console.print(line)
    chart = out_dir / doc["artifacts"]["chart"]
    console.print(f"Wrote {out_dir / 'results.json'} and {chart} ({doc['wall_seconds']:.0f} s on "
                  f"{doc['environment']['device']}).")
