"""Mid-training checkpoints resume to exactly the uninterrupted result, and per-step metrics reach TensorBoard,
MLflow and W&B, offline."""

import pytest
import torch

from sublearn.config.training import TrainConfig
from sublearn.models.hf.checkpoint import CHECKPOINT, trainable_state
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.tracking import Trackers
from sublearn.models.hf.training import fine_tune

ROWS = [{"prompt": f"Continue: {i}, {i + 1}.", "completion": f"{i + 2}, {i + 3}"} for i in range(10)]
CONFIG = TrainConfig(lora_r=4, lora_alpha=8, epochs=2, lr=1e-2, batch_size=2, grad_accum=1, warmup_steps=1,
                     target_modules=["q_proj", "v_proj"], checkpoint_every=2)


class Crash(Exception):
    pass


def _train(model_dir, checkpoint_dir, crash_after=None, on_step=None):
    tok, model = load_causal_lm(str(model_dir))
    seen = []

    def progress(_: str, total):
        if total is None:
            seen.append(1)
            if crash_after is not None and len(seen) == crash_after:
                raise Crash

    return fine_tune(model, tok, ROWS, CONFIG, seed=5, order_seed=6, progress=progress, merge=False,
                     checkpoint_dir=checkpoint_dir, on_step=on_step)


def test_a_run_stopped_mid_training_resumes_to_the_uninterrupted_result(tiny_model_dir, tmp_path):
    whole, whole_log = _train(tiny_model_dir, tmp_path / "whole")
    with pytest.raises(Crash):
        _train(tiny_model_dir, tmp_path / "stopped", crash_after=5)  # after step 5; checkpoint of step 4 kept
    assert (tmp_path / "stopped" / CHECKPOINT / "state.pt").is_file()
    resumed, log = _train(tiny_model_dir, tmp_path / "stopped")
    assert log["resumed_from_step"] == 4 and whole_log["resumed_from_step"] == 0
    assert log["step_log"] == whole_log["step_log"] and len(log["step_log"]) == 10
    expected, got = trainable_state(whole), trainable_state(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_every_step_reaches_tensorboard_mlflow_and_wandb_offline(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    trackers = Trackers(["tensorboard", "mlflow", "wandb"], tmp_path / "out", "student-test", {"lr": 0.01},
                        run_dir=tmp_path)
    _, log = _train(tiny_model_dir, None, on_step=trackers.log)
    trackers.close()
    losses = [e["loss"] for e in log["step_log"]]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "out" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 11))
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(losses, rel=1e-6)

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())  # the file store it chose
    run = client.get_run(trackers.trackers[1].run_id)
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(losses, rel=1e-6)
    assert run.data.params["lr"] == "0.01" and run.info.status == "FINISHED"

    offline = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline) == 1 and offline[0].stat().st_size > 0


def test_gradient_checkpointing_recomputes_the_same_numbers(tiny_model_dir):
    runs = []
    for recompute in (False, True):
        tok, model = load_causal_lm(str(tiny_model_dir))
        config = CONFIG.model_copy(update={"checkpoint_every": 0, "gradient_checkpointing": recompute, "epochs": 1})
        trained, log = fine_tune(model, tok, ROWS, config, seed=5, merge=False)
        runs.append((trainable_state(trained), [e["loss"] for e in log["step_log"]]))
    (plain, plain_losses), (recomputed, recomputed_losses) = runs
    assert recomputed_losses == pytest.approx(plain_losses, rel=1e-6, abs=1e-7)
    assert all(torch.allclose(plain[k], recomputed[k], rtol=1e-5, atol=1e-7) for k in plain)


def test_a_bf16_base_trains_fp32_adapters(tiny_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir), dtype=torch.bfloat16)
    config = CONFIG.model_copy(update={"checkpoint_every": 0, "epochs": 0.2, "base_dtype": "bfloat16"})
    trained, log = fine_tune(model, tok, ROWS, config, seed=5, merge=False)
    dtypes = {p.dtype for n, p in trained.named_parameters() if p.requires_grad}
    frozen = {p.dtype for n, p in trained.named_parameters() if not p.requires_grad}
    assert dtypes == {torch.float32} and frozen == {torch.bfloat16}
    assert all(e["loss"] == e["loss"] for e in log["step_log"])  # finite losses
