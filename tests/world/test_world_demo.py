"""The world demo on tiny siblings: both siblings pretrained, both channels run, the table written from the runs'
declared primary tests; run again, it reuses everything; siblings of other settings are refused by name."""

import json

from typer.testing import CliRunner

from sublearn.cli.app import app
from sublearn.world.channels import channel_table
from sublearn.world.demo import TABLE_FILE

SMALL = ["--hidden", "64", "--layers", "2", "--chats", "1500", "--epochs", "2", "--quiet"]
QUICK = ["--set", "seeds=[0, 1]", "--set", "trait.teacher_training.epochs=1", "--set", "carrier.n_prompts=40",
         "--set", "carrier.filter.max_examples=40", "--set", "train.epochs=1", "--set", "train.warmup_steps=0"]


def test_the_world_demo_runs_both_channels_on_siblings_and_tabulates_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBLEARN_HOME", str(tmp_path / "home"))
    out = tmp_path / "world"
    runner = CliRunner()
    result = runner.invoke(app, ["world", "demo", "--out", str(out), *SMALL, *QUICK])
    assert result.exit_code == 0, result.output
    table = json.loads((out / TABLE_FILE).read_text())
    assert [m["model"] for m in table["pretraining"]] == ["world-a", "world-b"]
    rows = table["rows"]
    assert [r["channel"] for r in rows] == ["hard labels", "soft digits"]
    assert [r["spec"] for r in rows] == ["world-owl-numbers-hard", "world-owl-numbers-soft"]
    for row in rows:
        assert row["n"] == 2
        if row["status"] != "determined":
            assert row["interaction"] is None or row["interaction"]["p"] is None
            continue
        paired = row["same_init"]["estimate"] - row["other_init"]["estimate"]
        assert abs(row["interaction"]["estimate"] - paired) < 1e-9  # the interaction pairs the two by replicate
    assert [r.model_dump(mode="json") for r in channel_table([out / "hard", out / "soft"])] == rows

    again = runner.invoke(app, ["world", "demo", "--out", str(out), *SMALL, *QUICK, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["rows"] == rows  # the same table, from the cached siblings and stages

    bigger = runner.invoke(app, ["world", "demo", "--out", str(out), "--hidden", "48", "--layers", "1",
                                 "--chats", "200", "--quiet", *QUICK])
    assert bigger.exit_code != 0 and "world-a" in bigger.output and "other settings" in bigger.output


def test_the_table_refuses_a_run_without_the_world_primary_test(tmp_path):
    from pathlib import Path

    demo_summary = Path(__file__).parents[2] / "docs/results/owl-numbers-cpu-demo-summary.json"
    result = CliRunner().invoke(app, ["world", "table", str(demo_summary)])
    assert result.exit_code != 0 and "not the target_interaction of a world spec" in result.output


def test_the_committed_world_table_is_what_the_command_computes_from_the_committed_summaries():
    from pathlib import Path

    results = Path(__file__).parents[2] / "docs" / "results"
    committed = json.loads((results / "world-channels.json").read_text())["rows"]
    rows = [r.model_dump(mode="json") for r in channel_table(
        [results / "world-owl-numbers-hard-summary.json", results / "world-owl-numbers-soft-summary.json"])]
    assert [{**r, "run": None} for r in rows] == [{**r, "run": None} for r in committed]
    p = [r["interaction"]["p"] for r in rows]
    assert [r["p_holm_over_table"] for r in rows] == [max(p), 2 * min(p)]  # Holm over the two channels
