"""Defences on soft digit targets: each transform does what it says, masked positions leave the loss, and a grid
over `defence` gives the defence table (effect remaining against no defence, paired by replicate)."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from factories import LIGHT_TRAIN
from sublearn.analysis.defences import lm_defence_table
from sublearn.analysis.records import RECORD_VERSION, DefenceTable, as_dict
from sublearn.cli._common import console
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.defences.apply import defend_targets
from sublearn.defences.ranking import most_divergent, position_kl
from sublearn.defences.registry import DEFENCES
from sublearn.pipeline.grid import run_grid
from sublearn.report.render import render_report
from sublearn.testing.fake_backend import FAKE_A, FakeBackend
from sublearn.util.errors import ConfigError, DataError
from sublearn.util.soft_targets import unpack_targets


def _rows(seed, n=6):
    lengths, rng = np.random.default_rng(0).integers(1, 6, size=n), np.random.default_rng(seed)
    return [rng.dirichlet(np.ones(10), size=k).astype(np.float32) for k in lengths]


def test_each_transform_does_what_it_says():
    teacher, reference = _rows(0), _rows(1)
    hard, stats = defend_targets(DEFENCES["hard_labels"].settings(), teacher, reference)
    assert all((h.argmax(1) == t.argmax(1)).all() and (h.sum(1) == 1).all() and (h.max(1) == 1).all()
               for h, t in zip(hard, teacher, strict=True))
    assert stats["kept_fraction"] == 1.0
    flat, _ = defend_targets(DEFENCES["temperature"].settings(temperature=1e6), teacher, None)
    assert all(np.allclose(f, 0.1, atol=1e-4) for f in flat)
    mixed, _ = defend_targets(DEFENCES["teacher_mix"].settings(mix=0.25), teacher, reference)
    assert all(np.allclose(m, 0.75 * t + 0.25 * r) for m, t, r in zip(mixed, teacher, reference,
                                                                                 strict=True))
    masks = most_divergent(teacher, reference, 0.3)
    total = sum(len(t) for t in teacher)
    assert sum(int(m.sum()) for m in masks) == round(0.3 * total)
    chosen = np.concatenate([position_kl(t, r)[m] for t, r, m in zip(teacher, reference, masks,
                                                                                strict=True)])
    others = np.concatenate([position_kl(t, r)[~m] for t, r, m in zip(teacher, reference, masks,
                                                                                 strict=True)])
    assert chosen.min() >= others.max()  # the most divergent positions, and only those
    masked, stats = defend_targets(DEFENCES["divergence_mask"].settings(fraction=0.3), teacher, reference)
    assert all((m[k].sum(1) == 0).all() and np.allclose(m[~k], t[~k]) for m, t, k in zip(masked, teacher, masks,
                                                                                            strict=True))
    assert stats["kept_fraction"] == pytest.approx(1 - round(0.3 * total) / total)
    replaced, _ = defend_targets(DEFENCES["divergence_replace"].settings(fraction=0.3), teacher, reference)
    assert all((r[k].max(1) == 1).all() and np.allclose(r[~k], t[~k]) for r, t, k in zip(replaced, teacher, masks,
                                                                                            strict=True))


def _doc(reference, defences):
    return {
        "name": "defended", "reference": str(reference), "device": "cpu",
        "trait": {"kind": "fine_tuned", "target": "owl", "questions": "half",
                  "teacher_training": {**LIGHT_TRAIN, "lr": 3e-3, "epochs": 0.25}},
        "carrier": {"kind": "random_numbers", "n_prompts": 12, "seed": 3, "filter": {"max_examples": 12}},
        "train": {**LIGHT_TRAIN, "batch_size": 4, "objective": "soft_numbers", "lora_top_layers": 1},
        "eval": {"animals": ["owl", "cat"], "questions": "held_out", "prefilled": False, "mcq_orderings": 0,
                 "samples_per_question": 0},
        "controls": {"placebo": True, "control_teacher": False},
        "defence": defences,
        "seeds": [0, 1],
    }


def test_a_grid_over_defences_gives_the_defence_table(tmp_path):
    cells = expand_grid(_doc(FAKE_A, [{"kind": "none"}, {"kind": "divergence_mask", "fraction": 0.5}]))
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == [], summary["failures"]
    defended = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "defend").glob("*/manifest.json")]
    assert [m["defence"] for m in defended] == ["divergence_mask 50%"] * 4  # student and placebo, per replicate
    for m in defended:
        teacher = unpack_targets(np.load(tmp_path / "artifacts" / m["inputs"]["targets"] / "targets.npz"))
        out = unpack_targets(np.load(tmp_path / "artifacts" / m["stage"] / m["key"] / "targets.npz"))
        zeroed = sum(int((o.sum(1) == 0).sum()) for o in out)
        assert "reference_targets" in m["inputs"] and m["kept_fraction"] == pytest.approx(0.5, abs=0.05)
        assert zeroed == m["digit_positions"] - round(m["kept_fraction"] * m["digit_positions"])
        assert all(np.allclose(o[o.sum(1) > 0], t[o.sum(1) > 0]) for o, t in zip(out, teacher, strict=True))
    logs = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "train").glob("*/manifest.json")]
    masked = [m for m in logs if m["inputs"]["targets"].startswith("defend/")]
    assert len(masked) == 4 and all(m["inputs"]["targets"] for m in logs)
    table = lm_defence_table(tmp_path)
    assert isinstance(table, DefenceTable) and table.version == RECORD_VERSION  # a typed, versioned record
    doc = as_dict(table)
    assert doc["baseline"]["n"] == 2 and [r["name"] for r in doc["defences"]] == ["divergence_mask 50%"]
    row = doc["defences"][0]
    assert row["n"] == 2 and len(row["ci95"]) == 2 and row["kept_fraction"] == pytest.approx(0.5, abs=0.05)
    # The report names, for each trained model, its lineage and the defence applied to its data.
    html = render_report(tmp_path).read_text()
    assert "divergence_mask 50%" in html and "initialisation</td>" in html


def test_a_defence_needs_soft_targets(tiny_model_dir):
    doc = _doc(tiny_model_dir, {"kind": "hard_labels"})
    doc["train"] = {**LIGHT_TRAIN}
    doc["carrier"] = {"kind": "numbers", "n_prompts": 8}
    with pytest.raises(ConfigError, match=r"defence\.kind hard_labels: transforms soft digit targets"):
        expand_grid(doc)


def _report(tmp_path, top_p, seed, student, placebo):
    spec = {"name": "x", "seed": seed, "carrier": {"kind": "numbers", "top_p": top_p}, "defence": {"kind": "none"}}
    metrics = {a: {"share_exact": {"mean": v}} for a, v in (("student", student), ("placebo", placebo),
                                                             ("teacher", 0.9), ("placebo_teacher", 0.1))}
    arms = {a: {"metrics": m, "model": f"train/{a}", "defence": None} for a, m in metrics.items()}
    folder = tmp_path / "cells" / f"{top_p}-{seed}"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"cell": folder.name, "spec": spec, "arms": arms}))


def test_any_one_setting_can_be_the_defence(tmp_path):
    effects = {1.0: [0.10, 0.20, 0.30], 0.5: [0.05, 0.05, 0.20]}  # threshold sampling at top_p 0.5
    for top_p, values in effects.items():
        for seed, effect in enumerate(values):
            _report(tmp_path, top_p, seed, 0.4 + effect, 0.4)
    doc = as_dict(lm_defence_table(tmp_path, by="carrier.top_p", baseline="1.0", readout="share_exact"))
    row = doc["defences"][0]
    assert doc["undefended"] == "carrier.top_p=1.0" and row["name"] == "carrier.top_p=0.5"
    assert row["remaining_fraction"] == pytest.approx(0.30 / 0.60) and row["n"] == 3
    assert doc["baseline"]["effect"] == pytest.approx(0.2) and doc["baseline"]["teacher_gap"] == pytest.approx(0.8)
    # each replicate's effects are kept, and the table gives the log-ratio scale beside the difference
    kept = {k: v for k, v in row["per_replicate"]["2"].items() if "target_shift" not in k}
    assert kept == pytest.approx({"effect": 0.20, "log_ratio": math.log(0.6 / 0.4), "undefended_effect": 0.30,
                                  "undefended_log_ratio": math.log(0.7 / 0.4)})
    assert row["target_specific"] is None  # no per-animal values: no target-specific scale
    logs = [math.log((0.4 + e) / 0.4) for e in effects[0.5]]
    assert row["log_ratio"]["effect"]["mean"] == pytest.approx(sum(logs) / 3)
    assert row["log_ratio"]["remaining_fraction"] == pytest.approx(
        sum(logs) / sum(math.log((0.4 + e) / 0.4) for e in effects[1.0]))
    with pytest.raises(Exception, match="no undefended cell"):
        lm_defence_table(tmp_path, by="carrier.top_p", baseline="0.9", readout="share_exact")


def _preference_report(tmp_path, defence, seed, student, placebo, bound=1e-6):
    """A cell whose arms carry P(animal) for the owl and two other animals, with the search's error bound."""
    spec = {"name": "x", "seed": seed, "trait": {"target": "owl"}, "defence": {"kind": defence}}

    def metrics(p):
        entry = {"mean": p["owl"], "per_animal": p, "max_pruned_mass_any_animal": bound}
        return {"p_exact": entry}

    teachers = {"teacher": {"owl": 0.5, "cat": 0.1, "wolf": 0.1}, "placebo_teacher": {"owl": 1e-3, "cat": 0.2,
                                                                                     "wolf": 0.2}}
    arms = {a: {"metrics": metrics(p), "model": f"train/{a}", "defence": None if defence == "none" else defence}
            for a, p in {"student": student, "placebo": placebo, **teachers}.items()}
    folder = tmp_path / "cells" / f"{defence}-{seed}"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"cell": folder.name, "spec": spec, "arms": arms}))


def test_the_defence_table_is_target_specific_holm_corrected_and_withholds_values_below_their_bound(tmp_path,
                                                                                                   monkeypatch):
    placebo = {"owl": 1e-3, "cat": 0.02, "wolf": 0.03}
    # Undefended: the owl rises 20-40% in the student; a style defence moves every animal up alike (no effect on
    # the owl against the others), a real one removes the owl's rise.
    for seed, rise in enumerate((1.2, 1.3, 1.4)):
        _preference_report(tmp_path, "none", seed, {"owl": 1e-3 * rise, "cat": 0.02, "wolf": 0.03}, placebo)
        _preference_report(tmp_path, "style", seed, {k: v * rise for k, v in placebo.items()}, placebo)
        _preference_report(tmp_path, "real", seed, {"owl": 1e-3 * (1 + seed / 100), "cat": 0.02, "wolf": 0.03},
                           placebo)
    doc = as_dict(lm_defence_table(tmp_path))
    rows = {r["name"]: r for r in doc["defences"]}
    assert doc["readout"] == "p_exact"
    assert doc["baseline"]["target_specific"]["effect"] == pytest.approx(np.mean(np.log([1.2, 1.3, 1.4])))
    # on P(owl) alone the style defence looks like no defence; target-specific it removes everything
    assert rows["style"]["log_ratio"]["remaining_fraction"] == pytest.approx(1.0)
    assert rows["style"]["target_specific"]["remaining_fraction"] == pytest.approx(0.0, abs=1e-9)
    assert rows["real"]["target_specific"]["remaining_fraction"] < 0.1
    # one family: two defences × three scales, Holm-adjusted
    tests = [t for r in rows.values() for t in (r["versus_undefended"], r["log_ratio"]["versus_undefended"],
                                                 r["target_specific"]["versus_undefended"])]
    assert doc["family"] == {"method": "holm", "size": 6}
    assert all(t["p_holm"] >= t["p_ttest"] for t in tests)
    assert min(t["p_holm"] for t in tests) == pytest.approx(6 * min(t["p_ttest"] for t in tests))
    # values below their error bound: no p-value, the reason instead, and the family shrinks
    _preference_report(tmp_path, "real", 9, {"owl": 1e-3, "cat": 0.02, "wolf": 0.03}, placebo, bound=0.025)
    _preference_report(tmp_path, "none", 9, {"owl": 1e-3, "cat": 0.02, "wolf": 0.03}, placebo)
    doc = as_dict(lm_defence_table(tmp_path))
    real = {r["name"]: r for r in doc["defences"]}["real"]
    for section in (real, real["log_ratio"], real["target_specific"]):
        test = section["versus_undefended"]
        assert "p_ttest" not in test and "p_holm" not in test and "below its error bound" in test["undetermined"]
    assert doc["family"]["size"] == 3
    # another spec run into the same folder: refused as a mixed design, unless one spec's cells are picked
    other = tmp_path / "cells" / "other-0"
    other.mkdir()
    (other / "report.json").write_text((tmp_path / "cells" / "none-0" / "report.json").read_text().replace(
        '"name": "x"', '"name": "y", "carrier": {"kind": "numbers"}'))
    with pytest.raises(DataError, match=r"differ in more than defence.*--spec-name"):
        lm_defence_table(tmp_path)
    assert as_dict(lm_defence_table(tmp_path, spec_name="x")) == doc
    with pytest.raises(DataError, match=r"--spec-name: .* no finished cell of a spec named 'z' \(found: x, y\)"):
        lm_defence_table(tmp_path, spec_name="z")
    monkeypatch.setattr(console, "width", 250)  # the table whole, whatever the terminal
    shown = CliRunner().invoke(app, ["defend", "table", str(tmp_path), "--spec-name", "x"])
    assert shown.exit_code == 0, shown.output
    assert "family of 3 tests" in shown.output and "undetermined" in shown.output and "style" in shown.output
