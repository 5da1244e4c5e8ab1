"""Defences by ``kind``: the registry the spec, the pipeline, the keys and the analysis ask. It finds them itself:
every module of :mod:`sublearn.defences.kinds` with a ``DEFENCE`` (a :class:`~sublearn.defences.base.Defence`)
is one, so adding a defence is one module (its settings class, what it does, what it costs) and its test."""

from __future__ import annotations

import sublearn.defences.kinds as package
from sublearn.defences.base import Defence, DefenceSettings
from sublearn.util.discovery import discover

#: The kind a spec without a ``defence`` section gets.
DEFAULT_KIND = "none"


def _discovered() -> dict[str, Defence]:
    """Every module's ``DEFENCE``, the default first, then by kind."""
    found: dict[str, Defence] = {k: d for k, d in discover(package, "DEFENCE", "defence").items()
                                 if isinstance(d, Defence)}
    return {k: found[k] for k in sorted(found, key=lambda k: (k != DEFAULT_KIND, k))}


#: Every defence, the default (no defence) first.
DEFENCES: dict[str, Defence] = _discovered()
#: Their settings classes, in the same order (the spec's ``defence`` section is one of them, chosen by ``kind``).
DEFENCE_SETTINGS: tuple[type[DefenceSettings], ...] = tuple(d.settings for d in DEFENCES.values())


def defence_for(settings: DefenceSettings) -> Defence:
    """The defence of a spec's ``defence`` section."""
    return DEFENCES[settings.kind]
