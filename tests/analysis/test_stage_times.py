"""`sublearn times`: a run's seconds summed by stage and base model from its manifests, the group walls from its
summary, and a clear error for a folder that is not a run."""

import json

import pytest
from typer.testing import CliRunner

from sublearn.analysis.stage_times import stage_times
from sublearn.cli.app import app
from sublearn.util.errors import DataError


def _artifact(run, ref, manifest):
    folder = run / "artifacts" / ref
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_seconds_are_summed_by_stage_and_the_base_an_evaluation_worked_on(tmp_path):
    _artifact(tmp_path, "train/a", {"stage": "train", "base": "smol", "seconds": 10.0})
    _artifact(tmp_path, "train/b", {"stage": "train", "base": "smol", "seconds": 30.0})
    _artifact(tmp_path, "evaluate/c", {"stage": "evaluate", "inputs": {"model": "train/a"}, "seconds": 5.0})
    _artifact(tmp_path, "evaluate/d", {"stage": "evaluate", "inputs": {"model": "smol"}, "seconds": 7.0})
    _artifact(tmp_path, "filter/e", {"stage": "filter", "seconds": 1.0})
    (tmp_path / "summary.json").write_text(json.dumps({"groups": [{"spec": {}, "seeds": [0], "cells": ["c"],
                                                                   "wall_seconds": 60.0}]}))
    doc = stage_times(tmp_path)
    assert [(r["stage"], r["base"], r["n"], r["total_s"]) for r in doc["rows"]] == [
        ("train", "smol", 2, 40.0), ("evaluate", "smol", 2, 12.0), ("filter", "-", 1, 1.0)]
    assert doc["artifacts"] == 5 and doc["total_s"] == 53.0 and doc["group_wall_s"] == [60.0]
    shown = CliRunner().invoke(app, ["times", str(tmp_path), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["total_s"] == 53.0


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(DataError, match=r"no artifacts/.*is it a run folder"):
        stage_times(tmp_path)
    _artifact(tmp_path, "train/a", {"stage": "train"})
    (tmp_path / "artifacts" / "train" / "a" / "manifest.json").write_text("{broken")
    with pytest.raises(DataError, match=r"train/a/manifest\.json: not a readable manifest"):
        stage_times(tmp_path)
