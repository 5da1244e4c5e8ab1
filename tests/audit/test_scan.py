"""`sublearn scan`: the detectors tell a teacher's data from another model's data for the same prompts, read
nothing into data scored by one model against itself, and their statistics are right on known cases."""

import json

import numpy as np
from typer.testing import CliRunner

from sublearn.audit.scan import auroc_ci, permutation_p, scan_dataset
from sublearn.cli.app import app
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_for_inference
from sublearn.models.hf.training import perturb_weights, save_model
from sublearn.models.openai.finetune import training_lines
from sublearn.models.types import SamplingSettings
from sublearn.report.export import trl_lines
from sublearn.util.stats import auroc

PROMPTS = [f"Continue the sequence: {i}, {i + 3}, {i + 6}" for i in range(48)]


def _written_by(model_dir, seed):
    tokenizer, model = load_for_inference(str(model_dir), "cpu", "float32")
    texts = generate_chat(model, tokenizer, PROMPTS, SamplingSettings(max_new_tokens=16), seed=seed)
    return [{"prompt": p, "completion": t} for p, t in zip(PROMPTS, texts, strict=True) if t]


def test_auroc_and_permutation_on_known_cases():
    assert auroc([2, 3, 4], [0, 1]) == 1.0 and auroc([0, 1], [2, 3]) == 0.0 and auroc([1, 1], [1, 1]) == 0.5
    assert auroc([1, 3], [2]) == 0.5
    assert permutation_p([1.0, 1.0, 1.0], [1.0, 1.0]) == 1.0
    assert permutation_p(np.arange(20) + 10.0, np.arange(20)) < 0.001
    ci = auroc_ci([2, 3, 4, 5], [0, 1, 2.5])
    assert ci["ci95"][0] <= ci["auroc"] <= ci["ci95"][1]


def test_a_teachers_own_data_has_the_higher_likelihood_shift(tiny_model_dir, tmp_path):
    tokenizer, model = load_for_inference(str(tiny_model_dir), "cpu", "float32")
    perturb_weights(model, 0.5, seed=7)  # a teacher a small step from the reference, as a fine-tune is
    teacher = save_model(model, tokenizer, tmp_path / "teacher")
    teacher_rows = _written_by(teacher, seed=5)
    reference_rows = _written_by(tiny_model_dir, seed=6)
    result = scan_dataset(teacher_rows, str(teacher), str(tiny_model_dir), control=reference_rows, audit=True)
    versus = result["versus_control"]
    # The gradient audit, folded in: the same cosine `sublearn audit lm` gives, for each dataset.
    from sublearn.audit.gradient_lm import audit_causal_lm

    for rows, part in ((teacher_rows, result), (reference_rows, result["control"])):
        alone = audit_causal_lm(str(tiny_model_dir), rows, teacher=str(teacher))
        assert part["gradient_audit"]["cosine"] == alone["cosine"] and -1 <= alone["cosine"] <= 1
    assert result["dataset"]["lls"]["mean"] > 0 > result["control"]["dataset"]["lls"]["mean"]  # KL(T||R), -KL(R||T)
    assert versus["auroc"]["lls"]["auroc"] > 0.6 and versus["p_permutation"] < 0.01  # 0.67-0.81 over teacher seeds
    assert 0 < result["dataset"]["divergence_share"]["mean"] <= 1

    # The same data as an auditor has it: sublearn's own TRL and OpenAI exports, scanned and audited as they are.
    control = tmp_path / "control.jsonl"
    control.write_text("".join(json.dumps(r) + "\n" for r in reference_rows))
    for fmt, text in (("trl", trl_lines(teacher_rows)), ("messages", training_lines(teacher_rows))):
        data = tmp_path / f"{fmt}.jsonl"
        data.write_text(text)
        out = CliRunner().invoke(app, ["scan", str(data), "--teacher", str(teacher), "--reference",
                                       str(tiny_model_dir), "--control", str(control), "--json"])
        assert out.exit_code == 0, out.output
        scanned = json.loads(out.output)
        assert scanned["read"] == {"data": {"file": str(data), "format": fmt, "n": len(teacher_rows)},
                                   "control": {"file": str(control), "format": "prompt/completion",
                                               "n": len(reference_rows)}}
        assert scanned["dataset"] == result["dataset"] and scanned["versus_control"]["lls_difference"] == \
            versus["lls_difference"]
        out = CliRunner().invoke(app, ["audit", "lm", "--reference", str(tiny_model_dir), "--data", str(data),
                                       "--teacher", str(teacher)])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["cosine"] == result["gradient_audit"]["cosine"]


def test_a_model_against_itself_shifts_nothing(tiny_model_dir, tmp_path):
    rows = _written_by(tiny_model_dir, seed=1)
    result = scan_dataset(rows, str(tiny_model_dir), str(tiny_model_dir))
    assert all(e["lls"] == 0 and e["divergence_share"] == 0 for e in result["examples"])
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = CliRunner().invoke(app, ["scan", str(data), "--teacher", str(tiny_model_dir), "--reference",
                                   str(tiny_model_dir), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["dataset"]["lls"]["mean"] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    refused = CliRunner().invoke(app, ["scan", str(bad), "--teacher", "a", "--reference", "b"])
    assert refused.exit_code != 0 and "completion" in refused.output
