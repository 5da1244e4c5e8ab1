"""The run folder's own record of its artifacts, beside the artifacts themselves.

- ``RUN/index/manifests.json``: each finished artifact (``stage/key``) and the sha256 of its manifest as it was
  written. An artifact folder deleted later, or its data edited together with its manifest (so that the two agree
  with each other), no longer matches this record.
- ``RUN/index/verified.json``: each artifact file whose sha256 was checked against its manifest, with the size,
  times and inode it had then. A file whose stat still matches is not hashed again (a model of gigabytes is hashed
  once, not at every reuse); any replacement, even of the same size, changes its ctime and is hashed again.

Both are written atomically under a lock, so workers sharing the run folder can update them at once.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import Any

from sublearn.util.atomic import atomic_write_json
from sublearn.util.errors import DataError
from sublearn.util.hashing import file_sha256
from sublearn.util.jsonl import read_json
from sublearn.util.locks import exclusive_lock

INDEX_DIR = "index"


def _stat_entry(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


class RunIndex:
    """The manifests index and the verified-files cache of one run folder."""

    def __init__(self, root: Path) -> None:
        self.folder = root / INDEX_DIR
        self._verified: dict[str, dict[str, Any]] | None = None

    def _read(self, name: str) -> dict[str, Any]:
        try:
            doc = read_json(self.folder / name, missing_ok=True)
        except DataError:  # a damaged index starts again from what is found: it only ever adds checks
            return {}
        return doc if isinstance(doc, dict) else {}

    def _update(self, name: str, entries: dict[str, Any]) -> None:
        with exclusive_lock(self.folder / ".lock"):
            doc = self._read(name)
            doc.update(entries)
            atomic_write_json(self.folder / name, doc)

    # --- manifests ------------------------------------------------------------------------------------------
    def manifests(self) -> dict[str, str]:
        """``{stage/key: sha256 of its manifest}`` of every artifact the run recorded."""
        return {k: v for k, v in self._read("manifests.json").items() if isinstance(v, str)}

    def record_manifest(self, ref: str, manifest: Path) -> None:
        """Record a finished artifact's manifest."""
        self._update("manifests.json", {ref: file_sha256(manifest)})

    def manifest_problem(self, ref: str, manifest: Path) -> str | None:
        """Why ``ref``'s manifest is not the one the run recorded (``None``: it is, or the run recorded none, in
        which case it is recorded now: artifacts built before the index existed are trusted from here on)."""
        recorded = self.manifests().get(ref)
        now = file_sha256(manifest)
        if recorded is None:
            self._update("manifests.json", {ref: now})
            return None
        if recorded != now:
            return f"{manifest.name} is not the one written when it was built (the run's index records another sha256)"
        return None

    # --- verified files -------------------------------------------------------------------------------------
    def hash_problems(self, ref: str, folder: Path, table: dict[str, dict[str, Any]]) -> list[str]:
        """Files of ``folder`` whose sha256 differs from ``table`` (the manifest's), hashing only files whose stat
        changed since they were last found right."""
        if self._verified is None:
            self._verified = self._read("verified.json")
        problems, checked = [], {}
        for name, entry in table.items():
            path = folder / name
            stat = _stat_entry(path)
            key = f"{ref}/{name}"
            known = self._verified.get(key)
            if known is not None and known.get("stat") == stat and known.get("sha256") == entry["sha256"]:
                continue
            if file_sha256(path) != entry["sha256"]:
                problems.append(f"{name} has another sha256 than the manifest records")
            else:
                checked[key] = {"stat": stat, "sha256": entry["sha256"]}
        if checked:
            self._verified.update(checked)
            with suppress(OSError):  # a read-only run folder: the files were checked, only not remembered
                self._update("verified.json", checked)
        return problems


def present(root: Path, ref: str) -> bool:
    """Whether the artifact ``ref`` has a folder with a manifest under ``root``."""
    return os.path.isfile(root / "artifacts" / ref / "manifest.json")
