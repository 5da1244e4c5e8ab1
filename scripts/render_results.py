"""Render every committed LM run summary, ``docs/results/*-summary.json``, as the Markdown tables beside it
(``*-summary.md``), with the same code that writes a run's own ``summary.md``.

Run from the repository root after committing a new summary JSON:

    .venv/bin/python scripts/render_results.py

``tests/analysis/test_committed_results.py`` checks that every committed table equals its JSON's rendering, so a
table in docs/ cannot drift from the run that produced it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sublearn.analysis.summary import summary_markdown
from sublearn.util.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def summary_files(folder: Path = RESULTS) -> list[Path]:
    """The LM run summaries committed under ``folder``."""
    return sorted(folder.glob("*-summary.json"))


def rendered(path: Path) -> str:
    """The Markdown tables of one summary JSON, headed by the file they come from."""
    body = summary_markdown(json.loads(path.read_text()))
    return f"<!-- generated from {path.name} by scripts/render_results.py; do not edit -->\n{body}"


def main() -> None:
    """Write ``X-summary.md`` beside every ``X-summary.json``."""
    for path in summary_files():
        atomic_write_text(path.with_suffix(".md"), rendered(path))
        print(f"wrote {path.with_suffix('.md').name}", file=sys.stderr)


if __name__ == "__main__":
    main()
