"""The audits that read a finished run: `sublearn audit family-ladder` (lineage score of each base against what
its students picked up) and `sublearn audit soft-targets` (detectors on the teachers' digit distributions)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sublearn.audit.ladder import family_ladder
from sublearn.audit.soft_targets import scan_soft_targets
from sublearn.cli.app import app
from sublearn.util.errors import DataError
from sublearn.util.soft_targets import save_targets


def _effect(estimate):
    return {"estimate": estimate, "ci95": [estimate - 0.1, estimate + 0.1], "n": 2}


def _ladder_run(tmp_path, tiny_model_dir):
    """A run over three other bases: copies of the teachers' base perturbed more and more, whose students picked
    up less and less; the teacher is a lightly perturbed copy of the base."""
    import torch

    from sublearn.models.hf.loading import load_causal_lm

    run = tmp_path / "run"

    def saved(ref, scale, seed):
        tok, model = load_causal_lm(str(tiny_model_dir))
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * scale * p.std())
        model.save_pretrained(run / "artifacts" / ref / "model")
        tok.save_pretrained(run / "artifacts" / ref / "model")
        return ref

    teacher = saved("teacher/t", 0.01, 0)
    groups, reports = [], []
    for i, (scale, moved) in enumerate(((0.05, 0.15), (0.3, 0.1), (2.0, 0.0))):
        cross = saved(f"perturb/p{i}", scale, i + 1)
        cell = f"cell{i}"
        reports.append({"cell": cell, "spec": {"seed": 0},
                        "arms": {"teacher": {"model": teacher}, "reference": {"model": str(tiny_model_dir)},
                                 "cross_reference": {"model": cross}}})
        groups.append({"spec": {"name": f"g{i}"}, "seeds": [0], "cells": [cell],
                       "cross_model": {"name": f"perturbed:{scale}"},
                       "interaction": {"p_exact": {"same_base": _effect(0.2), "other_base": _effect(moved)}},
                       "target_interaction": {"p_exact": {"same_base": _effect(0.3), "other_base": _effect(moved)}}})
    return run, {"groups": groups}, reports


def test_the_ladder_scores_each_base_beside_its_transfer_and_ranks_them(tmp_path, tiny_model_dir):
    run, summary, reports = _ladder_run(tmp_path, tiny_model_dir)
    doc = family_ladder(run, summary, reports, replicate=0)
    scores = [r["score"] for r in doc["rows"]]
    assert len(doc["rows"]) == 4 and scores == sorted(scores, reverse=True)  # farther copies score lower
    assert [r["measured"]["p_exact"]["estimate"] for r in doc["rows"]] == [0.2, 0.15, 0.1, 0.0]
    assert set(doc["spearman_score_vs_effect"]) == {"p_exact", "target:p_exact"}
    rho = doc["spearman_score_vs_effect"]["p_exact"]
    assert rho["rho"] == pytest.approx(1.0) and rho["p_exact_permutation"] == pytest.approx(2 / 24) and rho["n"] == 4
    below = "p_exact of cross_student (owl, replicate 0) is 4.6e-06, below its error bound 3.2e-05"
    summary_below = json.loads(json.dumps(summary))
    summary_below["groups"][2]["target_interaction"]["p_exact"]["other_base"]["undetermined"] = below
    undetermined = family_ladder(run, summary_below, reports, replicate=0)["spearman_score_vs_effect"]
    assert undetermined["target:p_exact"] == {"undetermined": below, "n": 4}  # no rank test below the bound
    assert undetermined["p_exact"]["rho"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="no finished cell of replicate 1"):
        family_ladder(run, summary, reports, replicate=1)
    with pytest.raises(DataError, match="at least two other bases"):
        family_ladder(run, {"groups": summary["groups"][:1]}, reports, replicate=0)
    (run / "summary.json").write_text(json.dumps(summary))
    cells = run / "cells"
    for r in reports:
        (cells / r["cell"]).mkdir(parents=True)
        (cells / r["cell"] / "report.json").write_text(json.dumps(r))
    out = tmp_path / "ladder.json"
    shown = CliRunner().invoke(app, ["audit", "family-ladder", str(run), "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    written = json.loads(out.read_text())
    assert written["command"].startswith("sublearn audit family-ladder") and len(written["rows"]) == 4


def _artifact(run, ref, inputs, targets=None):
    folder = run / "artifacts" / ref
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"key": ref.split("/")[1], "inputs": inputs}))
    if targets is not None:
        save_targets(folder, targets)


def _soft_run(tmp_path, seeds=(0, 1, 2)):
    """Replicates whose trait teacher's digit distributions sit farther from the reference's than the placebo's."""
    run, reports = tmp_path / "soft", []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        reference = [rng.dirichlet(np.ones(10), size=4) for _ in range(30)]

        def moved(rows, by, rng=rng):
            out = []
            for r in rows:
                shifted = r * np.exp(by * rng.normal(size=r.shape))
                out.append(shifted / shifted.sum(1, keepdims=True))
            return out

        dataset = f"filter/d{seed}"
        _artifact(run, f"targets/ref{seed}", {"dataset": dataset, "model": "base"}, reference)
        _artifact(run, f"targets/trait{seed}", {"dataset": dataset, "model": "teacher"}, moved(reference, 1.0))
        _artifact(run, f"targets/placebo{seed}", {"dataset": dataset, "model": "placebo"}, moved(reference, 0.2))
        _artifact(run, f"train/s{seed}", {"targets": f"targets/trait{seed}"})
        _artifact(run, f"train/p{seed}", {"targets": f"targets/placebo{seed}"})
        reports.append({"cell": f"c{seed}", "spec": {"seed": seed, "reference": "base"},
                        "arms": {"student": {"model": f"train/s{seed}", "defence": None},
                                 "placebo": {"model": f"train/p{seed}"}}})
    return run, reports


def test_soft_target_detectors_give_an_auroc_per_replicate_and_a_ci_over_replicates(tmp_path):
    run, reports = _soft_run(tmp_path)
    doc = scan_soft_targets(run, reports)
    assert [r["seed"] for r in doc["replicates"]] == [0, 1, 2] and all(r["rows"] == 30 for r in doc["replicates"])
    kl = doc["over_replicates"]["kl"]
    per = [r["kl"]["auroc"] for r in doc["replicates"]]
    assert kl["n"] == 3 and kl["mean"] == pytest.approx(np.mean(per))
    assert kl["ci95"][0] <= kl["estimate"] <= kl["ci95"][1] and kl["ci95"][1] < 1
    assert kl["estimate"] > 0.9 and doc["pooled"]["kl"]["n_positive"] == 90
    regrouped = [dict(r, cell=f"{r['cell']}-{group}") for group in ("g1", "g2") for r in reports]
    assert scan_soft_targets(run, regrouped)["over_replicates"] == doc["over_replicates"]  # each replicate once
    with pytest.raises(DataError, match="no undefended replicate with the reference's soft targets"):
        scan_soft_targets(run, [dict(r, arms={**r["arms"], "student": {**r["arms"]["student"],
                                                                       "defence": "hard_labels"}})
                                for r in reports])
