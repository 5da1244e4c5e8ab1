"""Carriers by ``kind``. The registry finds them itself: every module of :mod:`sublearn.carriers` with a
``CARRIER`` is one, so a new carrier is its settings class in the spec (``config/carrier.py``) and one module
here, with no list to extend."""

from __future__ import annotations

import importlib
import pkgutil

import sublearn.carriers as package
from sublearn.carriers.base import Carrier


def _discovered() -> dict[str, Carrier]:
    """Every module's ``CARRIER``, by kind."""
    found: dict[str, Carrier] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "registry":
            continue
        carrier = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "CARRIER", None)
        if carrier is None:
            continue
        if carrier.kind in found:
            raise RuntimeError(f"carrier kind {carrier.kind!r}: defined by two modules")
        found[carrier.kind] = carrier
    return dict(sorted(found.items()))


#: Every carrier, by kind.
CARRIERS: dict[str, Carrier] = _discovered()


def carrier_for(kind: str) -> Carrier:
    """The carrier of a ``carrier.kind``."""
    return CARRIERS[kind]
