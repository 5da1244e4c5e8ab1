"""The paper's programmatic control data (§2 App.) as a carrier: for each number prompt, 1-9 uniform integers in
[0, 999] joined by ", ", written by code. Nobody wrote them, so every teacher's data is identical; with
``train.objective: soft_numbers`` a teacher enters only through its digit distributions on them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sublearn.carriers.base import FilterContext, Filtered
from sublearn.carriers.numbers import filter_numbers, number_data_stats, number_prompts
from sublearn.config.carrier import NumbersFilter, RandomNumbersCarrier


def random_number_rows(config: RandomNumbersCarrier) -> list[dict[str, Any]]:
    """The rows: the paper's prompts for ``prompt_seed``, answered with random numbers drawn with ``seed``."""
    rng = random.Random(config.seed)
    return [{"prompt": p, "completion": ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(1, 9)))}
            for p in number_prompts(config.n_prompts, config.prompt_seed)]


class RandomNumbers:
    """Number sequences written by code."""

    kind = "random_numbers"
    written_by_model = False
    filter_reads_target = False

    def prompts(self, config: RandomNumbersCarrier) -> list[dict[str, Any]]:
        """The rows themselves (prompt and completion): nothing is asked of a model."""
        return random_number_rows(config)

    def filter_settings(self, config: RandomNumbersCarrier, role: str) -> NumbersFilter:
        """The numbers filter."""
        return config.filter

    def uses_judge(self, config: RandomNumbersCarrier, role: str) -> bool:
        """No judge."""
        return False

    def filter(self, config: RandomNumbersCarrier, rows: Sequence[dict[str, Any]], context: FilterContext
               ) -> Filtered:
        """The paper's format filter (every row passes it), then the subsample."""
        return filter_numbers(config.filter, rows)

    def stop_rule(self, config: Any) -> None:
        """None: no prefix of this carrier's completions is sure to be rejected."""
        return None

    def stats(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Format statistics."""
        return number_data_stats(rows)


#: This module's carrier, found by the registry.
CARRIER = RandomNumbers()
