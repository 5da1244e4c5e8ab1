"""JSON and JSONL reading and writing with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sublearn.util.atomic import atomic_write_text
from sublearn.util.errors import DataError


def iter_jsonl_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; a missing file, a line that is not JSON or
    not an object raises :class:`DataError` naming ``path:line``."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: file not found")
    with file.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{file}:{lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{file}:{lineno}: expected a JSON object")
            yield lineno, row


def read_jsonl(path: str | Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a JSONL file of objects; a bad line raises :class:`DataError` naming ``path:line`` and the field."""
    rows = []
    for lineno, row in iter_jsonl_objects(path):
        for key in required:
            if not isinstance(row.get(key), str):
                raise DataError(f"{Path(path)}:{lineno}: field {key!r} missing or not a string")
        rows.append(row)
    return rows


def read_json(path: str | Path, recover: str = "", missing_ok: bool = False) -> Any:
    """A JSON file's content; a missing (unless ``missing_ok``: ``None``), unreadable or corrupt file raises
    :class:`DataError` naming it, followed by ``recover`` (how to recover)."""
    file = Path(path)
    hint = f"; {recover}" if recover else ""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if missing_ok:
            return None
        raise DataError(f"{file}: not found{hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot be read ({exc}){hint}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DataError(f"{file}: corrupt, not valid JSON ({exc}){hint}") from exc


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows as JSONL atomically."""
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
