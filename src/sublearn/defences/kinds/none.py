"""No defence: the students train on what their teacher gave."""

from __future__ import annotations

from typing import ClassVar, Literal

from sublearn.defences.base import Channel, Defence, DefenceSettings


class NoDefenceSettings(DefenceSettings):
    """No defence (the default)."""

    kind: Literal["none"] = "none"


class NoDefence(Defence):
    kind = "none"
    settings = NoDefenceSettings
    channels: ClassVar[tuple[Channel, ...]] = ()
    cost = "nothing"


#: This module's defence (found by the registry).
DEFENCE = NoDefence()
