"""Data by local path or URL: a URL is downloaded once into the cache (``$SUBLEARN_HOME/data``), atomically.

A source may end in ``#sha256=HEX``: the file (downloaded, cached or local) must then have that hash. A URL
without one is used as cached, and a note on stderr gives its hash to pin it with.
"""

from __future__ import annotations

import hashlib
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from sublearn.util.atomic import atomic_write_bytes
from sublearn.util.errors import DataError
from sublearn.util.hashing import file_sha256
from sublearn.util.home import data_dir


def is_url(source: str) -> bool:
    """Whether ``source`` names a remote file rather than a local one."""
    return "://" in source and not source.startswith("file://")


_PIN = re.compile(r"#sha256=([0-9a-fA-F]{64})$")
_NOTED: set[str] = set()


def split_pin(source: str, what: str) -> tuple[str, str | None]:
    """(the source without its ``#sha256=`` pin, the pinned hash or ``None``)."""
    if "#sha256=" not in source:
        return source, None
    match = _PIN.search(source)
    if match is None:
        raise DataError(f"{what}: {source}: '#sha256=' must be followed by 64 hex digits")
    return source[: match.start()], match.group(1).lower()


def local_file(source: str, what: str) -> Path:
    """A local path for ``source`` (a path, ``file://`` URL, or http(s)/fsspec URL downloaded once), checked
    against its ``#sha256=`` pin when it has one.

    ``what`` names the setting for the error message, e.g. ``carrier.source``.
    """
    source, pin = split_pin(source, what)
    path = _fetch(source, what, pin)
    digest = file_sha256(path)
    if pin is not None and digest != pin:
        raise DataError(f"{what}: {path}: sha256 is {digest}, not the pinned {pin}"
                        + ("; delete the cached copy to download it again" if is_url(source) else ""))
    if pin is None and is_url(source) and source not in _NOTED:
        _NOTED.add(source)
        print(f"note: {what}: {source} is used as cached in {path}; pin it with '#sha256={digest}'",
              file=sys.stderr, flush=True)
    return path


def _fetch(source: str, what: str, pin: str | None) -> Path:
    if source.startswith("file://"):
        source = source[len("file://"):]
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"{what}: {path}: file not found")
        return path
    name = source.rstrip("/").rsplit("/", 1)[-1] or "data"
    target = data_dir() / f"{hashlib.sha256(f'{source}#{pin}'.encode()).hexdigest()[:12]}-{name}"
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
