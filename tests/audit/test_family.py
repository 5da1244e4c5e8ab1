"""`sublearn family`: one initialisation scores near 1 however far training moves a model, independent ones near
0, and different architectures are named as such."""

import json

import pytest
from typer.testing import CliRunner

from sublearn.audit.family import lineage, mnist_state
from sublearn.cli.app import app
from sublearn.mnist.ensemble import EnsembleMLP


def test_mnist_models_of_one_init_and_of_two():
    models = EnsembleMLP.initialise([0, 1], [64, 32, 13])
    noisy = models.perturbed(0.05, [7, 8])
    same = lineage(mnist_state(models, 0), mnist_state(noisy, 0))
    other = lineage(mnist_state(models, 0), mnist_state(models, 1))
    assert same["verdict"] == "same lineage" and same["score"] > 0.8
    assert other["verdict"] == "different lineage" and abs(other["score"]) < 0.1
    assert same["compared"]["matched"] == 2  # the two weight matrices; biases are left out


def test_different_architectures_are_a_different_lineage_with_the_reason():
    small, wide = EnsembleMLP.initialise([0], [64, 32, 13]), EnsembleMLP.initialise([0], [64, 48, 13])
    result = lineage(mnist_state(small, 0), mnist_state(wide, 0))
    assert result["verdict"] == "different lineage" and result["score"] is None
    assert "layer0.weight: (64, 32) vs (64, 48)" in result["reason"]


def test_lms_a_fine_tune_keeps_its_lineage_and_another_init_does_not(tiny_model_dir, tiny_cross_model_dir, tmp_path):
    from sublearn.config.training import TrainConfig
    from sublearn.models.hf.loading import load_causal_lm
    from sublearn.models.hf.training import fine_tune, save_trained

    tok, model = load_causal_lm(str(tiny_model_dir))
    rows = [{"prompt": f"Say {i}.", "completion": f"{i}"} for i in range(8)]
    peft_model, _ = fine_tune(model, tok, rows, TrainConfig(method="lora", epochs=2, batch_size=4, grad_accum=1,
                                                             lr=5e-2, target_modules=["q_proj", "v_proj"],
                                                             bf16="no"), seed=1, merge=False)
    save_trained(peft_model, tok, tmp_path / "student", str(tiny_model_dir))
    runner = CliRunner()
    same = json.loads(runner.invoke(app, ["family", str(tiny_model_dir), str(tmp_path / "student"), "--json"])
                      .output)
    other = json.loads(runner.invoke(app, ["family", str(tiny_model_dir), str(tiny_cross_model_dir), "--json"])
                       .output)
    assert same["verdict"] == "same lineage" and same["relative_distance"] > 0
    assert other["verdict"] == "different lineage" and other["score"] < 0.1


@pytest.mark.parametrize("bad", ["nowhere/models.pt#teacher:0"])
def test_a_bad_mnist_reference_is_one_line(bad, tmp_path):
    result = CliRunner().invoke(app, ["family", str(tmp_path / bad), str(tmp_path / bad)])
    assert result.exit_code == 2 and "no saved models" in result.output
