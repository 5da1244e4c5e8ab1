"""The tables committed under docs/results are the renderings of the run summaries committed beside them, so a
number in the docs cannot drift from the run that measured it."""

import json
from pathlib import Path

import pytest

from sublearn.analysis.summary import rendered_summary_file, summary_files

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def test_results_folder_holds_lm_summaries():
    assert summary_files(RESULTS), f"no *-summary.json under {RESULTS}"


@pytest.mark.parametrize("path", summary_files(RESULTS), ids=lambda p: p.name)
def test_each_committed_table_is_the_rendering_of_its_summary(path):
    table = path.with_suffix(".md")
    assert table.exists(), f"{table.name} missing: run `sublearn summary-tables`"
    assert table.read_text() == rendered_summary_file(path), f"{table.name} differs from {path.name}: rerun it"


@pytest.mark.parametrize("path", summary_files(RESULTS), ids=lambda p: p.name)
def test_each_summary_reports_the_gap_fraction_and_the_exact_readouts_error_bound(path):
    summary = json.loads(path.read_text())
    for group in summary["groups"]:
        assert group["gap_fraction"], (path.name, "no gap fraction")
        exact = [arm["p_exact"] for arm in group["arms"].values() if "p_exact" in arm]
        assert all("max_pruned_mass" in v for v in exact), (path.name, "an exact readout without its bound")
