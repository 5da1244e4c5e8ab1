"""Content-addressed artifacts with manifests, written atomically, so runs resume and numbers trace back.

An artifact is a folder ``ROOT/artifacts/STAGE/KEY`` holding its data and a ``manifest.json``; ``KEY`` is a hash
of the stage, its configuration, the keys of its inputs and the code version. A folder is only ever renamed
into place once complete, so a killed run leaves no half-written artifact; long stages keep resumable partial
progress in ``ROOT/work/STAGE/KEY`` until they finish.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn import __version__
from sublearn.pipeline.keys import artifact_key, stage_version
from sublearn.util.atomic import atomic_write_json


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
    """Artifacts under one root folder (a run directory), optionally mirrored to a shared ``remote``.

    ``remote`` is any fsspec URL (``s3://bucket/run``, ``file:///shared/run``, ...) for workers that share no
    folder: a finished artifact is uploaded with its manifest last (the manifest marks it complete), and an
    artifact another worker finished is downloaded into the local root before use. Building an artifact holds an
    exclusive lock (``fcntl.flock`` on ``ROOT/locks``, released by the OS if the process dies), so workers that
    share the root never build the same artifact twice at once.
    """

    def __init__(self, root: str | Path, remote: str | None = None) -> None:
        self.root = Path(root)
        self.remote = remote.rstrip("/") if remote else None
        self._fs: Any = None

    # --- the remote mirror ----------------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        """The remote's fsspec filesystem."""
        if self._fs is None:
            import fsspec

            self._fs, _ = fsspec.core.url_to_fs(self.remote)
        return self._fs

    def _remote_path(self, relative: str) -> str:
        import fsspec

        _, path = fsspec.core.url_to_fs(f"{self.remote}/{relative}")
        return str(path)

    def _download(self, stage: str, key: str) -> bool:
        remote_dir = self._remote_path(f"artifacts/{stage}/{key}")
        if not self.fs.exists(f"{remote_dir}/manifest.json"):
            return False
        tmp = self.path(stage, key).parent / f".dl-{key}-{uuid.uuid4().hex[:8]}"
        try:
            for remote_file in self.fs.find(remote_dir):
                local = tmp / remote_file[len(remote_dir) + 1:]
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote_file, str(local))
            with suppress(OSError):  # another process of this node got it first
                os.rename(tmp, self.path(stage, key))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True

    def _put(self, local: Path, relative: str) -> None:
        """Copy one local file to ``relative`` under the remote."""
        target = self._remote_path(relative)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), target)

    def _upload(self, folder: Path, relative: str) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in [p for p in files if p.name != "manifest.json"] + [folder / "manifest.json"]:
            self._put(path, f"{relative}/{path.relative_to(folder).as_posix()}")

    def _write_json(self, relative: str, obj: Any) -> None:
        """Write ``ROOT/relative`` atomically, and mirror it to the remote when there is one."""
        local = atomic_write_json(self.root / relative, obj)
        if self.remote:
            self._put(local, relative)

    # --- cell reports ---------------------------------------------------------------------------------------
    def read_cell_report(self, cell_id: str) -> dict[str, Any] | None:
        """A finished cell's report (from the remote when there is one), or ``None``."""
        if self.remote:
            path = self._remote_path(f"cells/{cell_id}/report.json")
            return json.loads(self.fs.cat_file(path)) if self.fs.exists(path) else None
        path = self.root / "cells" / cell_id / "report.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_cell_report(self, cell_id: str, report: dict[str, Any]) -> None:
        """Record a finished cell (atomically; uploaded to the remote when there is one)."""
        self._write_json(f"cells/{cell_id}/report.json", report)

    def start_attempt(self, cell_id: str) -> str:
        """Record that a process starts running a cell (``cells/ID/attempts/N.json``: host, pid, time)."""
        attempt = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._write_attempt(cell_id, attempt, {"attempt": attempt, "host": socket.gethostname(),
                                               "pid": os.getpid(), "started": time.time(), "finished": None})
        return attempt

    def finish_attempt(self, cell_id: str, attempt: str) -> None:
        """Mark an attempt finished (its cell report is written)."""
        path = self.root / "cells" / cell_id / "attempts" / f"{attempt}.json"
        record = json.loads(path.read_text())
        record["finished"] = time.time()
        self._write_attempt(cell_id, attempt, record)

    def _write_attempt(self, cell_id: str, attempt: str, record: dict[str, Any]) -> None:
        self._write_json(f"cells/{cell_id}/attempts/{attempt}.json", record)

    # --- artifacts ------------------------------------------------------------------------------------------
    def key(self, stage: str, config: dict[str, Any], inputs: dict[str, str]) -> str:
        """The content address of a stage run."""
        return artifact_key(stage, config, inputs)

    def path(self, stage: str, key: str) -> Path:
        """Where a finished artifact lives (locally)."""
        return self.root / "artifacts" / stage / key

    def get(self, stage: str, key: str) -> Artifact | None:
        """The finished artifact (downloaded from the remote if only it has it), or ``None``."""
        folder = self.path(stage, key)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            if not self.remote:
                return None
            folder.parent.mkdir(parents=True, exist_ok=True)
            if not self._download(stage, key):
                return None
        return Artifact(stage, key, folder, json.loads(manifest.read_text()))

    @contextmanager
    def _lock(self, stage: str, key: str) -> Iterator[None]:
        lock_dir = self.root / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with (lock_dir / f"{stage}-{key}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

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
        with self._lock(stage, key):
            done = self.get(stage, key)  # finished by another worker while this one waited
            if done is not None:
                return done
            return self._produce(stage, key, config, input_refs, producer)

    def _produce(self, stage: str, key: str, config: dict[str, Any], input_refs: dict[str, str],
                 producer: Producer) -> Artifact:
        final = self.path(stage, key)
        work = self.root / "work" / stage / key
        work.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        started = time.time()
        try:
            info = producer(tmp, work)
            manifest = {"stage": stage, "key": key, "config": config, "inputs": input_refs,
                        "code_version": __version__, "stage_version": stage_version(stage),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "seconds": round(time.time() - started, 3), **info}
            atomic_write_json(tmp / "manifest.json", manifest)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        if self.remote:
            self._upload(final, f"artifacts/{stage}/{key}")
        return Artifact(stage, key, final, manifest)
