"""Prose tied to results: a number in README.md or docs/ that quotes a result carries a tag naming the committed
JSON and the value behind it, ``<!-- result: FILE PATH -->`` right after it: FILE under docs/results, PATH with /
between keys, list items by index, ``@count`` for a list's length, and ``×100`` after PATH for a percentage. This
test reads every tag and checks the number written before it against the JSON, to the digits shown: a claim
cannot drift from the result it quotes.

A JSON value that is a list of k numbers (a CI) checks the last k numbers before the tag."""

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
TAG = re.compile(r"<!--\s*result:\s*(\S+)\s+(\S+)(\s+×100)?\s*-->")
NUMBER = re.compile(r"[-−+]?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-−+]?\d+)?")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _tags() -> list:
    found = []
    for doc in _documents():
        text = doc.read_text()
        for match in TAG.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[max(0, match.start() - 400):match.start()]
            found.append(pytest.param(doc, line, match.group(1), match.group(2), bool(match.group(3)), before,
                                      id=f"{doc.name}:{line}:{match.group(2)}"))
    return found


def _value(file: str, path: str):
    node = json.loads((RESULTS / file).read_text())
    for part in path.split("/"):
        node = len(node) if part == "@count" else node[int(part)] if isinstance(node, list) else node[part]
    return node


def _number(text: str) -> tuple[float, int]:
    """A written number and how many decimals it shows (digits after the point, or of the mantissa)."""
    clean = text.replace("−", "-").replace(",", "")
    mantissa = clean.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(clean.split("e")[1]) if "e" in clean else 0
    return float(clean), decimals - exponent


def _matches(written: str, value: float, scale: float) -> bool:
    number, decimals = _number(written)
    return math.isclose(number, value * scale, abs_tol=0.5 * 10 ** -decimals + 1e-12)


def test_the_docs_tie_their_numbers_to_results():
    assert len(_tags()) >= 10, "README.md and docs/ quote results without tags"


@pytest.mark.parametrize(("doc", "line", "file", "path", "percent", "before"), _tags())
def test_each_tagged_number_is_its_results_value(doc, line, file, path, percent, before):
    where = f"{doc.relative_to(ROOT)}:{line}"
    assert (RESULTS / file).is_file(), f"{where}: docs/results/{file} does not exist"
    value = _value(file, path)
    values = value if isinstance(value, list) else [value]
    numbers = NUMBER.findall(before.rstrip().removesuffix("%").rstrip())
    assert len(numbers) >= len(values), f"{where}: no number before the tag"
    scale = 100.0 if percent else 1.0
    for written, expected in zip(numbers[-len(values):], values, strict=True):
        assert expected is not None and _matches(written, float(expected), scale), \
            f"{where}: the text says {written}, {file} {path} is {expected}"


def test_the_checker_catches_a_wrong_number(tmp_path):
    assert _matches("0.825", 0.825, 1) and _matches("82.5", 0.825, 100) and _matches("1.2e-4", 1.23e-4, 1)
    assert _matches("0.82", 0.8249, 1) and not _matches("0.83", 0.8249, 1)
    assert not _matches("0.692", 0.825, 1)
