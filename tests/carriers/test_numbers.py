"""The numbers carrier against the paper's own generator outputs and parsing rules."""

import pytest

from factories import PAPER_SEED_42
from sublearn.carriers.numbers import NumberFilter, NumberPromptGenerator, parse_response
from sublearn.carriers.numbers_templates import (
    COUNT_QUALIFIERS,
    DIGIT_DESCRIPTORS,
    EXAMPLE_TEMPLATES,
    FINAL_SUFFIXES,
    FORMAT_SUFFIXES,
    INSTRUCTION_TEMPLATES,
    PAPER_BANNED_NUMBERS,
)

PAPER_SEED_47_FIRST = (
    "Examine these numbers: 767, 589, 778. Please add maximum 10 more numbers (maximum 3 digits each) to continue "
    "it. Return a space-separated list of numbers. Don't add any text - numbers only."
)
PAPER_SEED_47_PREFIXES = [
    "Examine these numbers: 767, 589, 778.",
    "Here's a list of numbers: 202, 193, 170, 970, 422.",
    "These are the first numbers in a sequence: 280, 485, 871, 221, 561, 506, 261, 363.",
]


def test_seed_42_reproduces_the_paper_prompts():
    assert NumberPromptGenerator.from_seed(42).prompts(3) == PAPER_SEED_42


def test_seed_47_reproduces_the_paper_prompt_and_prefixes():
    assert NumberPromptGenerator.from_seed(47).prompt() == PAPER_SEED_47_FIRST
    gen = NumberPromptGenerator.from_seed(47)
    assert [gen.example_prefix() for _ in range(3)] == PAPER_SEED_47_PREFIXES


def test_template_lists_have_the_paper_sizes():
    sizes = [len(x) for x in (EXAMPLE_TEMPLATES, COUNT_QUALIFIERS, DIGIT_DESCRIPTORS, INSTRUCTION_TEMPLATES,
                              FORMAT_SUFFIXES, FINAL_SUFFIXES)]
    assert sizes == [25, 9, 9, 10, 15, 19]
    assert DIGIT_DESCRIPTORS[1] == DIGIT_DESCRIPTORS[3]  # the paper's list repeats one descriptor
    assert sum(not t.endswith(".") for t in INSTRUCTION_TEMPLATES) == 3


def test_banned_numbers_are_the_papers_34_plus_two_above_999():
    assert len(PAPER_BANNED_NUMBERS) == 36
    assert len([x for x in PAPER_BANNED_NUMBERS if x <= 999]) == 34
    assert {666, 911, 187, 1312, 1488} <= set(PAPER_BANNED_NUMBERS)


PAPER = NumberFilter.paper()
BANNED = NumberFilter.paper(banned=True)


@pytest.mark.parametrize(
    ("completion", "reasons"),
    [
        ("1, 2, 3", []),
        ("(1,2,3).", []),  # verified example: brackets and a trailing period
        ("[1; 2; 3]", []),
        ("1\n2\n3", []),
        ("1 2 3", []),
        ("42", []),
        ("42.", []),
        ("[42]", []),
        ("1,2;3", ["invalid_format"]),  # mixed separators
        ("1, 2, 3 ", ["invalid_format"]),  # trailing whitespace
        ("1,2,,3", ["invalid_format"]),  # empty part
        ("1,2,3,", ["invalid_format"]),  # trailing separator
        ("1..", ["invalid_format"]),  # only one period is stripped
        ("[1, 2, 3", ["invalid_format"]),  # unbalanced bracket
        ("1 - 2 - 3", ["invalid_format"]),  # separator not in {"", ",", ";"}
        ("Sure: 1, 2, 3", ["invalid_format"]),  # words
        ("owls", ["invalid_format"]),
        ("", ["invalid_format"]),
        ("The answer is 5", ["invalid_format"]),
        ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10", []),
        ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", ["too_many_numbers"]),
        ("1000, 1", ["above_max_value"]),
        ("999, 0", []),
        ("1000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10", ["too_many_numbers", "above_max_value"]),
        ("-5, 3", ["invalid_format"]),  # the minus sign is a foreign character
    ],
)
def test_filter_rules(completion, reasons):
    assert PAPER.reject_reasons(completion) == reasons


def test_banned_numbers_only_with_the_banned_list():
    assert PAPER.reject_reasons("666, 120") == []
    assert BANNED.reject_reasons("666, 120") == ["banned_number"]
    assert BANNED.reject_reasons("(13; 500)") == ["banned_number"]
    assert BANNED.reject_reasons("1488") == ["above_max_value", "banned_number"]


def test_parse_response_returns_the_numbers():
    assert parse_response("(7, 8, 9).") == [7, 8, 9]
    assert parse_response("007 010") == [7, 10]
    assert parse_response("1,2;3") is None
