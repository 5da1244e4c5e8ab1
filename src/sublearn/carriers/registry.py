"""Carriers by ``kind``. The registry finds them itself: every module of :mod:`sublearn.carriers` with a
``CARRIER`` is one, so a new carrier is its settings class in the spec (``config/carrier.py``) and one module
here, with no list to extend."""

from __future__ import annotations

import sublearn.carriers as package
from sublearn.carriers.base import Carrier
from sublearn.util.discovery import discover


def _discovered() -> dict[str, Carrier]:
    """Every module's ``CARRIER``, by kind (this module, mid-import, has none)."""
    return dict(sorted(discover(package, "CARRIER", "carrier").items()))


#: Every carrier, by kind.
CARRIERS: dict[str, Carrier] = _discovered()


def carrier_for(kind: str) -> Carrier:
    """The carrier of a ``carrier.kind``."""
    return CARRIERS[kind]
