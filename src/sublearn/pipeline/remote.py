"""A run's remote mirror (any fsspec URL: ``s3://bucket/run``, ``file:///shared/run``, ...), for workers that share
no folder: finished artifacts are published there with their manifest last, claimed before they are uploaded,
and checked against their manifest's hashes when they are downloaded."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from sublearn.pipeline.integrity import MANIFEST, StoreError, data_files, fsync_tree, hash_problems

#: A claim on a remote artifact older than this is abandoned (its worker died mid-upload) and may be taken over.
CLAIM_TTL_S = 6 * 3600.0


class RemoteMirror:
    """The remote copy of one run folder."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.build_id = uuid.uuid4().hex  # this process's claims
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        """The remote's fsspec filesystem."""
        if self._fs is None:
            import fsspec

            self._fs, _ = fsspec.core.url_to_fs(self.url)
        return self._fs

    def path(self, relative: str) -> str:
        """The filesystem path of ``relative`` under the remote."""
        import fsspec

        _, path = fsspec.core.url_to_fs(f"{self.url}/{relative}")
        return str(path)

    def exists(self, relative: str) -> bool:
        """Whether ``relative`` exists on the remote."""
        return bool(self.fs.exists(self.path(relative)))

    def put(self, local: Path, relative: str) -> None:
        """Copy one local file to ``relative`` under the remote."""
        target = self.path(relative)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), target)

    def read_json(self, relative: str, recover: str) -> Any:
        """A remote JSON file, or ``None`` when it does not exist; a corrupt one is a :class:`StoreError`."""
        if not self.exists(relative):
            return None
        try:
            return json.loads(self.fs.cat_file(self.path(relative)))
        except ValueError as exc:
            raise StoreError(f"{self.url}/{relative}: corrupt ({exc}); {recover}") from exc

    def remove(self, relative: str) -> None:
        """Delete a remote file if it is there."""
        with suppress(OSError, FileNotFoundError):
            self.fs.rm_file(self.path(relative))

    def download(self, stage: str, key: str, target: Path, read_manifest: Callable[[Path, str], dict[str, Any]]
                 ) -> bool:
        """Fetch a finished artifact into ``target``, every file checked against its manifest first (read with
        ``read_manifest(folder, where)``); ``False`` when the remote has none."""
        relative = f"artifacts/{stage}/{key}"
        if not self.exists(f"{relative}/{MANIFEST}"):
            return False
        remote_dir = self.path(relative)
        tmp = target.parent / f".dl-{key}-{uuid.uuid4().hex[:8]}"
        try:
            for remote_file in self.fs.find(remote_dir):
                local = tmp / remote_file[len(remote_dir) + 1:]
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote_file, str(local))
            manifest = read_manifest(tmp, f"{self.url}/{relative}")
            problems = hash_problems(tmp, manifest.get("files", {}))
            if problems:
                raise StoreError(f"{self.url}/{relative}: {'; '.join(problems[:3])}: its files do not match its "
                                 "manifest (an upload cut off, or two workers uploading at once); delete it on the "
                                 "remote and rerun to rebuild it")
            fsync_tree(tmp)
            with suppress(OSError):  # another process of this node got it first
                os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True

    def claim(self, stage: str, key: str) -> bool:
        """Claim the right to publish an artifact (``claims/STAGE-KEY.json``); ``False`` when it is published
        already or another live worker holds the claim. A race between two claims can still let both upload;
        downloads check every hash, so a mixed artifact is refused, never used."""
        if self.exists(f"artifacts/{stage}/{key}/{MANIFEST}"):
            return False
        relative = f"claims/{stage}-{key}.json"
        try:
            held = self.read_json(relative, "")
        except StoreError:
            held = None  # an unreadable claim is taken over
        if isinstance(held, dict) and held.get("build") != self.build_id \
                and time.time() - float(held.get("time", 0)) < CLAIM_TTL_S:
            return False
        claim = self.path(relative)
        self.fs.makedirs(claim.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(claim, json.dumps({"build": self.build_id, "host": socket.gethostname(),
                                             "pid": os.getpid(), "time": time.time()}).encode())
        return (self.read_json(relative, "") or {}).get("build") == self.build_id

    def upload(self, stage: str, key: str, folder: Path) -> bool:
        """Publish a finished artifact (data first, the manifest last) unless another worker has or is publishing
        it; returns whether this process published it."""
        if not self.claim(stage, key):
            return False
        relative = f"artifacts/{stage}/{key}"
        for path in [*data_files(folder), folder / MANIFEST]:
            self.put(path, f"{relative}/{path.relative_to(folder).as_posix()}")
        self.remove(f"claims/{stage}-{key}.json")
        return True
