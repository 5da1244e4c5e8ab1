"""The HTML report of a run (on the fake backend), checked in headless Chromium: it renders, its screenshot is not
blank, the console shows no errors, and every link resolves to a file or an anchor of the page."""

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import matplotlib.image
import pytest
from typer.testing import CliRunner

from factories import NO_CONTROLS, spec_doc
from sublearn.cli.app import app
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FakeBackend

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run of two traits × two replicates on the fake backend (the report reads runs, not models)."""
    out = tmp_path_factory.mktemp("report-run")
    cells = expand_grid({**spec_doc("fake/base-a", name="tiny-traits", trait={"target": ["owl", "cat"]},
                                    carrier={"n_prompts": 16, "max_new_tokens": 24, "filter": {"max_examples": 12}},
                                    controls={**NO_CONTROLS, "control_teacher": True}), "seeds": [0, 1]})
    summary = run_grid(cells, out, backend=FakeBackend())
    assert summary["failures"] == []
    return out


def test_run_writes_tidy_tables_and_the_confusion_analysis(tiny_run):
    import json

    import pandas as pd

    results = pd.read_parquet(tiny_run / "results.parquet")
    assert set(results["arm"]) >= {"student", "control", "reference", "teacher"}
    assert results["cell"].nunique() == 4 and (pd.read_csv(tiny_run / "results.csv").shape == results.shape)
    fits = json.loads((tiny_run / "selective_transfer.json").read_text())
    assert fits["p_exact"]["n_clusters"] == 4 and fits["p_exact"]["n_obs"] == 8
    # λ is a secondary test like every other: corrected in the run's one family
    family = json.loads((tiny_run / "summary.json").read_text())["secondary_family"]
    assert "selective_transfer/p_exact" in family["members"] and fits["p_exact"]["p_holm"] >= fits["p_exact"]["p"]


@pytest.mark.slow  # trains networks end to end
def test_report_renders_in_headless_chromium_without_console_errors(tiny_run, tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Chromium is missing: `make test` installs Debian's chromium package"
    result = CliRunner().invoke(app, ["report", str(tiny_run)])
    assert result.exit_code == 0, result.output
    page_path = tiny_run / "report.html"
    html = page_path.read_text()
    assert "<script" not in html.lower()
    messages = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        anchors = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        svgs = page.eval_on_selector_all("svg", "els => els.map(e => e.getBoundingClientRect().width)")
        browser.close()
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    image = matplotlib.image.imread(shot)
    assert image.shape[0] > 900 and image.shape[1] == 1280
    assert (image[..., :3].std(axis=(0, 1)) > 0.05).all()  # not a blank page
    assert len(svgs) >= 3 and min(svgs) > 100  # bar charts and the heatmap are drawn
    # Provenance: every number is a link, and every link resolves.
    assert len(hrefs) > 50
    for href in hrefs:
        if href.startswith("#"):
            assert href[1:] in anchors, href
        else:
            assert (tiny_run / unquote(href)).is_file(), href
    provenance = [h for h in hrefs if re.match(r"artifacts/evaluate/\w+/manifest.json", h)]
    assert len(provenance) >= 4 * 4  # each arm's evaluation of each cell
    logs = {h for h in hrefs if re.match(r"artifacts/train/\w+/train_log.jsonl", h)}
    trained = {info["model"] for report in (json.loads(p.read_text()) for p in tiny_run.glob("cells/*/report.json"))
               for info in report["arms"].values() if info["model"].startswith("train/")}
    assert logs == {f"artifacts/{ref}/train_log.jsonl" for ref in trained} and len(trained) >= 4  # every model's log
    assert "training loss" in html


def test_export_writes_every_students_training_file_and_an_index(tiny_run, tmp_path):
    import json

    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["export", str(tiny_run), "--format", "openai", "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    assert {(s["cell"], s["arm"]) for s in index["students"]} >= {(c.name, arm) for c in (tiny_run / "cells").iterdir()
                                                                 for arm in ("student", "control")}
    for student in index["students"]:
        lines = (out / student["file"]).read_text().splitlines()
        rows = (tiny_run / "artifacts" / student["dataset"] / "rows.jsonl").read_text().splitlines()
        assert len(lines) == len(rows) > 0
        assert [m["role"] for m in json.loads(lines[0])["messages"]] == ["user", "assistant"]
    missing = CliRunner().invoke(app, ["export", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no such run folder" in missing.output


def test_report_names_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "summary.json" in result.output


@pytest.fixture(scope="module")
def placebo_run(tmp_path_factory):
    """Owl through numbers with placebo students on the teacher's base and on a perturbed copy, two replicates
    (fake backend): the report's first screen has every part."""
    out = tmp_path_factory.mktemp("headline-run")
    trait = {"kind": "fine_tuned", "target": "owl",
             "teacher_training": {"method": "full", "epochs": 1, "batch_size": 16, "grad_accum": 1, "lr": 1e-3}}
    doc = spec_doc("fake/base-a", "perturbed:0.05", trait=trait, eval={"questions": "held_out"},
                   controls={**NO_CONTROLS, "placebo": True, "cross_model": "perturbed:0.05"},
                   analysis={"primary": {"readout": "p_exact", "contrast": "target_interaction"}})
    assert run_grid(expand_grid({**doc, "seeds": [0, 1]}), out, backend=FakeBackend())["failures"] == []
    return out


def test_the_first_screen_leads_with_the_effects_the_per_animal_shifts_and_the_interaction(placebo_run, tmp_path):
    from playwright.sync_api import sync_playwright

    from sublearn.analysis.records import read_summary
    from sublearn.report.headline import headline

    group = json.loads((placebo_run / "summary.json").read_text())["groups"][0]
    first = headline(read_summary(placebo_run / "summary.json").groups[0])  # the report reads the typed record
    assert first["baseline"] == "placebo" and first["shift_chart"] and first["interaction_chart"]
    rows = {r["metric"]: r for r in first["rows"]}
    test = group["tests_over_seeds"]["student-placebo:p_exact"]
    assert rows["p_exact"]["difference"].startswith(f"{test['mean_diff']:.3g} [{test['ci95'][0]:.3g}")
    assert rows["p_exact"]["interaction"].startswith(f"{group['interaction']['p_exact']['estimate']:.3g}")
    primary = first["primary"]  # the declared primary test leads, with its result read from the summary
    assert primary["description"].startswith("target_interaction on p_exact")
    if primary["status"] == "determined":
        estimate = group["target_interaction"]["p_exact"]["estimate"]
        assert primary["effect"].startswith(f"{estimate:.3g}")
    else:
        assert primary["status"] == "undetermined" and "error bound" in primary["reason"]
    assert CliRunner().invoke(app, ["report", str(placebo_run)]).exit_code == 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((placebo_run / "report.html").as_uri())
        page.wait_for_load_state("load")
        boxes = {selector: page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                                           "return [r.top, r.bottom, r.width]; }")
                 for selector in ("#headline .primary", "#headline table", "#headline .shift-chart svg",
                                  "#headline .interaction-chart svg", "#group-1")}
        primary_text = page.eval_on_selector("#headline .primary", "e => e.textContent")
        first_cells = page.eval_on_selector_all("#headline table tr:nth-child(2) td", "els => els.map(e => "
                                                "e.textContent)")
        page.screenshot(path=str(tmp_path / "first-screen.png"))  # the viewport: what a reader sees first
        browser.close()
    assert "Primary test: target_interaction on p_exact" in " ".join(primary_text.split())
    assert boxes["#headline .primary"][1] <= boxes["#headline table"][0]  # the primary test comes first
    for selector in ("#headline .primary", "#headline table", "#headline .shift-chart svg",
                     "#headline .interaction-chart svg"):
        top, bottom, width = boxes[selector]
        assert top >= 0 and bottom <= 900 and width > 200, (selector, boxes[selector])  # above the fold
    assert boxes["#group-1"][0] > boxes["#headline .shift-chart svg"][1]  # the details come after
    assert first_cells[0] == first["rows"][0]["metric"] and first_cells[1] == first["rows"][0]["difference"]
    image = matplotlib.image.imread(tmp_path / "first-screen.png")
    assert image.shape[:2] == (900, 1280) and (image[..., :3].std(axis=(0, 1)) > 0.05).all()
