"""The spec reader against careless and hostile specs: each class refused at its root with the field named, before
any compute (issue: hardening, round 2)."""

import time

import pytest
from typer.testing import CliRunner

from sublearn.cli.app import app
from sublearn.config.grid import MAX_CELLS, expand_grid, load_spec_file
from sublearn.util.errors import ConfigError

BASE = "name: x\nreference: some/model\n"


def _load(tmp_path, text, overrides=None):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE + text)
    return load_spec_file(path, overrides)


def test_a_grid_is_sized_before_it_is_expanded(tmp_path):
    # One alias on the seeds and five axes: 20^6 = 64 M cells. Refused at once, naming each axis's size.
    text = ("seeds: &v [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]\n"
            "grid: {train.lr: *v, train.epochs: *v, train.batch_size: *v, carrier.n_prompts: *v, eval.batch_size: *v}")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"grid: 64,000,000 cells \(train\.lr: 20,.*seed: 20\) is more than"):
        _load(tmp_path, text)
    assert time.perf_counter() - started < 2
    with pytest.raises(ConfigError, match="more than"):
        expand_grid({"reference": "m", "seeds": list(range(MAX_CELLS + 1))})


def test_a_repeated_key_is_refused_with_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"spec\.yaml:5: .*duplicate key 'lr' \(first on line 4\)"):
        _load(tmp_path, "train:\n  lr: 1.0e-4\n  lr: 2.0e-4\n")
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        _load(tmp_path, "name: y\n")
    # A merge key may be overridden by the mapping's own keys (that is what it is for).
    cells = _load(tmp_path, "train: &t {epochs: 2, lr: 1.0e-3}\n"
                            "trait: {kind: fine_tuned, questions: all, teacher_training: {<<: *t, lr: 2.0e-3}}\n")
    assert (cells[0].trait.teacher_training.epochs, cells[0].trait.teacher_training.lr) == (2, 2e-3)
    with pytest.raises(ConfigError, match="duplicate key"):
        _load(tmp_path, "", ["train={lr: 1, lr: 2}"])


@pytest.mark.parametrize(("seeds", "message"), [
    ("[0, 0]", r"seeds: \[0\] listed more than once"),
    ("[0, true]", r"seeds\[1\]: .*integer"),
    ("[0, 1.5]", r"seeds\[1\]: .*integer"),
    ("[4294967296]", r"seeds\[0\]: .*less than 4294967296"),
    ("[-1]", r"seeds\[0\]: .*greater than or equal to 0"),
    ("[]", "seeds: must be a non-empty list"),
])
def test_seeds_are_distinct_integers_in_range(tmp_path, seeds, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, f"seeds: {seeds}\n")


def test_a_single_seed_beside_a_list_is_refused_never_ignored(tmp_path):
    with pytest.raises(ConfigError, match=r"--set seed: the spec lists seeds: \[0, 1\]"):
        _load(tmp_path, "seeds: [0, 1]\n", ["seed=5"])
    with pytest.raises(ConfigError, match="seed: the spec also lists seeds"):
        _load(tmp_path, "seed: 3\nseeds: [0, 1]\n")
    assert [c.seed for c in _load(tmp_path, "seeds: [0, 1]\n", ["seeds=[7]"])] == [7]
    assert _load(tmp_path, "seed: 3\n", ["seed=5"])[0].seed == 5
    with pytest.raises(ConfigError, match="seed"):
        _load(tmp_path, "seed: true\n")


def test_a_section_given_on_the_command_line_is_merged_into_the_files(tmp_path):
    cell = _load(tmp_path, "train: {lr: 1.0e-3, epochs: 2}\n", ["train={batch_size: 4}"])[0]
    assert (cell.train.lr, cell.train.epochs, cell.train.batch_size) == (1e-3, 2, 4)
    # Another kind replaces the section (its fields would not fit the new kind).
    cell = _load(tmp_path, "trait: {kind: system_prompt, target: cat}\n",
                 ["trait={kind: fine_tuned, target: owl, questions: all}"])[0]
    assert cell.trait.kind == "fine_tuned" and cell.trait.target == "owl"


@pytest.mark.parametrize("override", [
    "train.lr=1e400", "train.lr=.nan", "train.lr=.inf", "train.epochs=.inf", "train.lr=100",
    "carrier.seed=-1", "carrier.seed=4294967296", "trait.target=' '", "controls.cross_model=perturbed:nan",
    "controls.cross_model=perturbed:inf", "controls.cross_model=perturbed:-1", "eval.temperature=.nan",
    "defence.seed=true",
])
def test_every_number_is_finite_and_in_range_at_validate(tmp_path, override):
    field = override.split("=")[0]
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _load(tmp_path, "", [override])
    spec = tmp_path / "spec.yaml"
    result = CliRunner().invoke(app, ["validate", str(spec), "--set", override])
    assert result.exit_code == 2 and field in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("option", [["--lr", "inf"], ["--lr", "nan"], ["--seed", "4294967296"]])
def test_the_mnist_command_refuses_non_finite_and_out_of_range_numbers(option, tmp_path):
    result = CliRunner().invoke(app, ["mnist", *option, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and option[0].lstrip("-") in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
