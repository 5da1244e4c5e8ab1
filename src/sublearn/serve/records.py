"""The server's files, jobs and batches: one JSON record each, by an id of the server's own shape (a client's id
never becomes a path), written atomically; a corrupt record is skipped and named, never fatal."""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from sublearn.serve.errors import ServeError
from sublearn.util.atomic import atomic_write_json

_ID = {prefix: re.compile(rf"^{prefix}-[0-9a-f]{{24}}$") for prefix in ("file", "ftjob", "batch")}


def new_id(prefix: str) -> str:
    """A fresh id: ``PREFIX-`` and 24 hex digits."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


class Records:
    """One kind of record (``files``, ``jobs``, ``batches``) in ``folder``."""

    def __init__(self, folder: Path, prefix: str, what: str, param: str = "id") -> None:
        self.folder, self.prefix, self.what, self.param = folder, prefix, what, param
        folder.mkdir(parents=True, exist_ok=True)
        self.reported: set[Path] = set()

    def path(self, record_id: Any, suffix: str = ".json") -> Path:
        """Where a record (or its data) lives; an id not of this server's shape is a 404, not a path."""
        if not isinstance(record_id, str) or not _ID[self.prefix].match(record_id):
            raise ServeError(404, f"No such {self.what}: {str(record_id)[:80]!r}", self.param, "not_found")
        return self.folder / f"{record_id}{suffix}"

    def load(self, record_id: Any) -> dict[str, Any]:
        """A record, or a 404; a corrupt one is a 409 naming it (the client cannot fix it; the operator can)."""
        path = self.path(record_id)
        if not path.is_file():
            raise ServeError(404, f"No such {self.what}: {record_id}", self.param, "not_found")
        record = self._read(path)
        if record is None:
            raise ServeError(409, f"{self.what} {record_id}: its record on the server is corrupt; ask the operator to "
                             "move it away, or create it again", self.param, "record_corrupt")
        return record

    def save(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a record atomically; returns it."""
        atomic_write_json(self.path(record["id"]), record)
        return record

    def all(self) -> list[dict[str, Any]]:
        """Every readable record (a corrupt one is reported once on stderr, with its path, and skipped)."""
        out = []
        for path in sorted(self.folder.glob(f"{self.prefix}-*.json")):
            record = self._read(path)
            if record is not None:
                out.append(record)
        return out

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or record.get("id") != path.stem:
                raise ValueError("not a record of this id")
            return record
        except (OSError, ValueError) as exc:
            if path not in self.reported:
                self.reported.add(path)
                print(f"sublearn serve: skipping {path}: corrupt {self.what} record ({exc}); move it away or "
                      "delete it", file=sys.stderr, flush=True)
            return None
