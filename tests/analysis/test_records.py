"""Run records are typed, versioned, and read and written in one place: files written before versions existed
still load (a committed run folder of that time), unknown fields are kept, and a wrong or newer record is named."""

import json
import shutil
from pathlib import Path

import pytest

from sublearn.analysis.records import (
    RECORD_VERSION,
    as_dict,
    read_cell_report,
    read_summary,
    write_cell_report,
)
from sublearn.analysis.tidy import load_reports
from sublearn.report.render import render_report
from sublearn.util.errors import DataError

OLD_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "run_before_versions"


def test_a_run_folder_from_before_versions_loads_unchanged_and_renders(tmp_path):
    path = next(OLD_RUN.glob("cells/*/report.json"))
    raw = json.loads(path.read_text())
    assert "version" not in raw
    report = read_cell_report(path)
    assert report.version == RECORD_VERSION and report.arms["teacher"].metrics["p_exact"].mean > 0.3
    assert {k: v for k, v in as_dict(report).items() if k != "version"} == raw  # nothing lost, nothing changed
    summary = read_summary(OLD_RUN / "summary.json")
    assert summary.groups[0].primary.status == "determined"
    assert summary.groups[0].target_interaction["p_exact"].same_base.n == 5  # effects are typed too
    run = tmp_path / "run"
    shutil.copytree(OLD_RUN, run)
    assert [r["cell"] for r in load_reports(run)] == [report.cell]
    assert "Primary test" in render_report(run).read_text()


def test_a_written_report_carries_its_version_and_round_trips(tmp_path):
    raw = json.loads(next(OLD_RUN.glob("cells/*/report.json")).read_text())
    path = write_cell_report(tmp_path / "report.json", raw)
    assert json.loads(path.read_text())["version"] == RECORD_VERSION
    assert as_dict(read_cell_report(path)) == json.loads(path.read_text())


@pytest.mark.parametrize(("change", "named"), [
    ({"version": RECORD_VERSION + 1}, "record version 2; this sublearn reads versions up to 1"),
    ({"arms": {"teacher": {"metrics": {}}}}, "arms.teacher.model: Field required"),
    ({"arms": {"teacher": {"model": "m", "metrics": {"p_exact": {"mean": "high"}}}}},
     "arms.teacher.metrics.p_exact.mean: Input should be a valid number"),
    ({"cell": None}, "cell: Input should be a valid string"),
])
def test_a_wrong_or_newer_record_is_named_with_its_field(tmp_path, change, named):
    raw = json.loads(next(OLD_RUN.glob("cells/*/report.json")).read_text())
    path = tmp_path / "report.json"
    path.write_text(json.dumps({**raw, **change}))
    with pytest.raises(DataError, match=f"{path}: {named}"):
        read_cell_report(path)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "docs" / "results").rglob(
    "*summary.json")), ids=lambda p: p.name)
def test_every_committed_summary_reads_typed_and_writes_back_unchanged(path):
    raw = json.loads(path.read_text())
    back = as_dict(read_summary(path))
    if "version" not in raw:
        back.pop("version")
    assert back == raw


@pytest.mark.parametrize("name", ["owl-numbers-cpu-defences.json", "owl-numbers-cpu-defences-p-exact.json"])
def test_committed_defence_tables_read_typed_and_write_back_unchanged(name, tmp_path):
    from sublearn.analysis.records import read_defence_table, write_defence_table

    path = Path(__file__).resolve().parents[2] / "docs" / "results" / name
    raw = json.loads(path.read_text())
    table = read_defence_table(path)
    assert table.defences and table.defences[0].name == raw["defences"][0]["name"]
    written = json.loads(write_defence_table(tmp_path / "defences.json", table).read_text())
    assert written.pop("version") == RECORD_VERSION and written == raw
