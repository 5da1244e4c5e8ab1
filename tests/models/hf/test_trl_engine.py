"""``train.engine: trl``: TRL's SFTTrainer trains the same model as the own loop (same losses, learning rates,
gradient norms and weights, step by step), resumes from its checkpoints, and refuses what only the own loop does."""

import pytest
import torch

from sublearn.backends.base import BackendOptions
from sublearn.backends.hf import HFBackend
from sublearn.config.training import TrainConfig
from sublearn.models.hf.checkpoint import trainable_state
from sublearn.models.hf.engines import fine_tune_with_engine
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.trl_engine import TRL_CHECKPOINTS, sample_order
from sublearn.util.jsonl import read_jsonl

pytest.importorskip("trl")

# 12 rows of unequal length, batch 2 × accumulation 2: whole steps, padding, a token mean over micro-batches
ROWS = [{"prompt": f"Continue: {i}, {i + 1}.", "completion": ", ".join(str(i + k) for k in range(2, 3 + i % 4))}
        for i in range(12)]
ROWS[0]["masked_tokens"] = ROWS[5]["masked_tokens"] = [0, 2]  # a defence's masked digits stay out of both losses
SETTINGS = dict(lora_r=4, lora_alpha=8, epochs=2, lr=2e-2, batch_size=2, grad_accum=2, warmup_steps=2,
                target_modules=["q_proj", "v_proj"], max_grad_norm=0.5, bf16="no")  # fp32: the same on every CPU


def _train(model_dir, engine, **extra):
    tok, model = load_causal_lm(str(model_dir))
    config = TrainConfig(engine=engine, **{**SETTINGS, **extra.pop("settings", {})})
    return fine_tune_with_engine(model, tok, ROWS, config, seed=5, order_seed=6, merge=False, **extra)


@pytest.mark.parametrize(("method", "lr"), [("lora", 2e-2), ("full", 1e-3)])
def test_both_engines_give_the_same_losses_and_weights(tiny_model_dir, method, lr):
    own, own_log = _train(tiny_model_dir, "own", settings={"method": method, "lr": lr})
    trl, trl_log = _train(tiny_model_dir, "trl", settings={"method": method, "lr": lr})
    assert trl_log["steps"] == own_log["steps"] == 6 and len(trl_log["step_log"]) == 6
    for ours, theirs in zip(own_log["step_log"], trl_log["step_log"], strict=True):
        assert theirs["step"] == ours["step"] and theirs["tokens"] == ours["tokens"]
        assert theirs["loss"] == pytest.approx(ours["loss"], rel=1e-4)
        assert theirs["lr"] == pytest.approx(ours["lr"], rel=1e-9)
        assert theirs["grad_norm"] == pytest.approx(ours["grad_norm"], rel=1e-3)
    assert own_log["losses"][-1] < own_log["losses"][0]  # it learnt: the comparison is not between two no-ops
    expected, got = trainable_state(own), trainable_state(trl)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-3, atol=1e-5)


def test_the_order_is_the_own_loops_epochs_end_to_end():
    order, steps = sample_order(12, TrainConfig(**SETTINGS), order_seed=6)
    assert steps == 6 and len(order) == 24
    assert sorted(order[:12]) == sorted(order[12:]) == list(range(12)) and order[:12] != order[12:]


def test_a_stopped_trl_run_resumes_from_its_checkpoint(tiny_model_dir, tmp_path):
    class Crash(Exception):
        pass

    seen = []

    def crash_after_four(_, total):  # in step 5: the checkpoint of step 4 is kept
        if total is None:
            seen.append(1)
            if len(seen) == 5:
                raise Crash

    whole, whole_log = _train(tiny_model_dir, "trl")
    with pytest.raises(Crash):
        _train(tiny_model_dir, "trl", settings={"checkpoint_every": 2}, checkpoint_dir=tmp_path,
               progress=crash_after_four)
    assert (tmp_path / TRL_CHECKPOINTS / "checkpoint-4").is_dir()
    resumed, log = _train(tiny_model_dir, "trl", settings={"checkpoint_every": 2}, checkpoint_dir=tmp_path)
    assert log["resumed_from_step"] == 4
    assert [e["step"] for e in log["step_log"]] == list(range(1, 7))
    assert [e["loss"] for e in log["step_log"]] == pytest.approx(whole_log["losses"], rel=1e-4)
    expected, got = trainable_state(whole), trainable_state(resumed)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-3, atol=1e-5)


def test_a_student_stage_saves_the_adapter_and_step_log_with_either_engine(tiny_model_dir, tmp_path):
    backend = HFBackend(BackendOptions(device="cpu", inference_dtype="float32"))
    logs = {}
    for engine in ("own", "trl"):
        config = TrainConfig(engine=engine, **{**SETTINGS, "epochs": 1})
        out = tmp_path / engine
        result = backend.train(str(tiny_model_dir), ROWS, config, seed=5, out=out, work=tmp_path / "work" / engine)
        assert result["steps"] == 3 and (out / "model" / "adapter_config.json").is_file()
        logs[engine] = read_jsonl(out / "train_log.jsonl")
    assert [e["tokens"] for e in logs["trl"]] == [e["tokens"] for e in logs["own"]]
    assert [e["loss"] for e in logs["trl"]] == pytest.approx([e["loss"] for e in logs["own"]], rel=1e-4)


@pytest.mark.parametrize(("extra", "named"), [({"objective": "soft_numbers"}, "objective soft_numbers"),
                                              ({"lora_top_layers": 1}, "lora_top_layers")])
def test_what_only_the_own_loop_does_is_refused_by_name(extra, named):
    with pytest.raises(ValueError, match=f"engine trl: {named}"):
        TrainConfig(engine="trl", **extra)
