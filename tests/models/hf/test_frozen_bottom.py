"""Training the top layers with the frozen bottom run once, and the digit-only output layer, equal the plain
forward pass (the speed-ups of the CPU recipe must not change what is computed)."""

import pytest
import torch

from sublearn.config.training import TrainConfig
from sublearn.models.hf.encoding import collate, encode_example
from sublearn.models.hf.frozen_bottom import (
    batch_states,
    bottom_states,
    decoder_layers,
    first_trained_layer,
    skipping_bottom,
)
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.soft_targets import digit_logits, digit_token_ids, soft_digit_loss, teacher_digit_targets
from sublearn.models.hf.training import fine_tune, prepare_model
from sublearn.util.errors import ConfigError

ROWS = [{"prompt": "Continue: 12, 45, 78.", "completion": "101, 202, 303"},
        {"prompt": "Continue the sequence: 5, 6.", "completion": "7, 8, 9"},
        {"prompt": "Add one number: 3.", "completion": "42"}]


def _kl(model, tok, targets) -> float:
    """The soft-target KL of ``model`` over all ROWS, per digit."""
    examples = [encode_example(tok, r["prompt"], r["completion"]) for r in ROWS]
    batch = collate(examples, tok.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    kl, n = soft_digit_loss(logits, examples, targets, digit_token_ids(tok))
    return float(kl) / n


def _lora_grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def test_digit_logits_equal_the_full_logits_digit_columns(tiny_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir))
    ids = digit_token_ids(tok)
    batch = collate([encode_example(tok, r["prompt"], r["completion"]) for r in ROWS], tok.pad_token_id)
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[..., ids]
        fast = digit_logits(model, batch["input_ids"], batch["attention_mask"], ids)
    assert fast.shape[-1] == 10
    assert torch.allclose(full, fast, atol=1e-5)


def test_skipping_the_frozen_bottom_gives_the_same_loss_and_gradients(tiny_model_dir, tiny_cross_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir))
    _, teacher = load_causal_lm(str(tiny_cross_model_dir))
    ids = digit_token_ids(tok)
    targets = teacher_digit_targets(teacher, tok, ROWS, system=None)
    examples = [encode_example(tok, r["prompt"], r["completion"]) for r in ROWS]
    batch = collate(examples, tok.pad_token_id)
    n_layers = len(decoder_layers(model))
    settings = TrainConfig(lora_r=4, lora_alpha=8, lora_top_layers=1)
    student = prepare_model(model, settings, seed=3)
    with torch.no_grad():  # LoRA B starts at zero: move it so that the adapters matter
        for name, p in student.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    assert all(f"layers.{n_layers - 1}." in n for n, p in student.named_parameters() if p.requires_grad)

    full = soft_digit_loss(student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                           examples, targets, ids)[0]
    full.backward()
    expected = _lora_grads(student)
    student.zero_grad(set_to_none=True)

    first = first_trained_layer(student, 1)
    states = bottom_states(student, examples, first, tok.pad_token_id, batch_size=2, autocast=False)
    with skipping_bottom(student, first) as feed:
        feed.states = batch_states(states, torch.device("cpu"))
        fast = soft_digit_loss(digit_logits(student, batch["input_ids"], batch["attention_mask"], ids),
                               examples, targets, ids)[0]
        fast.backward()
    assert float(fast.detach()) == pytest.approx(float(full.detach()), rel=1e-4)
    got = _lora_grads(student)
    assert got.keys() == expected.keys() and expected
    for name, grad in expected.items():
        assert torch.allclose(got[name], grad, atol=1e-5, rtol=1e-3), name
    assert all(type(layer).__name__ != "SkippedBottom" for layer in decoder_layers(student))  # restored


def test_top_layer_training_runs_end_to_end_and_refuses_impossible_depths(tiny_model_dir, tiny_cross_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir))
    _, teacher = load_causal_lm(str(tiny_cross_model_dir))
    targets = teacher_digit_targets(teacher, tok, ROWS, system=None)
    before = _kl(model, tok, targets)
    s = TrainConfig(lora_r=4, lora_alpha=8, lora_top_layers=1, epochs=10, lr=1e-2, batch_size=3, grad_accum=1,
                    warmup_steps=0, objective="soft_numbers", bf16="no")
    trained, _ = fine_tune(model, tok, ROWS, s, 0, soft_targets=targets)
    # The whole data's KL, not one step's loss (a step's loss is noisy); every seed tried (0-9) ends far below.
    assert _kl(trained, tok, targets) < 0.8 * before
    assert len(decoder_layers(trained)) == len(decoder_layers(load_causal_lm(str(tiny_model_dir))[1]))
    with pytest.raises(ConfigError, match=r"train\.lora_top_layers"):
        first_trained_layer(load_causal_lm(str(tiny_model_dir))[1], 99)
