"""Derived number datasets: shuffled numbers (within and across responses, the paper's controls), the canonical
format, and length-matched teacher and control data."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from sublearn.carriers.numbers import parse_response

_NUMBER = re.compile(r"[0-9]+")


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


def length_matched(datasets: Sequence[Sequence[dict[str, Any]]], seed: int) -> list[list[dict[str, Any]]]:
    """Subsample datasets to one histogram of numbers per completion (and so one size): for each count k, every
    dataset keeps as many rows with k numbers as the one with fewest has, drawn at random (seeded), in original
    order."""
    def by_count(rows: Sequence[dict[str, Any]]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(len(parse_response(row["completion"]) or []), []).append(i)
        return groups

    rng = random.Random(seed)
    groups = [by_count(rows) for rows in datasets]
    keep: list[list[int]] = [[] for _ in datasets]
    for count in sorted(set.intersection(*(set(g) for g in groups))):
        n = min(len(g[count]) for g in groups)
        for kept, g in zip(keep, groups, strict=True):
            kept += rng.sample(g[count], n)
    return [[rows[i] for i in sorted(kept)] for rows, kept in zip(datasets, keep, strict=True)]
