"""Data by local path or URL: a URL is downloaded once into the cache (``$SUBLEARN_HOME/data``), atomically."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from sublearn.util.atomic import atomic_write_bytes
from sublearn.util.errors import DataError
from sublearn.util.home import data_dir


def is_url(source: str) -> bool:
    """Whether ``source`` names a remote file rather than a local one."""
    return "://" in source and not source.startswith("file://")


def local_file(source: str, what: str) -> Path:
    """A local path for ``source`` (a path, ``file://`` URL, or http(s)/fsspec URL downloaded once).

    ``what`` names the setting for the error message, e.g. ``carrier.source``.
    """
    if source.startswith("file://"):
        source = source[len("file://"):]
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"{what}: {path}: file not found")
        return path
    name = source.rstrip("/").rsplit("/", 1)[-1] or "data"
    target = data_dir() / f"{hashlib.sha256(source.encode()).hexdigest()[:12]}-{name}"
    if target.is_file():
        return target
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=60) as response:
                data = response.read()
        else:
            import fsspec

            with fsspec.open(source, "rb") as handle:
                data = handle.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"{what}: cannot download {source} ({exc}); on a machine without network, download it "
                        "elsewhere and give its local path") from exc
    atomic_write_bytes(target, data)
    return target
