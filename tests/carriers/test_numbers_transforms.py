"""Derived number datasets (shuffled controls, canonical format, length matching) and data statistics."""

import re
from collections import Counter

from factories import NUMBER_ROWS
from sublearn.carriers.numbers import number_data_stats
from sublearn.carriers.numbers_transforms import canonical_format, length_matched, shuffle_across, shuffle_within

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


def test_canonical_format_removes_every_format_difference():
    out = canonical_format([*NUMBER_ROWS, {"prompt": "x", "completion": "not numbers"}])
    assert [r["completion"] for r in out] == ["101, 202, 303", "7, 8, 9", "42"]


def test_length_matching_equalises_the_numbers_per_answer_histogram():
    a = [{"completion": ", ".join(["1"] * k)} for k in (1, 2, 2, 3, 3, 3)]
    b = [{"completion": ", ".join(["2"] * k)} for k in (2, 3, 3, 4)]
    ma, mb = length_matched([a, b], seed=0)

    def hist(rows):
        return sorted(len(r["completion"].split(", ")) for r in rows)

    assert hist(ma) == hist(mb) == [2, 3, 3]
    c = [{"completion": ", ".join(["3"] * k)} for k in (3, 4, 4)]
    assert [hist(x) for x in length_matched([a, b, c], seed=0)] == [[3], [3], [3]]
