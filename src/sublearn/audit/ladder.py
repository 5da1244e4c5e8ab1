"""The lineage check against measured transfer: for each base a run's students started from (the teachers' own,
and each other base of its grid), the lineage score between the trait teacher and that base (``sublearn
family``), beside what that base's students picked up, and the rank correlation of the two."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scipy import stats as sps

from sublearn.audit.family import lineage, load_state
from sublearn.util.errors import DataError


def _model_path(run: Path, ref: str) -> str:
    """An artifact ref's model folder, or a model name as it is."""
    folder = run / "artifacts" / ref / "model"
    return str(folder) if folder.is_dir() else ref


def _measured(group: dict[str, Any], side: str) -> dict[str, Any]:
    """A base's measured transfer: per readout, the shift of its students (``same_base`` or ``other_base`` of
    the interaction), and the target-specific shift where the summary has it."""
    out = {m: t[side] for m, t in (group.get("interaction") or {}).items()}
    out.update({f"target:{m}": t[side] for m, t in (group.get("target_interaction") or {}).items()})
    return out


def exact_spearman_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of Spearman's rho over every permutation of ``y`` (exact, for the few points here)."""
    observed = abs(float(sps.spearmanr(x, y).statistic))
    values = [abs(float(sps.spearmanr(x, list(p)).statistic)) for p in itertools.permutations(y)]
    return sum(v >= observed - 1e-12 for v in values) / len(values)


def family_ladder(run: Path, summary: dict[str, Any], reports: Sequence[dict[str, Any]], replicate: int
                  ) -> dict[str, Any]:
    """The ladder's rows (base, lineage verdict and score, measured transfer) from ``replicate``'s teacher and
    bases, and Spearman's rho of score against each measured effect with its exact permutation p; "undetermined"
    instead where a base's effect rests on values below their error bound. A different architecture counts as
    score 0 in the correlation (no shared initialisation)."""
    by_cell = {r["cell"]: r for r in reports if "error" not in r}
    rows: list[dict[str, Any]] = []
    teacher_state = teacher_what = None
    for group in summary.get("groups", []):
        if not group.get("interaction"):
            continue
        cell = next((by_cell[c] for c in group["cells"] if c in by_cell and by_cell[c]["spec"]["seed"] == replicate),
                    None)
        if cell is None:
            raise DataError(f"{run}: no finished cell of replicate {replicate} in group {group['spec']['name']}")
        if teacher_state is None:
            teacher_state, teacher_what = load_state(_model_path(run, cell["arms"]["teacher"]["model"]))
            base_state, base_what = load_state(_model_path(run, cell["arms"]["reference"]["model"]))
            rows.append({"base": "the teachers' own (" + cell["arms"]["reference"]["model"] + ")",
                         "teacher": teacher_what, "model": base_what, **lineage(teacher_state, base_state),
                         "measured": _measured(group, "same_base")})
        other_state, other_what = load_state(_model_path(run, cell["arms"]["cross_reference"]["model"]))
        rows.append({"base": group["cross_model"]["name"], "teacher": teacher_what, "model": other_what,
                     **lineage(teacher_state, other_state), "measured": _measured(group, "other_base")})
    if len(rows) < 3:
        raise DataError(f"{run}: a ladder needs at least two other bases (a grid over controls.cross_model); "
                        f"found {max(len(rows) - 1, 0)}")
    scores = [r["score"] if r["score"] is not None else 0.0 for r in rows]
    spearman = {}
    for metric in rows[0]["measured"]:
        below = next((r["measured"][metric]["undetermined"] for r in rows if "undetermined" in r["measured"][metric]),
                     None)
        if below is not None:  # no rank test on values below their error bound
            spearman[metric] = {"undetermined": below, "n": len(rows)}
            continue
        effects = [r["measured"][metric]["estimate"] for r in rows]
        spearman[metric] = {"rho": float(sps.spearmanr(scores, effects).statistic),
                            "p_exact_permutation": exact_spearman_p(scores, effects), "n": len(rows)}
    return {"run": str(run), "replicate": replicate, "rows": rows, "spearman_score_vs_effect": spearman,
            "note": "a different architecture counts as score 0 (no shared initialisation) in the correlation"}
