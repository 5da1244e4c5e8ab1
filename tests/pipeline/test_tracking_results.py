"""Trackers get the results, not only the loss: each trained model's evaluation (with its arm, cell, seed and spec)
in the run its training wrote to, and each experiment's effects in a run of their own, grouped by experiment;
offline, for MLflow, TensorBoard and W&B."""

import pytest

from factories import NO_CONTROLS, cell_report, spec_doc
from sublearn.config.grid import expand_grid
from sublearn.models.hf.tracking import MlflowTracker, WandbTracker, log_results, mlflow_client, wandb_id
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FAKE_A, FakeBackend


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_each_trained_model_gets_its_evaluation_and_the_experiment_its_effects(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    doc = spec_doc(FAKE_A, train={"report_to": ["mlflow", "tensorboard"]},
                   controls={**NO_CONTROLS, "control_teacher": True})
    cells = expand_grid({**doc, "seeds": [0, 1]})
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == []
    client = mlflow_client(tmp_path / "mlruns")
    experiment = client.get_experiment_by_name("tiny-owl")  # grouped by the spec
    runs = client.search_runs([experiment.experiment_id])
    by_artifact = {r.data.tags.get("sublearn.artifact"): r for r in runs}
    for cell in cells:
        report = cell_report(tmp_path, cell)
        for arm, info in report["arms"].items():
            if not info["model"].startswith("train/"):
                continue
            run = by_artifact[info["model"]]  # one run per trained model
            tags = run.data.tags
            assert (tags["sublearn.arm"], tags["sublearn.cell"], tags["sublearn.seed"], tags["sublearn.spec"]) == \
                (arm, report["cell"], str(report["spec"]["seed"]), "tiny-owl")
            for readout, m in info["metrics"].items():
                assert run.data.metrics[f"eval/{readout}/mean"] == pytest.approx(m["mean"])
                assert run.data.metrics[f"eval/{readout}/n"] == m["n"]
            events = EventAccumulator(str(tmp_path / "tensorboard" / info["model"].replace("/", "-")))
            events.Reload()
            assert events.Scalars("eval/p_exact/mean")[0].value == pytest.approx(info["metrics"]["p_exact"]["mean"])
    [effects] = [r for r in runs if r.data.tags.get("sublearn.kind") == "effects"]
    test = summary["groups"][0]["tests_over_seeds"]["student-control:p_exact"]
    assert effects.data.metrics["difference/student-control/p_exact/estimate"] == pytest.approx(test["mean_diff"])
    assert effects.data.metrics["difference/student-control/p_exact/n"] == 2
    assert effects.data.tags["sublearn.seeds"] == "2"


def test_results_go_to_the_run_the_model_trained_in(tmp_path):
    tags = {"spec": "s", "cell": "c1", "seed": 0, "artifact": "train/abc123"}
    training = MlflowTracker(tmp_path / "mlruns", "train-abc", {"lr": 0.1}, tags)
    training.log({"step": 1, "loss": 2.0, "lr": 0.1, "grad_norm": 1.0, "tokens": 10})
    training.close()
    log_results(["mlflow"], tmp_path, None, "train/abc123", {**tags, "arm": "student"}, {"eval/mcq/mean": 0.25})
    client = mlflow_client(tmp_path / "mlruns")
    [run] = client.search_runs([client.get_experiment_by_name("s").experiment_id])
    assert run.info.run_id == training.run_id and run.data.metrics["eval/mcq/mean"] == 0.25
    assert run.data.tags["sublearn.arm"] == "student" and run.data.params["lr"] == "0.1"


def test_a_models_wandb_results_resume_its_training_run(tmp_path):
    tags = {"spec": "s", "cell": "c1", "seed": 0, "artifact": "train/abc123"}
    training = WandbTracker(tmp_path, "train-abc", {"lr": 0.1}, tags)
    assert training.run.id == wandb_id(tags, "x") and training.run.group == "s"
    training.close()
    log_results(["wandb"], tmp_path, None, "train/abc123", {**tags, "arm": "student"}, {"eval/mcq/mean": 0.25})
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(wandb_id(tags, "x") in r.name for r in runs)  # one run id, resumed
