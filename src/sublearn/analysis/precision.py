"""No test on values below their error bound.

An exact readout is found by a pruned search: the true probability of an option lies in [value, value + bound],
where the bound is the largest probability mass the search pruned (``max_pruned_mass_any_animal``). A sampled
readout resolves one answer in ``n_samples``. Where a value a test uses is below its bound, its logarithm is not
known even to within a factor of two, and the test is reported as *undetermined* instead of with a p-value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sublearn.analysis.records import CellReport, ReadoutValue
from sublearn.config.readouts import READOUTS_BY_NAME

#: The p-value fields a test loses when it is undetermined.
P_FIELDS = ("p_ttest", "p_permutation", "p_sign", "p_holm")


def _bound(entry: ReadoutValue, field: str | None) -> float | None:
    """The error bound of one readout of a cell report (``None``: none known)."""
    if field is not None:
        value = getattr(entry, field, None)
        return None if value is None else float(value)
    return 1.0 / entry.n_samples if entry.n_samples else None


def below_bound(members: Sequence[CellReport], arms: Sequence[str], metric: str,
                options: Sequence[str] | None = None) -> str | None:
    """Why a test on ``metric`` of ``arms`` over the cell reports ``members`` is undetermined, or ``None``.

    ``options``: the animals whose values the test uses (a share or a target-specific contrast uses every listed
    animal; ``None``: every animal for a share, the readout's own value otherwise)."""
    readout = READOUTS_BY_NAME.get(metric)
    if readout is None or readout.per_option is None:
        return None
    for report in members:
        for arm in arms:
            source = report.arms[arm].metrics.get(readout.per_option) if arm in report.arms else None
            if not source:
                continue
            bound = _bound(source, readout.bound)
            if bound is None:
                continue
            if options is None and readout.scale != "share":
                values = {"target": source.mean}
            else:
                per = source.per_animal or {}
                values = {a: per.get(a) for a in (options if options is not None else per)}
            for option, value in values.items():
                if value is not None and float(value) < bound:
                    return (f"{readout.per_option} of {arm} ({option}, replicate {report.spec['seed']}) is "
                            f"{float(value):.2g}, below its error bound {bound:.2g}")
    return None


def withhold(test: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """``test`` marked undetermined (its p-values removed) when ``reason``; else as it is."""
    if reason is None:
        return test
    return {**{k: v for k, v in test.items() if k not in P_FIELDS}, "undetermined": reason}
