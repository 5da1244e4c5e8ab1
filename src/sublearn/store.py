"""Content-addressed artifacts with manifests, written atomically, so runs resume and numbers trace back.

An artifact is a folder ``ROOT/artifacts/STAGE/KEY`` holding its data and a ``manifest.json``; ``KEY`` is a hash
of the stage, its configuration, the keys of its inputs and the code version. A folder is only ever renamed
into place once complete, so a killed run leaves no half-written artifact; long stages keep resumable partial
progress in ``ROOT/work/STAGE/KEY`` until they finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn import __version__
from sublearn.atomic import atomic_write_json

#: Bump when a stage's output for the same inputs would change.
STAGE_VERSIONS = {"teacher": 1, "generate": 1, "filter": 1, "transform": 1, "train": 1, "evaluate": 1}


@dataclass(frozen=True)
class Artifact:
    """A finished artifact: its stage, key, folder and manifest."""

    stage: str
    key: str
    path: Path
    manifest: dict[str, Any]

    @property
    def ref(self) -> str:
        """``stage/key``, how manifests and reports name it."""
        return f"{self.stage}/{self.key}"


Producer = Callable[[Path, Path], dict[str, Any]]


class ArtifactStore:
    """Artifacts under one root folder (a run directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def key(self, stage: str, config: dict[str, Any], inputs: dict[str, str]) -> str:
        """The content address of a stage run."""
        text = json.dumps({"stage": stage, "version": STAGE_VERSIONS.get(stage, 1), "config": config,
                           "inputs": inputs}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def path(self, stage: str, key: str) -> Path:
        """Where a finished artifact lives."""
        return self.root / "artifacts" / stage / key

    def get(self, stage: str, key: str) -> Artifact | None:
        """The finished artifact, or ``None``."""
        folder = self.path(stage, key)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            return None
        return Artifact(stage, key, folder, json.loads(manifest.read_text()))

    def build(self, stage: str, config: dict[str, Any], inputs: dict[str, Artifact | str], producer: Producer
              ) -> Artifact:
        """Return the artifact for (stage, config, inputs), producing it only if it is not finished yet.

        ``producer(out_dir, work_dir)`` fills ``out_dir`` and returns counts/notes for the manifest; ``work_dir``
        persists across interrupted attempts for resumable progress.
        """
        input_refs = {name: (a.ref if isinstance(a, Artifact) else str(a)) for name, a in inputs.items()}
        key = self.key(stage, config, input_refs)
        done = self.get(stage, key)
        if done is not None:
            return done
        final = self.path(stage, key)
        work = self.root / "work" / stage / key
        work.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        started = time.time()
        try:
            info = producer(tmp, work)
            manifest = {"stage": stage, "key": key, "config": config, "inputs": input_refs,
                        "code_version": __version__, "stage_version": STAGE_VERSIONS.get(stage, 1),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "seconds": round(time.time() - started, 3), **info}
            atomic_write_json(tmp / "manifest.json", manifest)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        return Artifact(stage, key, final, manifest)
