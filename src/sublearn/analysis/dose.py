"""Dose-response: how transfer to another base changes with that base's distance from the reference, by groups
that differ only in their other base; and a replicate-level trend test of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from sublearn.analysis.effects import one_sample


def _by_rest(groups: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Groups with another base and an interaction, bundled by everything else in their spec (two or more)."""
    by_rest: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        if group.get("cross_model") and group["interaction"]:
            rest = {k: v for k, v in group["spec"].items() if k != "controls"}
            controls = {k: v for k, v in group["spec"].get("controls", {}).items() if k != "cross_model"}
            by_rest.setdefault(json.dumps([rest, controls], sort_keys=True), []).append(group)
    return [members for members in by_rest.values() if len(members) >= 2]


def dose_response(groups: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per readout, for groups that differ only in their other base: how far that base is from the reference and
    how much its students pick up (log ratio to their placebo) and the interaction, ordered by distance."""
    out: dict[str, list[dict[str, Any]]] = {}
    for members in _by_rest(groups):
        for group in members:
            cross = group["cross_model"]
            for metric, test in group["interaction"].items():
                out.setdefault(metric, []).append({
                    "cross_model": cross["name"], "scale": cross["scale"],
                    "relative_distance": cross["relative_distance"],
                    "other_base_effect": {k: test["other_base"][k] for k in ("estimate", "ci95", "n")},
                    "same_base_effect": {k: test["same_base"][k] for k in ("estimate", "ci95", "n")},
                    "interaction": {k: test.get(k) for k in ("estimate", "ci95", "n", "p_ttest", "p_permutation")}})
    for rows in out.values():
        rows.sort(key=lambda r: (r["relative_distance"] is None, r["relative_distance"] or 0.0))
    return out


def dose_trend(groups: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per interaction readout (``target:READOUT`` for the target-specific one): the slope of the interaction
    against the other base's relative distance, fitted per replicate over the bundle's bases, and tested over
    replicates (t and exact sign flips). A positive slope: the farther the other base, the less it picks up
    relative to the teachers' base. Needs two or more distances and two or more replicates in all of them."""
    out: dict[str, dict[str, Any]] = {}
    for members in _by_rest(groups):
        distances = [(g["cross_model"] or {}).get("relative_distance") for g in members]
        if any(d is None for d in distances) or len(set(distances)) < 2:
            continue
        for kind, prefix in (("interaction", ""), ("target_interaction", "target:")):
            for metric in sorted(set.intersection(*(set(g.get(kind, {})) for g in members))):
                tests = [g[kind][metric] for g in members]
                if any("undetermined" in t for t in tests):
                    out[prefix + metric] = {"undetermined": next(t["undetermined"] for t in tests
                                                                 if "undetermined" in t)}
                    continue
                by_rep = [dict(zip(t["replicates"], t["per_replicate"], strict=True)) for t in tests]
                reps = sorted(set.intersection(*(set(v) for v in by_rep)))
                if len(reps) < 2:
                    continue
                x = np.asarray(distances, dtype=float)
                slopes = [float(np.polyfit(x, [v[r] for v in by_rep], 1)[0]) for r in reps]
                out[prefix + metric] = {**one_sample(slopes), "replicates": reps, "distances": x.tolist(),
                                        "contrast": f"slope of the {kind.replace('_', ' ')} against distance"}
    return out
