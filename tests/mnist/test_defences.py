"""MNIST defences: each transform does what its name says, an untransformed target trains exactly like the
undefended student, and `sublearn defend mnist` measures every defence with its CI and cost."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sublearn.cli.app import app
from sublearn.mnist.config import MnistConfig
from sublearn.mnist.data import load_digits_8x8
from sublearn.mnist.defences import (
    MNIST_DEFENCES,
    Defence,
    by_name,
    defended_targets,
    weighted_soft_cross_entropy,
)
from sublearn.mnist.defend import UNDEFENDED, run_defences
from sublearn.mnist.ensemble import distillation_kl
from sublearn.mnist.records import read_mnist_defence_table, table_dict

LOGITS = torch.tensor([[[2.0, 0.5, -1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.9], [-2.0, 0.0, 2.0]]])  # (1, 4, 3)


def test_hard_labels_are_the_one_hot_argmax():
    probs, weights = defended_targets(by_name("hard_labels"), LOGITS)
    assert probs.tolist() == [[[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]] and weights.eq(1).all()


def test_temperature_sharpens_or_flattens_and_top_k_zeroes_the_rest():
    sharp, _ = defended_targets(by_name("temperature_0.25"), LOGITS)
    flat, _ = defended_targets(by_name("temperature_4"), LOGITS)
    plain = LOGITS.softmax(-1)
    assert (sharp.max(-1).values > plain.max(-1).values).all() and (flat.max(-1).values < plain.max(-1).values).all()
    top, _ = defended_targets(by_name("top_2"), LOGITS)
    assert (top == 0).sum(-1).eq(1).all() and torch.allclose(top.sum(-1), torch.ones(1, 4))
    assert top[0, 0, 2] == 0 and top[0, 3, 0] == 0  # the least likely output of each row is the one removed


def test_output_noise_needs_and_uses_its_noise():
    with pytest.raises(ValueError, match="noise"):
        defended_targets(by_name("output_noise_1"), LOGITS)
    noise = torch.ones_like(LOGITS) * torch.tensor([0.0, 0.0, 5.0])
    probs, _ = defended_targets(by_name("output_noise_1"), LOGITS, noise=noise)
    assert (probs.argmax(-1) == 2).all()


def test_drop_divergent_drops_the_inputs_where_teacher_and_reference_differ_most():
    reference = LOGITS.clone()
    reference[0, 1] = torch.tensor([3.0, 0.0, 1.0])  # disagrees with the teacher on rows 1 and 3
    reference[0, 3] = torch.tensor([2.0, 0.0, -2.0])
    probs, weights = defended_targets(by_name("drop_divergent_50"), LOGITS, reference)
    assert weights.tolist() == [[1.0, 0.0, 1.0, 0.0]] and torch.allclose(probs, LOGITS.softmax(-1))
    assert by_name("drop_divergent_50").data_kept == 0.5 and by_name("hard_labels").data_kept == 1.0


def test_untransformed_targets_train_exactly_like_the_undefended_kl():
    student = torch.randn(2, 5, 3, requires_grad=True)
    teacher = torch.randn(2, 5, 3)
    distillation_kl(student, teacher).backward()
    kl_grad = student.grad.clone()
    student.grad = None
    probs, weights = defended_targets(Defence("x", "different_init", None, ""), teacher)
    weighted_soft_cross_entropy(student, probs, weights).backward()
    assert torch.allclose(student.grad, kl_grad, atol=1e-7)


def test_every_defence_has_a_unique_name_and_an_unknown_name_is_refused():
    names = [d.name for d in MNIST_DEFENCES]
    assert len(set(names)) == len(names) and "different_init" in names
    with pytest.raises(KeyError):
        by_name("nope")


@pytest.fixture(scope="module")
def digits():
    return load_digits_8x8()


@pytest.mark.slow  # trains networks end to end
def test_the_defence_table_reports_each_defence_against_the_undefended_students(digits):
    cfg = MnistConfig(dataset="digits", n_models=3, teacher_epochs=2, student_epochs=1, seed=3, device="cpu")
    doc = run_defences(cfg, data=digits)
    again = run_defences(cfg, data=digits)
    assert doc.accuracies == again.accuracies  # same seed, same result
    assert [r.name for r in doc.defences] == [d.name for d in MNIST_DEFENCES]
    acc = doc.accuracies
    base = [s - r for s, r in zip(acc[UNDEFENDED], acc["reference"], strict=True)]
    assert doc.baseline.per_model == pytest.approx(base) and doc.baseline.n == 3
    for row in doc.defences:
        effect = [s - r for s, r in zip(acc[row.name], acc["reference"], strict=True)]
        assert row.remaining_fraction == pytest.approx(sum(effect) / sum(base))
        lo, hi = row.ci95
        assert lo is None or lo <= hi
        assert 0 <= row.aux_agreement.mean <= 1 and row.aux_kl.mean >= 0
    assert acc["different_init"] != acc[UNDEFENDED]  # another init, another student
    json.dumps(table_dict(doc))


@pytest.mark.slow  # trains networks end to end
def test_defend_mnist_command_writes_results_and_chart(tmp_path):
    out = tmp_path / "d"
    result = CliRunner().invoke(app, ["defend", "mnist", "--dataset", "digits", "-n", "2", "--student-epochs", "1",
                                      "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert {"version", "baseline", "defences"} <= doc.keys() and (out / "defences.png").stat().st_size > 0
    assert read_mnist_defence_table(out / "results.json").defences[0].name == doc["defences"][0]["name"]
    assert "Defences on digits" in result.output


def test_defend_mnist_refuses_one_model_before_any_work(tmp_path):
    result = CliRunner().invoke(app, ["defend", "mnist", "-n", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "n-models" in result.output


@pytest.mark.slow  # trains networks end to end
def test_undefended_and_different_init_students_are_the_experiments_own(digits):
    """Training the defences beside them changes nothing: the undefended and different-init students equal
    `sublearn mnist`'s student_aux and cross_aux, model by model."""
    from sublearn.mnist.experiment import run_mnist

    cfg = MnistConfig(dataset="digits", n_models=3, teacher_epochs=2, student_epochs=1, seed=4, device="cpu",
                      arms=["reference", "teacher", "student_aux", "cross_aux"])
    plain = run_mnist(cfg, data=digits).accuracies
    defended = run_defences(cfg, data=digits).accuracies
    assert defended[UNDEFENDED] == plain["student_aux"] and defended["different_init"] == plain["cross_aux"]
    assert defended["reference"] == plain["reference"] and defended["teacher"] == plain["teacher"]


def test_the_committed_table_reads_as_the_typed_record_and_writes_back_unchanged():
    """The committed results (written before tables had versions) read as the current version, and the record
    writes the same JSON back, with its version added."""
    path = Path(__file__).resolve().parents[2] / "docs" / "results" / "mnist-defences-cpu.json"
    committed = json.loads(path.read_text())
    table = read_mnist_defence_table(path)
    assert table.defences and table.baseline.n == len(table.baseline.per_model)
    assert table_dict(table) == {"version": 1, **committed}


def test_a_table_of_the_wrong_shape_is_one_error_naming_the_file_and_field(tmp_path):
    from sublearn.util.errors import DataError

    doc = json.loads((Path(__file__).resolve().parents[2] / "docs" / "results" / "mnist-defences-cpu.json")
                     .read_text())
    doc["baseline"]["effect"] = "high"
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"results.json: baseline.effect"):
        read_mnist_defence_table(bad)
