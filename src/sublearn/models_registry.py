"""Models that sublearn installs into a user cache folder, addressable by short name (e.g. ``smollm2-135m``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where installed models live: ``$SUBLEARN_HOME/models`` or ``~/.cache/sublearn/models``."""
    home = os.environ.get("SUBLEARN_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sublearn"
    return base / "models"


def installed_path(name: str) -> Path | None:
    """The folder of an installed model called ``name``, or ``None``."""
    if "/" in name or os.sep in name:
        return None
    path = cache_dir() / name
    return path if (path / "config.json").is_file() else None
