"""A request cache for API calls: one JSON file per request, keyed by a hash of the request, written atomically.

A rerun costs nothing, and an interrupted run resumes from the requests that were answered. The API key is never
part of a request body, so it never reaches the cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sublearn.util.atomic import atomic_write_json


def request_key(endpoint: str, body: dict[str, Any]) -> str:
    """The cache key of a request: sha256 of the endpoint (server) and the canonical JSON body."""
    text = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class RequestCache:
    """Responses by request key under ``root`` (``root/ab/abcdef....json``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response, or ``None`` (a corrupt entry counts as missing)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["response"]
        except (ValueError, KeyError):
            return None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store a response with its request (atomically)."""
        atomic_write_json(self._path(key), {"request": request, "response": response})

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
