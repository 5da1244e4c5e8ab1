"""Carriers by ``kind``."""

from __future__ import annotations

from sublearn.carriers.base import Carrier
from sublearn.carriers.code import Code
from sublearn.carriers.cot import Cot
from sublearn.carriers.numbers import Numbers
from sublearn.carriers.random_numbers import RandomNumbers

CARRIERS: dict[str, Carrier] = {c.kind: c for c in (Numbers(), RandomNumbers(), Code(), Cot())}


def carrier_for(kind: str) -> Carrier:
    """The carrier of a ``carrier.kind``."""
    return CARRIERS[kind]
