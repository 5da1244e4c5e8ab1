"""The spec's ``defence`` section: one of the registered defences' settings, chosen by ``kind``
(:mod:`sublearn.defences`). Every kind, its settings and what it costs: docs/reference/spec.md and
docs/audit-and-defence.md."""

from __future__ import annotations

from sublearn.config.unions import kind_union
from sublearn.defences.registry import DEFAULT_KIND, DEFENCE_SETTINGS

DefenceConfig = kind_union(*DEFENCE_SETTINGS, default=DEFAULT_KIND)
