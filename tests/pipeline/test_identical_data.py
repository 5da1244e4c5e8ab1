"""A replicate whose student and placebo learned from identical data is named in the summary: there, the two
differ by nothing the teachers wrote (e.g. rows written by code and trained on as text, or teachers sampled with
common random numbers whose filtered answers coincide)."""

from factories import fake_spec
from sublearn.analysis.records import parse_summary
from sublearn.analysis.summary import summary_markdown
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FakeBackend


def _doc(carrier: str) -> dict:
    return fake_spec(f"same-data-{carrier}", seeds=[0, 1, 2],
                     carrier={"kind": carrier, "n_prompts": 16, "seed": 3, "filter": {"max_examples": 12}})


def test_students_trained_on_the_same_rows_are_named_and_on_their_teachers_rows_are_not(tmp_path):
    text = run_grid(expand_grid(_doc("random_numbers")), tmp_path / "code", backend=FakeBackend())
    group = text["groups"][0]
    assert group["identical_data"] == {"student-placebo": [0, 1, 2]}  # code wrote the rows, no teacher entered
    assert "student and placebo learned from identical data in replicates [0, 1, 2]" in summary_markdown(
        parse_summary(text, "summary"))
    written = run_grid(expand_grid(_doc("numbers")), tmp_path / "teachers", backend=FakeBackend())
    assert "identical_data" not in written["groups"][0]  # each teacher wrote its own numbers
