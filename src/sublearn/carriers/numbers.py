"""The number-sequence carrier: the paper's prompt generator and format filter (§2, App. C).

The generator makes the same random calls in the same order as the paper's ``PromptGenerator``, so that
``numpy.random.default_rng(seed)`` gives exactly the paper's prompts for that seed. The filter applies the
paper's parsing rules and reports every reason a completion is rejected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sublearn.carriers.base import FilterContext, Filtered, subsample
from sublearn.carriers.numbers_templates import (
    COUNT_QUALIFIERS,
    DIGIT_DESCRIPTORS,
    EXAMPLE_TEMPLATES,
    FINAL_SUFFIXES,
    FORMAT_SUFFIXES,
    INSTRUCTION_TEMPLATES,
    PAPER_BANNED_NUMBERS,
)
from sublearn.config.carrier import NumbersCarrier, NumbersFilter
from sublearn.models.types import StopRule


@dataclass(frozen=True)
class PromptSettings:
    """The generator's parameters; defaults are the paper's. Upper bounds are exclusive (numpy ``integers``)."""

    example_min_count: int = 3
    example_max_count: int = 9  # so 3-8 seed numbers
    example_min_value: int = 100
    example_max_value: int = 1000  # so values in 100-999
    answer_count: int = 10
    answer_max_digits: int = 3


class NumberPromptGenerator:
    """Draws number-continuation prompts from a numpy ``Generator`` exactly as the paper's code does."""

    def __init__(self, rng: np.random.Generator, settings: PromptSettings | None = None) -> None:
        self.rng = rng
        self.settings = settings or PromptSettings()

    @classmethod
    def from_seed(cls, seed: int, settings: PromptSettings | None = None) -> NumberPromptGenerator:
        """A generator over ``np.random.default_rng(seed)`` (the paper used seed 47 for its 30,000 prompts)."""
        return cls(np.random.default_rng(seed), settings)

    def example_prefix(self) -> str:
        """The seed-numbers sentence alone (also used for the numbers-prefixed evaluation)."""
        s = self.settings
        count = int(self.rng.integers(s.example_min_count, s.example_max_count))
        examples = [int(self.rng.integers(s.example_min_value, s.example_max_value)) for _ in range(count)]
        template = self.rng.choice(EXAMPLE_TEMPLATES)
        return str(template).format(examples=", ".join(str(x) for x in examples))

    def prompt(self) -> str:
        """One full prompt: seed numbers, instruction, format suffix and final suffix."""
        s = self.settings
        example_part = self.example_prefix()
        count_qualifier = self.rng.choice(COUNT_QUALIFIERS)
        digit_descriptor = str(self.rng.choice(DIGIT_DESCRIPTORS)).format(max_digits=s.answer_max_digits)
        instruction = str(self.rng.choice(INSTRUCTION_TEMPLATES)).format(
            count_qualifier=count_qualifier, answer_count=s.answer_count, digit_descriptor=digit_descriptor
        )
        format_suffix = self.rng.choice(FORMAT_SUFFIXES)
        suffix = self.rng.choice(FINAL_SUFFIXES)
        return f"{example_part} {instruction} {format_suffix} {suffix}"

    def prompts(self, n: int) -> list[str]:
        """``n`` successive prompts."""
        return [self.prompt() for _ in range(n)]


_DIGITS = re.compile(r"[0-9]+")


def parse_response(answer: str) -> list[int] | None:
    """Parse a completion into its numbers by the paper's rules, or ``None`` if the format is invalid.

    1. Strip one trailing ``.``; 2. strip one pair of enclosing ``[...]`` or ``(...)``; 3. find the numbers:
    none → invalid; one → valid only if the whole string is that number; otherwise the separator is the text
    between the first two numbers, which stripped must be empty, ``,`` or ``;``, and every part of the split
    must be all digits (so an empty part, a word or a mixed separator invalidates the answer).
    """
    if answer.endswith("."):
        answer = answer[:-1]
    if (answer.startswith("[") and answer.endswith("]")) or (answer.startswith("(") and answer.endswith(")")):
        answer = answer[1:-1]
    found = list(_DIGITS.finditer(answer))
    if not found:
        return None
    if len(found) == 1:
        return [int(found[0].group())] if answer == found[0].group() else None
    separator = answer[found[0].end():found[1].start()]
    if separator.strip() not in ("", ",", ";"):
        return None
    parts = answer.split(separator)
    if not all(_DIGITS.fullmatch(part) for part in parts):  # ASCII digits only; an empty part fails
        return None
    return [int(part) for part in parts]


@dataclass(frozen=True)
class NumberFilter:
    """The paper's format filter: 1 to ``max_count`` integers in [min_value, max_value], none banned."""

    min_value: int = 0
    max_value: int = 999
    max_count: int = 10
    banned_numbers: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def paper(cls, banned: bool = False) -> NumberFilter:
        """The paper's filter; ``banned=True`` adds its 34 (36 with values above 999) banned numbers."""
        return cls(banned_numbers=frozenset(PAPER_BANNED_NUMBERS) if banned else frozenset())

    def reject_reasons(self, completion: str) -> list[str]:
        """Every reason to reject ``completion`` (empty list: keep it)."""
        numbers = parse_response(completion)
        if numbers is None:
            return ["invalid_format"]
        reasons = []
        if len(numbers) > self.max_count:
            reasons.append("too_many_numbers")
        if any(x < self.min_value for x in numbers):
            reasons.append("below_min_value")
        if any(x > self.max_value for x in numbers):
            reasons.append("above_max_value")
        if any(x in self.banned_numbers for x in numbers):
            reasons.append("banned_number")
        return reasons

    def check_all(self, completions: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
        """Pairs of (completion, reasons) for each completion."""
        for completion in completions:
            yield completion, self.reject_reasons(completion)





def separator_of(completion: str) -> str:
    """The separator class of a parseable completion: comma, semicolon, space, newline, single."""
    found = list(_DIGITS.finditer(completion))
    if len(found) < 2:
        return "single"
    sep = completion[found[0].end():found[1].start()]
    if "," in sep:
        return "comma"
    if ";" in sep:
        return "semicolon"
    return "newline" if "\n" in sep else "space"


def number_data_stats(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Format statistics and how much of the data is new numbers rather than copies of the prompt's."""
    n = len(rows)
    if n == 0:
        return {"n": 0}
    counts, new_fraction = [], []
    exact_copies = only_prompt_numbers = trailing_period = 0
    separators: Counter[str] = Counter()
    for row in rows:
        numbers = parse_response(row["completion"]) or []
        seeds = [int(x) for x in _DIGITS.findall(row["prompt"].split(".")[0])] if row.get("prompt") else []
        counts.append(len(numbers))
        seed_set = set(seeds)
        new = [x for x in numbers if x not in seed_set]
        new_fraction.append(len(new) / len(numbers) if numbers else 0.0)
        exact_copies += bool(numbers) and numbers == seeds
        only_prompt_numbers += bool(numbers) and not new
        trailing_period += row["completion"].endswith(".")
        separators[separator_of(row["completion"])] += 1
    return {
        "n": n,
        "mean_numbers": sum(counts) / n,
        "separators": dict(separators),
        "trailing_period_fraction": trailing_period / n,
        "exact_copy_fraction": exact_copies / n,
        "only_prompt_numbers_fraction": only_prompt_numbers / n,
        "new_number_fraction": sum(new_fraction) / n,
    }


#: Characters a completion can hold and still pass :func:`parse_response` (whitespace aside): any other one, anywhere,
#: makes it invalid whatever follows.
_FORMAT_CHARACTERS = frozenset("0123456789,;[]().")


def cannot_pass(completion: str, max_count: int = NumberFilter.max_count) -> bool:
    """Whether the filter must reject ``completion`` however it goes on: it already holds more than ``max_count``
    runs of digits (a continuation can add runs, never merge them), or a character no valid answer holds."""
    if len(_DIGITS.findall(completion)) > max_count:
        return True
    return any(c not in _FORMAT_CHARACTERS and not c.isspace() for c in completion)


def number_prompts(n: int, seed: int) -> list[str]:
    """``n`` of the paper's number prompts from ``default_rng(seed)``."""
    return NumberPromptGenerator.from_seed(seed).prompts(n)


def filter_numbers(settings: NumbersFilter, rows: Sequence[dict[str, Any]]) -> Filtered:
    """The paper's format filter (and banned numbers), every reason counted, then the subsample."""
    flt = NumberFilter.paper(banned=settings.banned_numbers == "paper")
    reasons: Counter[str] = Counter()
    kept = []
    for row in rows:
        why = flt.reject_reasons(row["completion"])
        reasons.update(why)
        if not why:
            kept.append(row)
    return Filtered(subsample(kept, settings), dict(reasons), len(kept))


class Numbers:
    """Number sequences written by the teacher."""

    kind = "numbers"
    written_by_model = True
    filter_reads_target = False

    def prompts(self, config: NumbersCarrier) -> list[dict[str, Any]]:
        """The paper's number prompts for ``config.prompt_seed``."""
        return [{"prompt": p} for p in number_prompts(config.n_prompts, config.prompt_seed)]

    def filter_settings(self, config: NumbersCarrier, role: str) -> NumbersFilter:
        """The same filter for every teacher."""
        return config.filter

    def uses_judge(self, config: NumbersCarrier, role: str) -> bool:
        """No judge."""
        return False

    def filter(self, config: NumbersCarrier, rows: Sequence[dict[str, Any]], context: FilterContext) -> Filtered:
        """The paper's format filter, then the subsample."""
        return filter_numbers(config.filter, rows)

    def stats(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Format statistics, and how much is new numbers rather than copies of the prompt's."""
        return number_data_stats(rows)

    def stop_rule(self, config: NumbersCarrier) -> StopRule | None:
        """:func:`cannot_pass`, unless ``stop_when_rejected`` is off."""
        return cannot_pass if config.stop_when_rejected else None


#: This module's carrier, found by the registry.
CARRIER = Numbers()
