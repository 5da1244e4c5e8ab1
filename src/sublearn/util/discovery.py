"""Registries that find their entries themselves: every module of a package that defines a given name."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def discover(package: ModuleType, name: str, what: str) -> dict[str, Any]:
    """Each module of ``package`` whose ``name`` is set, by that object's ``kind``; two modules of one kind are
    refused (``what`` names the entries in that error). Modules without ``name`` are helpers and are skipped."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(package.__path__):
        entry = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), name, None)
        if entry is None:
            continue
        if entry.kind in found:
            raise RuntimeError(f"{what} kind {entry.kind!r}: defined by two modules")
        found[entry.kind] = entry
    return found
