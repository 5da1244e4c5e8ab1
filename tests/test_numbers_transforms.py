"""Shuffled-numbers controls and data statistics."""

import re
from collections import Counter

from sublearn.carriers.numbers_transforms import number_data_stats, shuffle_across, shuffle_within

ROWS = [
    {"prompt": "Examine these numbers: 796, 689, 494. Add ...", "completion": "(796, 689, 494)."},
    {"prompt": "Look at these numbers: 101, 202, 303. Add ...", "completion": "404 505 606 707"},
    {"prompt": "Start with these numbers: 1, 2, 3. Add ...", "completion": "1;2;9"},
]


def _skeleton(text):
    return re.sub(r"\d+", "#", text)


def test_shuffle_within_keeps_numbers_and_format():
    out = shuffle_within(ROWS, seed=1)
    for before, after in zip(ROWS, out, strict=True):
        assert _skeleton(before["completion"]) == _skeleton(after["completion"])
        assert Counter(re.findall(r"\d+", before["completion"])) == Counter(re.findall(r"\d+", after["completion"]))
    assert shuffle_within(ROWS, seed=1) == out


def test_shuffle_across_keeps_counts_format_and_the_pool():
    out = shuffle_across(ROWS, seed=3)
    pool = Counter(n for r in ROWS for n in re.findall(r"\d+", r["completion"]))
    assert Counter(n for r in out for n in re.findall(r"\d+", r["completion"])) == pool
    for before, after in zip(ROWS, out, strict=True):
        assert _skeleton(before["completion"]) == _skeleton(after["completion"])
    assert out != ROWS


def test_stats_measure_copies_of_the_prompt():
    stats = number_data_stats(ROWS)
    assert stats["n"] == 3
    assert stats["exact_copy_fraction"] == 1 / 3
    assert stats["only_prompt_numbers_fraction"] == 1 / 3
    assert abs(stats["new_number_fraction"] - (0 + 1 + 1 / 3) / 3) < 1e-12
    assert stats["separators"] == {"comma": 1, "space": 1, "semicolon": 1}
    assert stats["trailing_period_fraction"] == 1 / 3
