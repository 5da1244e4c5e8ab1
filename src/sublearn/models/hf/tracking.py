"""Training and results to TensorBoard, Weights & Biases or MLflow (``train.report_to``), all working offline.

One tracker run per trained model, labelled with its spec, cell, seed and artifact (and, once evaluated, its
arm), grouped by experiment (the spec's name: W&B's group, MLflow's experiment): per-step training metrics
while it trains (:class:`Trackers`), then its evaluation results (:func:`log_results`), and one run per
experiment group with its effects. TensorBoard event files go into the fine-tune's folder; W&B offline runs into
``RUN/wandb`` (``wandb sync`` uploads them later; a model's results resume its training run by id); MLflow logs
to ``$MLFLOW_TRACKING_URI``, else to a local file store beside the run (``RUN/mlruns``: view it with ``mlflow ui
--backend-store-uri RUN/mlruns``)."""

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


#: The experiment runs go to when no spec names one (a bare fine-tune).
DEFAULT_EXPERIMENT = "sublearn"
#: The MLflow tag that names a run's artifact (how its results find it).
ARTIFACT_TAG = "sublearn.artifact"


def wandb_id(tags: dict[str, Any], name: str) -> str:
    """A W&B run id that is the same for a model's training and its results (from its artifact ref)."""
    source = str(tags.get("artifact") or name)
    return "sl-" + "".join(c if c.isalnum() else "-" for c in source)[-60:]


class TensorBoardTracker:
    """Scalars train/loss, train/lr, train/grad_norm, train/tokens in ``folder``, the labels as text."""

    def __init__(self, folder: Path, labels: dict[str, Any] | None = None) -> None:
        tensorboard = _require("torch.utils.tensorboard", "tensorboard", "tensorboard")
        self.writer = tensorboard.SummaryWriter(log_dir=str(folder))
        if labels:
            import json

            self.writer.add_text("sublearn/labels", json.dumps(labels, default=str), 0)

    def log(self, entry: dict[str, Any]) -> None:
        for name in SCALARS:
            self.writer.add_scalar(f"train/{name}", entry[name], entry["step"])

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A W&B run, offline unless ``$WANDB_MODE`` says otherwise, in ``folder``: grouped by the spec, tagged with
    the labels, its id fixed by the artifact (so its results resume it)."""

    def __init__(self, folder: Path, name: str, config: dict[str, Any], tags: dict[str, Any] | None = None
                 ) -> None:
        wandb = _require("wandb", "wandb", "wandb")
        folder.mkdir(parents=True, exist_ok=True)
        tags = tags or {}
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sublearn"), name=name,
                              config={**config, **tags}, group=str(tags.get("spec", DEFAULT_EXPERIMENT)),
                              tags=[f"{k}:{v}" for k, v in tags.items()][:20], id=wandb_id(tags, name),
                              resume="allow", dir=str(folder), mode=os.environ.get("WANDB_MODE", "offline"),
                              reinit="create_new")

    def log(self, entry: dict[str, Any]) -> None:
        self.run.log({f"train/{n}": entry[n] for n in SCALARS}, step=entry["step"])

    def close(self) -> None:
        self.run.finish()


def mlflow_client(store: Path) -> Any:
    """An MLflow client at ``$MLFLOW_TRACKING_URI``, else at the local file store ``store``."""
    mlflow = _require("mlflow", "mlflow", "mlflow-skinny")
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:  # a local file store, which needs no database (MLflow 3 asks for this opt-in)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = store.resolve().as_uri()
    return mlflow.MlflowClient(tracking_uri=uri)


def mlflow_experiment(client: Any, name: str) -> str:
    """The id of the MLflow experiment ``name``, made if missing."""
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


class MlflowTracker:
    """An MLflow run in the spec's experiment (else ``sublearn``), tagged ``sublearn.KEY`` with the labels."""

    def __init__(self, store: Path, name: str, config: dict[str, Any], tags: dict[str, Any] | None = None
                 ) -> None:
        tags = tags or {}
        self.client = mlflow_client(store)
        experiment_id = mlflow_experiment(self.client, str(tags.get("spec", DEFAULT_EXPERIMENT)))
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags={
            f"sublearn.{k}": str(v) for k, v in tags.items()}).info.run_id
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
                 run_dir: Path | None = None, tags: dict[str, Any] | None = None) -> None:
        made: list[Tracker] = []
        for kind in kinds:
            if kind == "tensorboard":
                made.append(TensorBoardTracker(folder / "tensorboard", {**(tags or {}), **config}))
            elif kind == "wandb":  # W&B's folders hold links and logs of its own: beside the artifacts
                made.append(WandbTracker(run_dir or folder, name, config, tags))
            elif kind == "mlflow":
                made.append(MlflowTracker((run_dir or folder) / "mlruns", name, config, tags))
        self.trackers = made

    def log(self, entry: dict[str, Any]) -> None:
        """Log one step to every tracker."""
        for tracker in self.trackers:
            tracker.log(entry)

    def close(self) -> None:
        """Finish every tracker."""
        for tracker in self.trackers:
            tracker.close()


def log_results(kinds: Sequence[str], run_dir: Path, folder: Path | None, name: str, tags: dict[str, Any],
                metrics: dict[str, float]) -> None:
    """Results (``metrics``, e.g. ``eval/p_exact/mean``) into the run of the model whose artifact ``tags``
    names (its training run: the same W&B id, the MLflow run tagged with its artifact), else into a new run
    called ``name`` (an experiment's effects); ``tags`` are added to it. TensorBoard writes to ``folder``."""
    for kind in kinds:
        if kind == "tensorboard" and folder is not None:
            tensorboard = TensorBoardTracker(folder, tags)
            for key, value in metrics.items():
                tensorboard.writer.add_scalar(key, value, 0)
            tensorboard.close()
        elif kind == "wandb":
            run = WandbTracker(run_dir, name, {}, tags).run
            run.summary.update(metrics)
            run.finish()
        elif kind == "mlflow":
            client = mlflow_client(run_dir / "mlruns")
            experiment_id = mlflow_experiment(client, str(tags.get("spec", DEFAULT_EXPERIMENT)))
            found = client.search_runs([experiment_id], filter_string=f"tags.`{ARTIFACT_TAG}` = "
                                       f"'{tags['artifact']}'") if tags.get("artifact") else []
            run_id = found[0].info.run_id if found else client.create_run(experiment_id, run_name=name).info.run_id
            for key, value in tags.items():
                client.set_tag(run_id, f"sublearn.{key}", str(value))
            for key, value in metrics.items():
                client.log_metric(run_id, key, float(value), step=0)
            client.set_terminated(run_id)
