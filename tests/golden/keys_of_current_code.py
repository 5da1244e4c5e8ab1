"""Artifact keys of every spec under configs/, computed by the pipeline without running any stage.

Run as a script to rewrite ``artifact_keys.json`` (only when a stage version is bumped on purpose, with its
reason recorded next to the version).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("artifact_keys.json")


def spec_files() -> list[Path]:
    """Every spec the golden file covers."""
    return sorted((ROOT / "configs").glob("*/*.yaml"))


def current_keys(tmp: Path) -> dict[str, Any]:
    """{spec: [{"cell": index, "seed": s, "refs": [stage/key, ...]}]} from the pipeline as it is now."""
    os.environ.setdefault("OPENAI_API_KEY", "sk-golden-not-used")
    from sublearn.pipeline import CellRunner
    from sublearn.spec import load_spec_file
    from sublearn.store import STAGE_VERSIONS, Artifact, ArtifactStore

    class RecordingStore(ArtifactStore):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.refs: list[str] = []

        def build(self, stage, config, inputs, producer):  # type: ignore[override]
            refs = {n: (a.ref if isinstance(a, Artifact) else str(a)) for n, a in inputs.items()}
            key = self.key(stage, config, refs)
            self.refs.append(f"{stage}/{key}")
            folder = self.root / "artifacts" / stage / key
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "rows.jsonl").write_text('{"prompt": "p", "completion": "1, 2, 3"}\n')
            return Artifact(stage, key, folder, {"metrics": {}})

    out: dict[str, Any] = {"stage_versions": dict(STAGE_VERSIONS), "specs": {}}
    for path in spec_files():
        cells = []
        for index, spec in enumerate(load_spec_file(path)):
            store = RecordingStore(tmp)
            runner = CellRunner(spec, store)
            runner.comparisons = lambda arms: {}  # reads finished evaluations
            runner.run()
            cells.append({"cell": index, "seed": spec.seed, "refs": sorted(set(store.refs))})
        out["specs"][path.relative_to(ROOT).as_posix()] = cells
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(current_keys(Path(tmp)), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
