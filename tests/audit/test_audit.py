"""The gradient-alignment audit on the MNIST ensemble and on a tiny local LM."""

import json

import pytest
import torch
from typer.testing import CliRunner

from sublearn.audit.gradient_lm import audit_causal_lm
from sublearn.audit.validation import Setting, validate_audit
from sublearn.cli.app import app
from sublearn.mnist.config import MnistConfig
from sublearn.util.jsonl import write_jsonl

runner = CliRunner()


@pytest.mark.slow  # trains networks end to end
def test_audit_mnist_separates_same_from_cross_init(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["mnist", "--dataset", "digits", "-n", "6", "--device", "cpu", "-q",
                                 "--save-models", "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "models.pt").exists()
    result = runner.invoke(app, ["audit", "mnist", str(run), "--batch", "512"])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "audit.json").read_text())
    cos = {(r["student"], r["inputs"]): r["cosine"]["mean"] for r in doc["rows"]}
    assert cos[("same init", "noise")] > cos[("cross init", "noise")]
    assert cos[("same init", "noise")] > 0


def test_audit_mnist_without_saved_models_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["audit", "mnist", str(tmp_path)])
    assert result.exit_code == 2
    assert "no saved models" in result.output and "Traceback" not in result.output


@pytest.mark.slow  # trains networks end to end
def test_validation_reports_rows_and_spearman():
    base = MnistConfig(dataset="digits", n_models=3, teacher_epochs=2, student_epochs=2, device="cpu")
    doc = validate_audit(base, settings=(Setting("baseline"), Setting("m=1", {"m_aux": 1}),
                                         Setting("m=10", {"m_aux": 10}), Setting("cross", {}, "cross_aux")))
    assert [r["label"] for r in doc["rows"]] == ["baseline", "m=1", "m=10", "cross"]
    assert doc["left_out_of_correlations"] == ["m=1"]  # one logit: zero audit and zero transfer by construction
    assert -1 <= doc["spearman_cosine"]["rho"] <= 1 and doc["spearman_cosine"]["n"] == 3
    for row in doc["rows"]:
        assert row["transfer"]["n"] == 3 and "cosine" in row["audit"]


def _train_teacher(model_dir, rows, out_dir, steps=20, lr=0.05):
    from sublearn.models.hf.encoding import collate, completion_loss, encode_example
    from sublearn.models.hf.loading import load_causal_lm

    tok, model = load_causal_lm(str(model_dir))
    batch = collate([encode_example(tok, r["prompt"], r["completion"]) for r in rows], tok.pad_token_id)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        completion_loss(model, batch).backward()
        opt.step()
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def test_audit_lm_trait_data_against_itself_is_perfectly_aligned(tiny_model_dir, owl_trait_rows):
    out = audit_causal_lm(str(tiny_model_dir), owl_trait_rows[:16], trait_data=owl_trait_rows[:16])
    assert out["cosine"] == pytest.approx(1.0, abs=1e-6)
    assert out["predicted_trait_loss_change"] < 0
    assert out["n_parameters"] > 0 and all("q_proj" in n or "v_proj" in n for n in out["parameters"])


def test_audit_lm_with_teacher_weights_of_one_sgd_step_is_perfectly_aligned(tiny_model_dir, owl_trait_rows,
                                                                          tmp_path):
    """A teacher made by one plain SGD step on the candidate data differs from the reference by -lr x gradient,
    so the teacher-weights path must give a cosine of 1 on that same data."""
    rows = owl_trait_rows[:8]  # one batch, equal completion lengths
    teacher = _train_teacher(tiny_model_dir, rows, tmp_path / "teacher", steps=1, lr=1e-2)
    same = audit_causal_lm(str(tiny_model_dir), rows, teacher=str(teacher))
    assert same["teacher_step_source"] == "weights"
    assert same["cosine"] == pytest.approx(1.0, abs=1e-3)
    numbers = [{"prompt": "Continue: 101, 202, 303.", "completion": "404, 505, 606"}] * 4
    other = audit_causal_lm(str(tiny_model_dir), numbers, teacher=str(teacher), trait_data=rows)
    assert -1 <= other["cosine"] < 0.999 and "predicted_trait_loss_change" in other


def test_audit_lm_cli_and_errors(tiny_model_dir, owl_trait_rows, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", owl_trait_rows[:4])
    result = runner.invoke(app, ["audit", "lm", "--reference", str(tiny_model_dir), "--data", str(data),
                                 "--trait-data", str(data), "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a.json").read_text())["cosine"] == pytest.approx(1.0, abs=1e-6)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    result = runner.invoke(app, ["audit", "lm", "--reference", str(tiny_model_dir), "--data", str(bad),
                                 "--trait-data", str(data)])
    assert result.exit_code == 2 and "bad.jsonl:2: field 'completion' missing" in result.output
    result = runner.invoke(app, ["audit", "lm", "--reference", str(tiny_model_dir), "--data", str(data)])
    assert result.exit_code == 2 and "teacher:" in result.output
    result = runner.invoke(app, ["audit", "lm", "--reference", "no-such-model", "--data", str(data),
                                 "--trait-data", str(data)])
    assert result.exit_code == 2 and "model 'no-such-model'" in result.output
