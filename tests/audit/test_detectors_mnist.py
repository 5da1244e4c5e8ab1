"""Detectors scored on the MNIST analogue: the placebo teacher differs from the trait teacher by its labels alone,
each detector's AUROCs are what its scores give, and the command writes its table."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sublearn.audit.detectors_mnist import DATASET_DETECTORS, placebo_labels
from sublearn.cli.app import app
from sublearn.mnist.data import load_digits_8x8
from sublearn.util.stats import auroc


def test_the_placebo_keeps_the_images_and_label_counts_and_loses_the_digits():
    data = load_digits_8x8()
    placebo = placebo_labels(data, 0)
    assert torch.equal(placebo.x_train, data.x_train) and torch.equal(placebo.x_test, data.x_test)
    assert torch.equal(placebo.y_train.bincount(), data.y_train.bincount())
    assert (placebo.y_train == data.y_train).float().mean() < 0.2  # about 1 in 10 by chance
    assert torch.equal(placebo_labels(data, 0).y_train, placebo.y_train)


@pytest.mark.slow  # trains networks end to end
def test_detector_aurocs_follow_from_their_scores_and_the_trait_transfers_where_the_placebo_does_not(tmp_path):
    out = tmp_path / "d"
    result = CliRunner().invoke(app, ["defend", "detectors", "--dataset", "digits", "-n", "3", "--seed", "1",
                                      "--device", "cpu", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "Detectors on digits" in result.output
    doc = json.loads((out / "results.json").read_text())
    acc = doc["accuracies"]
    assert min(acc["trait_teacher"]) > 0.8 and max(acc["placebo_teacher"]) < 0.3  # labels learnt, or none
    assert [r["detector"] for r in doc["detectors"]] == list(DATASET_DETECTORS)
    assert doc["transfer"]["trait"]["per_model"] == pytest.approx(
        list(np.array(acc["trait_student"]) - np.array(acc["reference"])))
    for row in doc["detectors"]:
        whole = row["dataset_level"]
        assert whole["n_positive"] == whole["n_negative"] == 3 and 0 <= whole["auroc"] <= 1
        assert whole["ci95"][0] <= whole["auroc"] <= whole["ci95"][1]
        assert whole["auroc"] == auroc(whole["per_dataset_trait"], whole["per_dataset_placebo"])
        if "example_level" in row:
            per_model = row["example_level"]["per_model"]
            assert len(per_model) == 3 and all(0 <= a <= 1 for a in per_model)
            level = row["example_level"]
            assert level["mean"] == pytest.approx(np.mean(per_model)) and level["n"] == 3
            assert level["ci95"][0] <= level["estimate"] <= level["ci95"][1]
    assert auroc([2, 3], [1, 1]) == 1.0 and auroc([1], [1]) == 0.5
