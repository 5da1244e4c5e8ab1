"""Run the experiment and write its artifacts: ``results.json``, ``accuracy.png`` and a printed table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from sublearn.mnist.config import MnistConfig
from sublearn.mnist.ensemble import EnsembleMLP
from sublearn.mnist.experiment import MnistResult, run_mnist
from sublearn.mnist.report import accuracy_table, bar_chart, paired_test_line
from sublearn.util.atomic import atomic_write_json, atomic_write_with
from sublearn.util.errors import DataError
from sublearn.util.progress import ProgressFn

MODELS_FILE = "models.pt"


def save_models(result: MnistResult, path: Path) -> Path:
    """Save the reference and teacher ensembles (and what is needed to rebuild the arms) for ``sublearn audit``."""
    payload = {
        "config": result.config.model_dump(mode="json"),
        "cross_permutation": result.cross_permutation,
        "ensembles": {name: [p.detach().cpu() for p in result.models[name].parameters()]
                      for name in ("reference", "teacher") if name in result.models},
    }
    return atomic_write_with(path, lambda tmp: torch.save(payload, tmp))


def load_models(path: Path) -> dict[str, Any]:
    """Load what :func:`save_models` wrote; ensembles come back as :class:`EnsembleMLP`."""
    if not path.is_file():
        raise DataError(f"{path}: no saved models (run `sublearn mnist --save-models --out DIR` first)")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    ensembles = {}
    for name, tensors in payload["ensembles"].items():
        half = len(tensors) // 2
        ensembles[name] = EnsembleMLP(tensors[:half], tensors[half:])
    return {**payload, "ensembles": ensembles, "config": MnistConfig(**payload["config"])}


def run_and_save(cfg: MnistConfig, out_dir: Path, progress: ProgressFn, keep_models: bool = False
                 ) -> dict[str, Any]:
    """Run ``cfg`` and write ``out_dir/results.json`` and ``out_dir/accuracy.png`` (atomically), and with
    ``keep_models`` the reference and teacher weights as ``out_dir/models.pt``."""
    result = run_mnist(cfg, progress=progress)
    doc = result.to_json()
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = bar_chart(doc, out_dir / "accuracy.png")
    doc["artifacts"] = {"chart": chart.name}
    if keep_models:
        doc["artifacts"]["models"] = save_models(result, out_dir / MODELS_FILE).name
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
