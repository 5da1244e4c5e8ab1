"""Where sublearn keeps what it installs or downloads: ``$SUBLEARN_HOME``, else ``~/.cache/sublearn``."""

from __future__ import annotations

import os
from pathlib import Path


def sublearn_home() -> Path:
    """The root of sublearn's cache: ``$SUBLEARN_HOME``, else ``$XDG_CACHE_HOME/sublearn`` (``~/.cache/sublearn``)."""
    home = os.environ.get("SUBLEARN_HOME")
    return Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sublearn"


def models_dir() -> Path:
    """Where installed models live (``sublearn models install``)."""
    return sublearn_home() / "models"


def data_dir() -> Path:
    """Where files named by URL are downloaded once."""
    return sublearn_home() / "data"


def serve_dir() -> Path:
    """The default store of ``sublearn serve`` (uploaded files, jobs, fine-tuned models)."""
    return sublearn_home() / "serve"


def installed_model(name: str) -> Path | None:
    """The folder of an installed model called ``name`` (a short name such as ``smollm2-135m``), or ``None``."""
    if "/" in name or os.sep in name:
        return None
    path = models_dir() / name
    return path if (path / "config.json").is_file() else None
