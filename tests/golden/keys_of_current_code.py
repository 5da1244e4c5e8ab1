"""Artifact keys of every spec under configs/, from a dry run of the pipeline (no stage runs).

Run as a script to rewrite ``artifact_keys.json``, only after bumping a stage's version on purpose with its
reason (``sublearn.pipeline.keys.STAGE_VERSIONS``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("artifact_keys.json")


def spec_files() -> list[Path]:
    """Every spec shipped: those under configs/ and those packaged for the world demo."""
    return sorted((ROOT / "configs").glob("*/*.yaml")) + sorted((ROOT / "src/sublearn/assets").glob("*/*.yaml"))


def current_keys(tmp: Path) -> dict[str, Any]:
    """{"stage_versions": {...}, "specs": {spec: [{"cell": i, "seed": s, "refs": [stage/key, ...]}]}}.

    Keys record the numerics a machine picks for ``auto`` (bf16 where the CPU has it natively), so the golden file
    is computed as on a CPU with native bf16, whatever CPU runs the test: it guards the code, not the machine."""
    import os

    from sublearn.config.grid import load_spec_file
    from sublearn.pipeline.keys import STAGE_VERSIONS
    from sublearn.pipeline.plan import plan_cell
    from sublearn.util.devices import CPU_BF16_ENV

    out: dict[str, Any] = {"stage_versions": {s: v for s, (v, _) in STAGE_VERSIONS.items()}, "specs": {}}
    before = os.environ.get(CPU_BF16_ENV)
    os.environ[CPU_BF16_ENV] = "1"
    try:
        for path in spec_files():
            cells = []
            for index, spec in enumerate(load_spec_file(path)):
                _, planned = plan_cell(spec, tmp)
                cells.append({"cell": index, "seed": spec.seed, "refs": sorted(p.ref for p in planned)})
            out["specs"][path.relative_to(ROOT).as_posix()] = cells
    finally:
        if before is None:
            del os.environ[CPU_BF16_ENV]
        else:
            os.environ[CPU_BF16_ENV] = before
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(current_keys(Path(tmp)), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
