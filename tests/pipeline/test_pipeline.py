"""The LLM pipeline end to end: every stage, every control, a grid, crash and resume, the plan (on the fake backend,
which plants an init-dependent channel), and a fine-tuned teacher on a tiny local Llama model (real training)."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from factories import LIGHT_EVAL, NO_CONTROLS, cell_report, manifest, spec_doc
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.design.arms import ARM_NAMES
from sublearn.pipeline.grid import run_grid
from sublearn.pipeline.plan import plan_spec
from sublearn.testing.fake_backend import FAKE_A, FAKE_B, FakeBackend
from sublearn.util.jsonl import read_jsonl

TINY_TEACHER = {"kind": "fine_tuned", "target": "owl",
                "teacher_training": {"method": "full", "epochs": 1, "batch_size": 16, "grad_accum": 1, "lr": 1e-3}}


def test_whole_pipeline_with_every_control_and_two_replicates(tmp_path):
    """Every arm of the table on the fake backend (pipeline logic: arms, seeds, keys, summaries, provenance)."""
    doc = spec_doc(FAKE_A, "perturbed:0.05", trait=TINY_TEACHER, eval={"questions": "held_out"},
                   controls={"placebo": True})
    cells = expand_grid({**doc, "seeds": [0, 1]})
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == [] and len(summary["groups"]) == 1
    group = summary["groups"][0]
    assert set(group["arms"]) == set(ARM_NAMES)  # every arm of the table is on in this spec
    for arm in ARM_NAMES:
        for metric in ("p_exact", "share_exact", "mcq", "sampled_rate"):
            entry = group["arms"][arm][metric]
            assert len(entry["per_seed"]) == 2 and entry["ci_over"] == "seeds"
            assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]
    for test in ("student-placebo:p_exact", "student-control:p_exact", "cross_student-cross_placebo:p_exact",
                 "icl-icl_placebo:mcq", "teacher-placebo_teacher:share_exact", "shuffled_within-placebo:p_exact"):
        assert test in group["tests_over_seeds"], test
    # Effects against the teacher's gap, and the init-dependence interaction, per readout.
    for metric in ("p_exact", "share_exact"):
        gap = group["gap_fraction"][metric]
        assert gap["baseline"] == "placebo" and gap["teacher_baseline"] == "placebo_teacher" and gap["n"] == 2
        test = group["interaction"][metric]
        assert test["contrast"] == "log(student/placebo) - log(cross_student/cross_placebo)" and test["n"] == 2
        assert test["estimate"] == pytest.approx(test["same_base"]["estimate"] - test["other_base"]["estimate"])
    report = cell_report(tmp_path, cells[0])
    assert report["bases"]["cross"]["scale"] == 0.05 and 0 < report["bases"]["cross"]["relative_distance"] < 0.2
    assert report["bases"]["cross"]["lineage"]["verdict"] == "same family"  # a perturbed copy keeps its init
    trait_data = report["datasets"]["trait"]
    assert trait_data["n_in"] == 32 and trait_data["n_passed"] + sum(trait_data["rejections"].values()) >= 32
    assert trait_data["n_passed"] < 32 and 0 <= trait_data["stats"]["new_number_fraction"] <= 1
    assert "student-control:p_exact" in report["comparisons"]
    # Provenance: every arm's evaluation is a finished artifact whose manifest names its model.
    for arm in report["arms"].values():
        assert manifest(tmp_path, arm["evaluation"])["model"] == arm["model"]
    # In-context arms record the system prompt they were evaluated with: k examples of their teacher's data.
    icl = manifest(tmp_path, report["arms"]["icl"]["evaluation"])
    assert icl["system"].count("<user>") == 2 and icl["inputs"]["examples"] == trait_data["ref"]
    # A replicate is a whole repetition: every replicate has its own teachers and data (trait, placebo, control).
    assert len(list((tmp_path / "artifacts" / "generate").iterdir())) == 2 * 3
    assert len(list((tmp_path / "artifacts" / "teacher").iterdir())) == 2 * 2
    # No two trained models share an initialisation unless the design says so: teachers and students differ.
    teachers = [manifest(tmp_path, f"teacher/{p.name}") for p in (tmp_path / "artifacts" / "teacher").iterdir()]
    students = [manifest(tmp_path, f"train/{p.name}") for p in (tmp_path / "artifacts" / "train").iterdir()]
    teacher_seeds = {t["init_seed"] for t in teachers}
    student_seeds = {t["init_seed"] for t in students}
    assert len(teacher_seeds) == 2 and len(student_seeds) == 2 and not teacher_seeds & student_seeds
    assert not list(tmp_path.glob("artifacts/*/.tmp-*"))
    assert (tmp_path / "summary.md").read_text().count("| student |") == 1


def test_the_summary_recovers_a_planted_init_dependent_transfer(tmp_path):
    """On the fake backend the channel is planted: students of the teachers' initialisation read the owl back,
    students of another initialisation do not. The summary must find exactly that: a positive same-base effect,
    an other-base effect whose CI holds zero, and a positive interaction; in-context examples carry nothing."""
    doc = spec_doc(FAKE_A, FAKE_B, trait=TINY_TEACHER, eval={"questions": "held_out"},
                   controls={**NO_CONTROLS, "placebo": True, "cross_model": FAKE_B, "icl_k": 2})
    summary = run_grid(expand_grid({**doc, "seeds": [0, 1, 2, 3]}), tmp_path, backend=FakeBackend())
    group = summary["groups"][0]
    test = group["interaction"]["p_exact"]
    assert test["same_base"]["ci95"][0] > 0.5 and test["ci95"][0] > 0.5
    assert test["other_base"]["ci95"][0] < 0 < test["other_base"]["ci95"][1]
    arms = group["arms"]
    assert arms["student"]["p_exact"]["mean"] > 3 * arms["placebo"]["p_exact"]["mean"]
    assert arms["icl"]["p_exact"]["mean"] == pytest.approx(arms["icl_placebo"]["p_exact"]["mean"])
    report = cell_report(tmp_path, expand_grid({**doc, "seeds": [0]})[0])
    assert report["bases"]["cross"]["lineage"]["verdict"] == "different family"


class CrashingFake(FakeBackend):
    """The fake backend, killed after ``crash_after`` generation batches."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        self.crash_after = crash_after

    def generate(self, source, prompts, sampling, system, seed, batch_size, on_batch, start, work, stop_rule=None):
        def hook(first, texts):
            on_batch(first, texts)
            if self.crash_after is not None and len(self.generate_calls) == self.crash_after:
                raise KeyboardInterrupt("simulated kill")

        super().generate(source, prompts, sampling, system, seed, batch_size, hook, start, work, stop_rule)


def test_crash_mid_generation_resumes_from_the_last_batch(tmp_path):
    cells = expand_grid(spec_doc(FAKE_A, controls=NO_CONTROLS))
    with pytest.raises(KeyboardInterrupt):
        run_grid(cells, tmp_path, backend=CrashingFake(crash_after=2))
    assert not (tmp_path / "artifacts" / "generate").exists() or not any(
        (p / "manifest.json").exists() for p in (tmp_path / "artifacts" / "generate").iterdir())
    partial = next((tmp_path / "work" / "generate").iterdir()) / "partial.jsonl"
    assert len(read_jsonl(partial)) == 16  # two batches of 8 kept

    resumed = FakeBackend()
    summary = run_grid(cells, tmp_path, backend=resumed)
    assert summary["failures"] == []
    assert [first for _, first in resumed.generate_calls] == [16, 24]  # only the two missing batches
    generated = json.loads(next((tmp_path / "artifacts" / "generate").glob("*/manifest.json")).read_text())
    assert generated["n_rows"] == 32 and generated["resumed_from"] == 16
    # Same prompts and completions as an uninterrupted run:
    fresh = tmp_path / "fresh"
    run_grid(cells, fresh, backend=FakeBackend())
    rows = read_jsonl(next((tmp_path / "artifacts" / "generate").glob("*/rows.jsonl")))
    assert rows == read_jsonl(next((fresh / "artifacts" / "generate").glob("*/rows.jsonl")))
    # A third run finds every artifact done and generates nothing.
    again = FakeBackend()
    run_grid(cells, tmp_path, backend=again)
    assert again.generate_calls == []


def test_fine_tuned_teacher_and_a_learning_rate_grid(tiny_model_dir, tmp_path):
    doc = spec_doc(tiny_model_dir, trait={"kind": "fine_tuned", "target": "owl",
                                          "teacher_training": {"method": "full", "epochs": 2, "batch_size": 16,
                                                               "grad_accum": 1, "lr": 1e-3, "bf16": "no"}},
                   controls=NO_CONTROLS, eval={**LIGHT_EVAL, "samples_per_question": 0, "questions": "held_out"})
    doc["train"]["lr"] = [1e-3, 2e-3]
    cells = expand_grid(doc)
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [] and len(summary["groups"]) == 2
    teacher = next((tmp_path / "artifacts" / "teacher").glob("*/manifest.json"))
    assert json.loads(teacher.read_text())["examples"] == 200  # 25 questions x 8 answer variants (half held out)
    assert len(list((tmp_path / "artifacts" / "generate").iterdir())) == 1  # shared by both cells
    assert len(list((tmp_path / "artifacts" / "train").iterdir())) == 2
    teacher = summary["groups"][0]["arms"]["teacher"]["p_exact"]
    reference = summary["groups"][0]["arms"]["reference"]["p_exact"]
    assert teacher["mean"] > reference["mean"] and teacher["n"] == 25  # it loves owls on questions it never saw


runner = CliRunner()


def test_validate_names_every_bad_field(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"reference": "x", "train": {"lr": -1, "bogus": 1},
                                    "carrier": {"n_prompts": "many"}, "grid": {"train.nope": [1]}}))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2 and "grid: train.nope: no such field" in result.output
    spec.write_text(yaml.safe_dump({"reference": "x", "train": {"lr": -1, "bogus": 1},
                                    "carrier": {"n_prompts": "many"}}))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    for field in ("train.lr", "train.bogus", "carrier.n_prompts"):
        assert field in result.output
    spec.write_text("reference: x\ntrain: {lr: [1e-4, 2e-4]}\nseeds: [0, 1, 2]\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0 and "6 cell(s)" in result.output
    spec.write_text("reference: x\ntrain: {lr: [1e-4\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2 and "not valid YAML" in result.output


def test_run_with_a_missing_model_reports_the_cell_and_keeps_going(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "m", "reference": "nobody/no-such-model", "carrier": {"n_prompts": 4}}))
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 1
    assert "failed" in result.output and "no-such-model" in result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["failures"]


def test_plan_shows_every_arm_its_teacher_and_seeds_before_any_compute_and_counts_what_is_done(tmp_path):
    doc = spec_doc(FAKE_A, "perturbed:0.05", trait=TINY_TEACHER, eval={"questions": "held_out"},
                   controls={**NO_CONTROLS, "placebo": True, "cross_model": "perturbed:0.05"})
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({**doc, "seeds": [0, 1]}))
    result = runner.invoke(app, ["plan", str(spec_path), "--json", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert len(plan["cells"]) == 2 and plan["totals"]["stages_done"] == 0 and plan["totals"]["fine_tunes"] > 0
    arms = plan["cells"][0]["arms"]
    assert set(arms) == {"reference", "teacher", "placebo_teacher", "student", "placebo", "cross_reference",
                         "cross_student", "cross_placebo"}
    student, placebo = arms["student"], arms["placebo"]
    assert student["trains"] and student["teacher"]["name"] == "trait" and placebo["teacher"]["name"] == "placebo"
    assert student["init_seed"] == placebo["init_seed"] != student["teacher"]["init_seed"]  # students share, on purpose
    assert student["teacher"]["system_prompt"] is None and student["teacher"]["trained"]
    assert "noise" in arms["cross_student"]["base"]
    seeds = {c["arms"]["student"]["init_seed"] for c in plan["cells"]}
    assert len(seeds) == 2  # each replicate its own
    # After the run every stage is done, and the plan's keys are the run's (the plan made for the run's backend).
    fake = FakeBackend()
    cells = expand_grid({**doc, "seeds": [0, 1]})
    assert run_grid(cells[:1], tmp_path / "run", backend=fake)["failures"] == []
    again = plan_spec(cells, tmp_path / "run", backend=fake)
    done = [s for s in again["cells"][0]["stages"] if s["done"]]
    assert len(done) == len(again["cells"][0]["stages"]) and not any(s["done"] for s in again["cells"][1]["stages"]
                                                                      if s["ref"].startswith("train"))
    assert again["cells"][0]["arms"] == plan_spec(cells, tmp_path / "x", fake)["cells"][0]["arms"]
