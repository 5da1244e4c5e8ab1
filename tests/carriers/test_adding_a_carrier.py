"""Adding a carrier is its settings class in the spec and one module: in a copy of the package, a new carrier
(counting runs written by code) is accepted by the spec, generated, filtered, turned into soft digit targets and
trained on for every arm, with no other file touched."""

import textwrap

from factories import edit, files_touched, package_copy, run_on_copy

SETTINGS = '''class CountingCarrier(Settings):
    """Runs of consecutive integers from a seeded start, one per number prompt, written by code."""

    writes_numbers: ClassVar[bool] = True
    kind: Literal["counting"] = "counting"
    n_prompts: int = Field(NUMBERS_N_PROMPTS, ge=1)
    prompt_seed: Seed = NUMBERS_PROMPT_SEED
    seed: Seed = 0  # the starts' seed
    filter: NumbersFilter = Field(default_factory=NumbersFilter)


CarrierConfig = kind_union(NumbersCarrier, RandomNumbersCarrier, CodeCarrier, CotCarrier, CountingCarrier,'''

MODULE = '''
"""Counting runs: for each number prompt, five consecutive integers from a seeded start, written by code."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sublearn.carriers.base import FilterContext, Filtered
from sublearn.carriers.numbers import filter_numbers, number_data_stats, number_prompts
from sublearn.config.carrier import CountingCarrier, NumbersFilter


class Counting:
    """Counting runs written by code."""

    kind = "counting"
    written_by_model = False
    filter_reads_target = False

    def prompts(self, config: CountingCarrier) -> list[dict[str, Any]]:
        """The rows themselves."""
        rng = random.Random(config.seed)
        rows = []
        for prompt in number_prompts(config.n_prompts, config.prompt_seed):
            start = rng.randint(0, 990)
            rows.append({"prompt": prompt, "completion": ", ".join(str(start + i) for i in range(5))})
        return rows

    def filter_settings(self, config: CountingCarrier, role: str) -> NumbersFilter:
        """The numbers filter."""
        return config.filter

    def uses_judge(self, config: CountingCarrier, role: str) -> bool:
        """No judge."""
        return False

    def filter(self, config: CountingCarrier, rows: Sequence[dict[str, Any]], context: FilterContext) -> Filtered:
        """The paper's format filter, then the subsample."""
        return filter_numbers(config.filter, rows)

    def stop_rule(self, config: Any) -> None:
        """None."""
        return None

    def stats(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Format statistics."""
        return number_data_stats(rows)


CARRIER = Counting()
'''

SCRIPT = '''
import json, sys
from pathlib import Path

from factories import fake_spec
from sublearn.carriers.registry import CARRIERS
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FakeBackend

out = Path(sys.argv[1])
doc = fake_spec("new-carrier", carrier={"kind": "counting", "n_prompts": 8, "seed": 3, "filter": {"max_examples": 6}},
                train={"objective": "soft_numbers"}, controls={"shuffle_within": False})
summary = run_grid(expand_grid(doc), out, backend=FakeBackend())
rows = [json.loads(line) for p in (out / "artifacts" / "filter").glob("*/rows.jsonl") for line in p.open()]
runs = [[int(x) for x in r["completion"].split(", ")] for r in rows]
print(json.dumps({"failures": summary["failures"], "kinds": sorted(CARRIERS), "n_rows": len(rows),
                  "counting": all(b - a == 1 for run in runs for a, b in zip(run, run[1:])),
                  "trained": len(list((out / "artifacts" / "train").glob("*/manifest.json")))}))
'''


def test_a_new_carrier_is_its_settings_and_one_module(tmp_path):
    copy = package_copy(tmp_path / "src")
    edit(copy / "config" / "carrier.py",
         "CarrierConfig = kind_union(NumbersCarrier, RandomNumbersCarrier, CodeCarrier, CotCarrier,", SETTINGS)
    (copy / "carriers" / "counting.py").write_text(textwrap.dedent(MODULE).lstrip())
    assert files_touched(copy) == ["carriers/counting.py", "config/carrier.py"]
    found = run_on_copy(tmp_path / "src", SCRIPT, str(tmp_path / "run"))
    assert found["failures"] == [] and "counting" in found["kinds"]
    assert found["n_rows"] == 6 * 2 and found["counting"]  # each replicate's rows, written by code
    assert found["trained"] >= 4  # the student and the placebo student of each replicate
