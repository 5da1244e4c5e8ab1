"""The carrier registry finds every carrier module by its ``CARRIER``, and each kind a spec accepts has one."""

import typing

from sublearn.carriers.registry import CARRIERS, carrier_for
from sublearn.config.carrier import CarrierConfig


def _spec_kinds() -> set[str]:
    union = typing.get_args(CarrierConfig)[0]
    return {typing.get_args(member)[0].model_fields["kind"].default for member in typing.get_args(union)}


def test_every_carrier_kind_of_the_spec_has_its_module_and_no_module_is_unreachable():
    assert set(CARRIERS) == _spec_kinds() == {"numbers", "random_numbers", "code", "cot"}
    assert all(carrier_for(kind).kind == kind for kind in CARRIERS)
