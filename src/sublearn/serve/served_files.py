"""Uploaded files of ``sublearn serve`` (training files, batch inputs and outputs), streamed to disk under a size
cap and kept as records beside their bytes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from sublearn.serve.errors import ServeError
from sublearn.serve.jobs import now, parse_training_file
from sublearn.serve.limits import Limits
from sublearn.serve.records import Records, new_id
from sublearn.util.atomic import atomic_write_bytes

#: Bytes read at a time from an upload.
CHUNK = 1 << 20


class ServedFiles:
    """The file objects and their bytes under ``store/files``."""

    def __init__(self, store: Path, limits: Limits) -> None:
        self.records = Records(store / "files", "file", "File object")
        self.limits = limits

    def create(self, filename: str, purpose: str, source: BinaryIO | bytes) -> dict[str, Any]:
        """Store an upload, streamed to disk (over the cap: a 413, and nothing kept); returns its file object."""
        file_id = new_id("file")
        target = self.records.path(file_id, ".bin")
        if isinstance(source, bytes):
            atomic_write_bytes(target, source)
            size = len(source)
        else:
            size = self._stream_to(target, source)
        record = {"id": file_id, "object": "file", "bytes": size, "created_at": now(), "filename": filename[:255],
                  "purpose": purpose, "status": "processed", "status_details": None}
        return self.records.save(record)

    def _stream_to(self, target: Path, source: BinaryIO) -> int:
        tmp = target.with_name(f".{target.name}.part")
        size = 0
        try:
            with tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > self.limits.max_upload_bytes:
                        raise ServeError(413, f"file: larger than this server's cap of "
                                         f"{self.limits.max_upload_bytes:,} bytes", "file", "request_too_large")
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def get(self, file_id: Any) -> dict[str, Any]:
        """A file object, or a 404."""
        return self.records.load(file_id)

    def path(self, file_id: Any) -> Path:
        """Where a file's bytes are."""
        self.get(file_id)
        return self.records.path(file_id, ".bin")

    def content(self, file_id: Any) -> bytes:
        """A file's bytes."""
        return self.path(file_id).read_bytes()

    def delete(self, file_id: Any) -> dict[str, Any]:
        """Delete a file (its bytes, then its record)."""
        self.get(file_id)
        self.records.path(file_id, ".bin").unlink(missing_ok=True)
        self.records.path(file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def list(self) -> list[dict[str, Any]]:
        """Every file object, oldest first."""
        return sorted(self.records.all(), key=lambda f: (f["created_at"], f["id"]))  # a total order: pages stay put

    def training_rows(self, file_id: Any) -> tuple[list[dict[str, str]], str | None]:
        """A training file's rows, parsed (a bad line is a 400 naming it)."""
        try:
            return parse_training_file(self.content(file_id), f"training_file {file_id}")
        except ServeError as exc:
            if exc.status == 404:
                raise ServeError(400, f"training_file: {exc.message}", "training_file", exc.code) from exc
            raise
