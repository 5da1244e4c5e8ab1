"""What makes a stored artifact trustworthy: each file's size and sha256 in its manifest, the fingerprint of the
code that built it, and writes that reach the disk before the manifest says the artifact is complete."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from sublearn.util.atomic import fsync_path, fsync_tree
from sublearn.util.errors import DataError
from sublearn.util.hashing import file_sha256

MANIFEST = "manifest.json"
__all__ = ["MANIFEST", "StoreError", "code_fingerprint", "data_files", "file_table", "fsync_path", "fsync_tree",
           "hash_problems", "size_problems"]


class StoreError(DataError):
    """An artifact or record of a run folder is corrupt, changed or incomplete; the message says how to recover."""


def data_files(folder: Path) -> list[Path]:
    """An artifact's files other than its manifest, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST)


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"bytes", "sha256"}}`` of an artifact's data files."""
    return {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in data_files(folder)}


def size_problems(folder: Path, table: dict[str, dict[str, Any]]) -> list[str]:
    """Files missing, added or of another size than the manifest records (cheap: no hashing)."""
    problems = []
    present = {p.relative_to(folder).as_posix(): p for p in data_files(folder)}
    for name, entry in table.items():
        path = present.pop(name, None)
        if path is None:
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{name} is {path.stat().st_size:,} bytes, the manifest says {entry['bytes']:,}")
    problems += [f"{name} is not in the manifest" for name in sorted(present)]
    return problems


def hash_problems(folder: Path, table: dict[str, dict[str, Any]]) -> list[str]:
    """Size problems, and files whose sha256 differs from the manifest's."""
    problems = size_problems(folder, table)
    if problems:
        return problems
    return [f"{name} has another sha256 than the manifest records" for name, entry in table.items()
            if file_sha256(folder / name) != entry["sha256"]]


@cache
def code_fingerprint() -> str:
    """A hash of sublearn's own source files: two builds with the same fingerprint ran the same code."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
