"""Content-addressed artifacts with manifests, written atomically, so runs resume and numbers trace back.

An artifact is a folder ``ROOT/artifacts/STAGE/KEY`` holding its data and a ``manifest.json``; ``KEY`` is a hash
of the stage, its configuration, the keys of its inputs and the stage's version (bumped, with the reason, when a
change alters what the stage makes: :mod:`sublearn.pipeline.keys`). Other code changes are not in the key: the
manifest records the fingerprint of the code that built it, and reusing an artifact built by other code says so.

The manifest also records each data file's size and sha256, both checked whenever an artifact is reused (a file is
hashed again only when its stat changed since it was last found right: :mod:`~sublearn.pipeline.run_index`), and
by ``sublearn verify RUN``, which also finds artifacts deleted or rewritten whole since the run recorded them.
A folder is only ever renamed into place once complete and flushed to the disk, so a killed run (or a power loss)
leaves no half-written artifact; long stages keep resumable partial progress in ``ROOT/work/STAGE/KEY`` until they
finish.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn import __version__
from sublearn.analysis.records import as_dict, parse_cell_report
from sublearn.pipeline.integrity import (
    MANIFEST,
    StoreError,
    code_fingerprint,
    file_table,
    fsync_path,
    fsync_tree,
    hash_problems,
    size_problems,
)
from sublearn.pipeline.keys import STAGE_VERSIONS, artifact_key, stage_version
from sublearn.pipeline.remote import RemoteMirror
from sublearn.pipeline.run_index import RunIndex, present
from sublearn.util.atomic import atomic_write_json
from sublearn.util.errors import DataError
from sublearn.util.jsonl import read_json
from sublearn.util.locks import exclusive_lock

LOG = logging.getLogger(__name__)


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


#: Topics already noted in this process (see ``ArtifactStore._note_once``).
_NOTED: set[str] = set()


def _stderr_note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def _move_away(path: Path) -> str:
    return f"move it away (mv {path} {path}.bad) and rerun to rebuild it"


class ArtifactStore:
    """Artifacts under one root folder (a run directory), optionally mirrored to a shared ``remote``.

    ``remote`` is any fsspec URL (``s3://bucket/run``, ``file:///shared/run``, ...) for workers that share no
    folder: a finished artifact is uploaded with its manifest last (the manifest marks it complete), and an
    artifact another worker finished is downloaded into the local root before use. Building an artifact holds an
    exclusive lock (``fcntl.flock`` on ``ROOT/locks``, released by the OS if the process dies), so workers that
    share the root never build the same artifact twice at once.
    """

    def __init__(self, root: str | Path, remote: str | None = None,
                 note: Callable[[str], None] = _stderr_note) -> None:
        self.root = Path(root)
        self.remote = remote.rstrip("/") if remote else None
        self.mirror = RemoteMirror(self.remote) if self.remote else None
        self.note = note
        self.index = RunIndex(self.root)

    def _note_once(self, topic: str, message: str) -> None:
        """Say ``message`` once per process and run folder (planning opens one store per cell)."""
        topic = f"{self.root.resolve()}:{topic}"
        if topic not in _NOTED:
            _NOTED.add(topic)
            self.note(message)

    def _write_json(self, relative: str, obj: Any) -> None:
        """Write ``ROOT/relative`` atomically, and mirror it to the remote when there is one."""
        local = atomic_write_json(self.root / relative, obj)
        if self.mirror:
            self.mirror.put(local, relative)

    # --- cell reports ---------------------------------------------------------------------------------------
    def read_cell_report(self, cell_id: str) -> dict[str, Any] | None:
        """A finished cell's report (from the remote when there is one), or ``None``; a corrupt one is a
        :class:`StoreError` naming it."""
        recover = "delete it and rerun to run the cell again (finished stages are reused)"
        relative = f"cells/{cell_id}/report.json"
        if self.mirror:
            report = self.mirror.read_json(relative, recover)
        else:
            try:
                report = read_json(self.root / relative, recover, missing_ok=True)
            except DataError as exc:
                raise StoreError(str(exc)) from exc
        if report is None:
            return None
        try:
            parsed = parse_cell_report(report, relative)
        except DataError as exc:
            raise StoreError(f"{exc}; {recover}") from exc
        if parsed.cell != cell_id or "arms" not in report:
            raise StoreError(f"{relative}: not the report of cell {cell_id}; {recover}")
        return as_dict(parsed)

    def set_aside_cell_report(self, cell_id: str) -> Path:
        """Move a (corrupt) local cell report out of the way, so that the cell runs again; returns where it went."""
        path = self.root / "cells" / cell_id / "report.json"
        aside = path.with_name(f"report.corrupt-{time.strftime('%Y%m%dT%H%M%S')}.json")
        if path.exists():
            os.replace(path, aside)
        if self.mirror:
            self.mirror.remove(f"cells/{cell_id}/report.json")
        return aside

    def write_cell_report(self, cell_id: str, report: dict[str, Any]) -> None:
        """Record a finished cell (atomically; uploaded to the remote when there is one)."""
        relative = f"cells/{cell_id}/report.json"
        self._write_json(relative, as_dict(parse_cell_report(report, relative)))

    def start_attempt(self, cell_id: str) -> str:
        """Record that a process starts running a cell (``cells/ID/attempts/N.json``: host, pid, time)."""
        attempt = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._write_attempt(cell_id, attempt, {"attempt": attempt, "host": socket.gethostname(),
                                               "pid": os.getpid(), "started": time.time(), "finished": None})
        return attempt

    def finish_attempt(self, cell_id: str, attempt: str) -> None:
        """Mark an attempt finished (its cell report is written)."""
        path = self.root / "cells" / cell_id / "attempts" / f"{attempt}.json"
        record = read_json(path)
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
        """The finished artifact (downloaded from the remote if only it has it), or ``None``. Its manifest must
        be its own and its files the sizes it records; otherwise a :class:`StoreError` says how to recover."""
        folder = self.path(stage, key)
        if not (folder / MANIFEST).is_file():
            if not self.mirror:
                return None
            folder.parent.mkdir(parents=True, exist_ok=True)
            if not self.mirror.download(stage, key, folder,
                                        lambda tmp, where: self._read_manifest(tmp, stage, key, where)):
                return None
        manifest = self._read_manifest(folder, stage, key)
        table = manifest.get("files")
        if table is None:
            self._note_once("legacy", f"some artifacts of {self.root} (first: {stage}/{key}) were built before "
                            "manifests recorded file sizes and hashes; their files cannot be checked")
        else:
            edited = self.index.manifest_problem(f"{stage}/{key}", folder / MANIFEST)
            problems = ([edited] if edited else size_problems(folder, table)) or self.index.hash_problems(
                f"{stage}/{key}", folder, table)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise StoreError(f"{folder}: {problems[0]}{more}: the artifact changed after it was built; "
                                 f"{_move_away(folder)}")
        built_by = manifest.get("code_fingerprint")
        if built_by is not None and built_by != code_fingerprint():
            self._note_once(f"code:{stage}", f"reusing {stage} artifacts built by other code (fingerprint {built_by}, "
                            f"now {code_fingerprint()}); their keys cover stage versions, not every code change. "
                            f"Use a fresh --out to rebuild them with this code")
        return Artifact(stage, key, folder, manifest)

    def _read_manifest(self, folder: Path, stage: str, key: str, where: str | None = None) -> dict[str, Any]:
        """An artifact's manifest, which must be valid JSON and describe that very artifact."""
        where = where or str(folder)
        try:
            manifest = read_json(folder / MANIFEST, _move_away(folder))
        except DataError as exc:
            raise StoreError(str(exc)) from exc
        if not isinstance(manifest, dict) or manifest.get("stage") != stage or manifest.get("key") != key:
            raise StoreError(f"{where}/{MANIFEST}: not the manifest of {stage}/{key}; {_move_away(folder)}")
        if stage in STAGE_VERSIONS and manifest.get("stage_version") == stage_version(stage) and artifact_key(
                stage, manifest.get("config", {}), manifest.get("inputs", {})) != key:
            raise StoreError(f"{where}/{MANIFEST}: its config or inputs were edited (they hash to another key than "
                             f"{key}); {_move_away(folder)}")
        return manifest

    def artifacts(self) -> list[tuple[str, str]]:
        """(stage, key) of every artifact folder in the local root (finished or not)."""
        base = self.root / "artifacts"
        if not base.is_dir():
            return []
        return [(s.name, k.name) for s in sorted(base.iterdir()) if s.is_dir()
                for k in sorted(s.iterdir()) if k.is_dir() and not k.name.startswith(".")]

    def verify(self, hashes: bool = True) -> dict[str, list[str]]:
        """Check every local artifact (manifest, file sizes, and with ``hashes`` their sha256) and the run's index
        (an artifact it lists whose folder is gone; a manifest rewritten since it was built); returns
        ``{stage/key: problems}`` for every artifact with any, and leftovers of interrupted builds."""
        recorded = self.index.manifests()
        bad: dict[str, list[str]] = {ref: ["deleted: the run's index lists it, its folder or manifest is gone"]
                                     for ref in recorded if not present(self.root, ref)}
        for stage, key in self.artifacts():
            folder = self.path(stage, key)
            if not (folder / MANIFEST).is_file():
                bad[f"{stage}/{key}"] = ["no manifest (an interrupted copy); the next run moves it aside"]
                continue
            try:
                manifest = self._read_manifest(folder, stage, key)
            except StoreError as exc:
                bad[f"{stage}/{key}"] = [str(exc)]
                continue
            table = manifest.get("files")
            if table is None:
                bad[f"{stage}/{key}"] = ["no file sizes or hashes in its manifest (built by an older sublearn)"]
                continue
            edited = self.index.manifest_problem(f"{stage}/{key}", folder / MANIFEST)
            problems = [edited] if edited else []
            problems += hash_problems(folder, table) if hashes else size_problems(folder, table)
            if problems:
                bad[f"{stage}/{key}"] = problems
        return bad

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
            LOG.debug("%s/%s: finished already, reused", stage, key)
            return done
        with exclusive_lock(self.root / "locks" / f"{stage}-{key}.lock"):
            done = self.get(stage, key)  # finished by another worker while this one waited
            if done is not None:
                LOG.debug("%s/%s: finished by another worker, reused", stage, key)
                return done
            LOG.info("%s/%s: building (inputs %s)", stage, key, ", ".join(input_refs.values()) or "none")
            return self._produce(stage, key, config, input_refs, producer)

    def _produce(self, stage: str, key: str, config: dict[str, Any], input_refs: dict[str, str],
                 producer: Producer) -> Artifact:
        final = self.path(stage, key)
        if final.exists():  # a folder without a manifest: an interrupted copy, or a manifest deleted by hand
            aside = final.parent / f".orphan-{key}-{uuid.uuid4().hex[:8]}"
            os.rename(final, aside)
            self.note(f"{final} had no manifest; moved it to {aside} and building it again")
            LOG.warning("%s had no manifest; moved it to %s and building it again", final, aside)
        work = self.root / "work" / stage / key
        work.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        started = time.time()
        try:
            info = producer(tmp, work)
            fsync_tree(tmp)  # the data is on the disk before the manifest says the artifact is complete
            manifest = {"stage": stage, "key": key, "config": config, "inputs": input_refs,
                        "code_version": __version__, "code_fingerprint": code_fingerprint(),
                        "stage_version": stage_version(stage),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "seconds": round(time.time() - started, 3), **info, "files": file_table(tmp)}
            atomic_write_json(tmp / MANIFEST, manifest)
            os.rename(tmp, final)
            fsync_path(final.parent)
            self.index.record_manifest(f"{stage}/{key}", final / MANIFEST)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            LOG.info("%s/%s: not built (%s); its resumable work stays in %s", stage, key, type(exc).__name__, work)
            raise
        LOG.info("%s/%s: built in %.1f s", stage, key, manifest["seconds"])
        shutil.rmtree(work, ignore_errors=True)
        if self.mirror:
            self.mirror.upload(stage, key, final)
        return Artifact(stage, key, final, manifest)
