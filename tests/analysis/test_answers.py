"""Every answer is kept: each evaluation's samples and probabilities in a tidy table per run, and `sublearn
rescore` recomputes the readouts from them without generating: the run's own values with its own settings, another
animal's with --target (on the fake backend)."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from factories import NO_CONTROLS, cell_report, spec_doc
from sublearn.analysis.answers import ANSWERS_FILE, RUN_COLUMNS, read_answers
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.evals.answers import COLUMNS, row
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FAKE_A, FakeBackend
from sublearn.util.errors import DataError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("answers-run")
    doc = spec_doc(FAKE_A, eval={"animals": ["owl", "cat", "dog"], "prefilled": True, "mcq_orderings": 2,
                                 "samples_per_question": 3}, controls={**NO_CONTROLS, "control_teacher": True})
    cells = expand_grid({**doc, "seeds": [0, 1]})
    summary = run_grid(cells, out, backend=FakeBackend())
    assert summary["failures"] == []
    return out, cells


def test_the_run_keeps_every_sample_and_probability_with_its_cell_arm_and_seed(run):
    out, cells = run
    table = pd.read_parquet(out / ANSWERS_FILE)
    assert list(table.columns) == [*RUN_COLUMNS, *COLUMNS]
    report = cell_report(out, cells[0])
    arms = set(report["arms"])
    assert set(table["arm"]) == arms and set(table["seed"]) == {0, 1} and set(table["cell"]) == {c.cell_id() for c
                                                                                                 in cells}
    one = table[(table["cell"] == cells[0].cell_id()) & (table["arm"] == "student")]
    counts = one.groupby("readout").size().to_dict()
    n_questions = report["arms"]["student"]["metrics"]["p_exact"]["n"]
    assert counts["sampled_rate"] == n_questions * 3  # one row per question × sample
    assert counts["p_exact"] == counts["p_prefilled"] == n_questions * 3  # per question × animal
    assert counts["mcq"] == 11 * 2 * len(set(one.loc[one["readout"] == "mcq", "option"]))  # prompt × order × choice
    sampled = one[one["readout"] == "sampled_rate"]
    assert sampled["answer"].notna().all() and sampled["probability"].isna().all()
    evaluation = report["arms"]["student"]["evaluation"]
    assert len(read_answers(out / "artifacts" / evaluation / ANSWERS_FILE)) == len(one)


def test_rescore_gives_the_reported_values_and_another_targets_without_generating(run, monkeypatch):
    out, cells = run
    monkeypatch.setattr(FakeBackend, "chat_model", lambda *a, **k: pytest.fail("rescoring generated"))
    result = CliRunner().invoke(app, ["rescore", str(out), "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {r["readout"] for r in records} == {"p_exact", "share_exact", "p_prefilled", "share_prefilled",
                                               "sampled_rate", "mcq"}
    assert len(records) == 6 * sum(len(cell_report(out, c)["arms"]) for c in cells)
    for r in records:  # the run's own settings: the run's own numbers
        assert r["mean"] == pytest.approx(r["reported_mean"], abs=1e-12), r
    assert (out / "rescored.parquet").is_file() and (out / "rescored.csv").is_file()
    # Another animal the evaluation measured: its per-animal values, which the report holds as well.
    result = CliRunner().invoke(app, ["rescore", str(out), "--target", "cat", "--json", "--out",
                                      str(out / "cat")])
    assert result.exit_code == 0, result.output
    for r in json.loads(result.output):
        if r["readout"] == "mcq":  # cat is not among the MCQ's choices: no value, and the reason
            assert r["mean"] is None and "'cat': not among the MCQ's choices" in r["note"]
        if r["readout"] in ("sampled_rate", "p_exact"):
            metrics = cell_report(out, next(c for c in cells if c.cell_id() == r["cell"]))["arms"][r["arm"]]
            assert r["rescored_target"] == "cat"
            assert r["mean"] == pytest.approx(metrics["metrics"][r["readout"]]["per_animal"]["cat"], abs=1e-12)
    zebra = CliRunner().invoke(app, ["rescore", str(out), "--target", "zebra", "--out", str(out / "zebra")])
    assert zebra.exit_code == 0 and "—" in zebra.output  # the sampled answers are read for it, the rest unmeasured
    frame = pd.read_parquet(out / "zebra" / "rescored.parquet")
    assert frame.loc[frame["readout"] == "sampled_rate", "mean"].notna().all()
    assert frame.loc[frame["readout"] == "p_exact", "note"].str.contains("'zebra': not among").all()


def test_a_bad_row_or_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown columns"):
        row("mcq", 0, "q", bogus=1)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable answers table"):
        read_answers(tmp_path / "broken.parquet")
    with pytest.raises(DataError, match=r"missing\.parquet: not found"):
        read_answers(tmp_path / "missing.parquet")
