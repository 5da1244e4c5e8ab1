"""Derived number datasets: shuffled numbers (within and across responses, the paper's controls), the canonical
format, and length-matched teacher and control data."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from sublearn.carriers.numbers import parse_response

_NUMBER = re.compile(r"\d+")


def _replace_numbers(text: str, numbers: Sequence[str]) -> str:
    it = iter(numbers)
    return _NUMBER.sub(lambda _: next(it), text)


def shuffle_within(rows: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Each completion's numbers in a random order; separators, brackets and periods kept."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        numbers = _NUMBER.findall(row["completion"])
        rng.shuffle(numbers)
        out.append({**row, "completion": _replace_numbers(row["completion"], numbers)})
    return out


def shuffle_across(rows: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """All numbers of the dataset pooled and dealt back at random; each response keeps its count and format."""
    rng = random.Random(seed)
    pool = [n for row in rows for n in _NUMBER.findall(row["completion"])]
    rng.shuffle(pool)
    out, k = [], 0
    for row in rows:
        count = len(_NUMBER.findall(row["completion"]))
        out.append({**row, "completion": _replace_numbers(row["completion"], pool[k:k + count])})
        k += count
    return out


def canonical_format(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every completion rewritten as its numbers joined by ", " (no brackets, no trailing period), so that
    teacher and control data cannot differ in separators or punctuation; rows that do not parse are dropped."""
    out = []
    for row in rows:
        numbers = parse_response(row["completion"])
        if numbers:
            out.append({**row, "completion": ", ".join(str(n) for n in numbers)})
    return out


def length_matched(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]], seed: int
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Subsample two datasets to the same histogram of numbers per completion (and so the same size): for each
    count k, both keep min(#first with k, #second with k) rows, drawn at random (seeded), in original order."""
    def by_count(rows: Sequence[dict[str, Any]]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(len(parse_response(row["completion"]) or []), []).append(i)
        return groups

    rng = random.Random(seed)
    a, b = by_count(first), by_count(second)
    keep_a, keep_b = [], []
    for count in sorted(a.keys() & b.keys()):
        n = min(len(a[count]), len(b[count]))
        keep_a += rng.sample(a[count], n)
        keep_b += rng.sample(b[count], n)
    return [first[i] for i in sorted(keep_a)], [second[i] for i in sorted(keep_b)]
