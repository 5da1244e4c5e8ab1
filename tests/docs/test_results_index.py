"""docs/results/index.md lists every result file in docs/results with the command that writes it."""

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def _rows() -> list[list[str]]:
    lines = (RESULTS / "index.md").read_text().splitlines()
    return [line.strip("|").split(" | ") for line in lines
            if line.startswith("| ") and not line.startswith(("| file", "|---"))]


def _listed(cell: str) -> set[str]:
    """The file names a row's first cell names: `a.json`, `.png` (a's other suffix) and `-t1-summary.json`
    (a's name with another tail)."""
    names = re.findall(r"`([^`]+)`", cell)
    first = names[0]
    out = {first}
    for other in names[1:]:
        if other.startswith("."):
            out.add(first.rsplit(".", 1)[0] + other)
        elif other.startswith("-"):
            stem = re.sub(r"(-summary)?\.json$", "", first)
            out.add(stem + other)
        else:
            out.add(other)
    return out


def test_every_result_file_is_listed_with_a_command():
    listed: set[str] = set()
    for row in _rows():
        assert len(row) == 4, row
        listed |= _listed(row[0])
        assert re.search(r"`(sublearn |python benchmarks/)", row[2]) or "by hand" in row[2], row
        assert row[3].strip() in ("current", "earlier"), row
    present = {p.name for p in RESULTS.iterdir() if p.is_file() and p.name != "index.md"
               and not p.name.endswith("-summary.md")}
    assert present - listed == set(), "listed nowhere in docs/results/index.md"
    assert listed - present == set(), "listed in docs/results/index.md but not there"
