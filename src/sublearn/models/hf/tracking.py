"""Per-step training metrics to TensorBoard, Weights & Biases or MLflow (``train.report_to``), all working
offline: TensorBoard event files go into the fine-tune's folder; W&B offline runs into ``RUN/wandb`` (``wandb
sync`` uploads them later); MLflow logs to ``$MLFLOW_TRACKING_URI``, else to a local file store beside the run
(``RUN/mlruns``: view it with ``mlflow ui --backend-store-uri RUN/mlruns``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sublearn.util.errors import ConfigError

#: What each tracker logs of a step-log entry.
SCALARS = ("loss", "lr", "grad_norm", "tokens")


class Tracker(Protocol):
    """One destination of per-step metrics."""

    def log(self, entry: dict[str, Any]) -> None:
        """Log one optimiser step's entry of the step log."""
        ...

    def close(self) -> None:
        """Flush and finish."""
        ...


def _require(module: str, kind: str, package: str) -> Any:
    """The tracker's module, or a :class:`ConfigError` naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"train.report_to: {kind} needs the {package} package (pip install "
                          "'sublearn[tracking]')") from exc


class TensorBoardTracker:
    """Scalars train/loss, train/lr, train/grad_norm, train/tokens in ``folder``."""

    def __init__(self, folder: Path) -> None:
        tensorboard = _require("torch.utils.tensorboard", "tensorboard", "tensorboard")
        self.writer = tensorboard.SummaryWriter(log_dir=str(folder))

    def log(self, entry: dict[str, Any]) -> None:
        for name in SCALARS:
            self.writer.add_scalar(f"train/{name}", entry[name], entry["step"])

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A W&B run, offline unless ``$WANDB_MODE`` says otherwise, in ``folder``."""

    def __init__(self, folder: Path, name: str, config: dict[str, Any]) -> None:
        wandb = _require("wandb", "wandb", "wandb")
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sublearn"), name=name, config=config,
                              dir=str(folder), mode=os.environ.get("WANDB_MODE", "offline"), reinit="create_new")

    def log(self, entry: dict[str, Any]) -> None:
        self.run.log({f"train/{n}": entry[n] for n in SCALARS}, step=entry["step"])

    def close(self) -> None:
        self.run.finish()


class MlflowTracker:
    """An MLflow run in experiment ``sublearn`` at ``$MLFLOW_TRACKING_URI``, else in the local store ``store``."""

    def __init__(self, store: Path, name: str, config: dict[str, Any]) -> None:
        mlflow = _require("mlflow", "mlflow", "mlflow-skinny")
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # a local file store, which needs no database (MLflow 3 asks for this opt-in)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = store.resolve().as_uri()
        self.client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name("sublearn")
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment("sublearn")
        self.run_id = self.client.create_run(experiment_id, run_name=name).info.run_id
        for key, value in config.items():
            self.client.log_param(self.run_id, key, value)

    def log(self, entry: dict[str, Any]) -> None:
        for n in SCALARS:
            self.client.log_metric(self.run_id, f"train/{n}", float(entry[n]), step=entry["step"])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class Trackers:
    """Every tracker named in ``train.report_to``, fed together: TensorBoard events in ``folder``, the W&B and
    MLflow stores in ``run_dir`` (else ``folder``)."""

    def __init__(self, kinds: Sequence[str], folder: Path, name: str, config: dict[str, Any],
                 run_dir: Path | None = None) -> None:
        made: list[Tracker] = []
        for kind in kinds:
            if kind == "tensorboard":
                made.append(TensorBoardTracker(folder / "tensorboard"))
            elif kind == "wandb":  # W&B's folders hold links and logs of its own: beside the artifacts
                made.append(WandbTracker(run_dir or folder, name, config))
            elif kind == "mlflow":
                made.append(MlflowTracker((run_dir or folder) / "mlruns", name, config))
        self.trackers = made

    def log(self, entry: dict[str, Any]) -> None:
        """Log one step to every tracker."""
        for tracker in self.trackers:
            tracker.log(entry)

    def close(self) -> None:
        """Finish every tracker."""
        for tracker in self.trackers:
            tracker.close()
