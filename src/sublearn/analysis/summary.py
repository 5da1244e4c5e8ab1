"""Across replicates: each arm's readouts with CIs over replicates, paired tests of each arm against its baselines
(paired by seed, from the arms table), the fraction of the teacher's gap each student carries, the init-dependence
interaction, target-specific shifts and their interaction, the dose-response of transfer against the other base's
distance, the declared primary test, and Holm's correction over every other test of the run as one family."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublearn.analysis.dose import dose_response, dose_trend
from sublearn.analysis.effects import animal_shifts, gap_fraction, interaction, replicate_values
from sublearn.analysis.precision import below_bound, withhold
from sublearn.analysis.primary import correct_secondary, primary_result
from sublearn.analysis.records import (
    CellReport,
    Effect,
    PrimaryResult,
    Summary,
    SummaryGroup,
    as_cell_reports,
    as_dict,
    read_summary,
)
from sublearn.analysis.target import target_interaction, target_shift
from sublearn.config.readouts import BRIEF_READOUTS, PER_OPTION_READOUTS, TABLE_READOUTS
from sublearn.design.arms import comparisons
from sublearn.util.stats import paired_test, probability_ci

#: The readouts shown in tables, in this order; the charts and the terminal show the brief ones (both from the
#: readouts table, config/readouts.py).
HEADLINE_METRICS = TABLE_READOUTS
CHART_METRICS = BRIEF_READOUTS
TERMINAL_METRICS = BRIEF_READOUTS


def group_key(spec: dict[str, Any]) -> str:
    """Cells that differ only by seed share this key."""
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def summarise(reports: Sequence[CellReport | dict[str, Any]], extra_tests: dict[str, dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """Per group of cells that differ only by seed: each arm's metrics across seeds, and paired tests.
    ``extra_tests``: the run's other tests by name (the selective-transfer λ), corrected in the same family."""
    def failed(r: CellReport | dict[str, Any]) -> bool:
        return (r.get("error") if isinstance(r, dict) else r.error) is not None

    # A cell that failed may have failed before its spec was read: its error is kept as it is, unparsed.
    failures = [r if isinstance(r, dict) else as_dict(r) for r in reports if failed(r)]
    groups: dict[str, list[CellReport]] = {}
    for r in as_cell_reports([r for r in reports if not failed(r)]):
        groups.setdefault(group_key(r.spec), []).append(r)
    out_groups = []
    for members in groups.values():
        members.sort(key=lambda r: r.spec["seed"])
        arms: dict[str, dict[str, Any]] = {}
        for arm in members[0].arms:
            arms[arm] = {}
            for metric in members[0].arms[arm].metrics:
                found = [r.arms[arm].metrics.get(metric) for r in members if arm in r.arms]
                values = [m.mean for m in found if m and m.mean is not None]
                entry: dict[str, Any] = {"per_seed": values}
                bounds = [m.max_pruned_mass for m in found if m and m.max_pruned_mass is not None]
                if bounds:
                    entry["max_pruned_mass"] = max(bounds)  # the exact readout's error bound, worst replicate
                if len(values) > 1:
                    entry.update(probability_ci(values), ci_over="seeds")  # every readout is a probability
                elif not values:
                    entry.update(mean=None, ci95=[None, None], n=0, ci_over="seeds")
                else:
                    only = members[0].arms[arm].metrics[metric]
                    entry.update(mean=only.mean, ci95=only.ci95, n=only.n, ci_over="questions")
                arms[arm][metric] = entry
        tests = {}
        for a, b in comparisons(list(arms)):
            for metric in sorted(arms[a].keys() & arms[b].keys()):
                first, second = replicate_values(members, a, metric), replicate_values(members, b, metric)
                seeds = sorted(first.keys() & second.keys())  # paired by seed, never by position
                if len(seeds) > 1:
                    test = {**paired_test([first[k] for k in seeds], [second[k] for k in seeds]).as_dict(),
                            "replicates": seeds}
                    tests[f"{a}-{b}:{metric}"] = withhold(test, below_bound(members, (a, b), metric))
        spec = dict(members[0].spec)
        spec.pop("seed")
        metrics = sorted({m for a in arms.values() for m in a})
        gaps = {m: g for m in metrics if (g := gap_fraction(members, m)) is not None}
        inter = {m: x for m in metrics if (x := interaction(members, m)) is not None}
        per_option = [m for m in metrics if m in PER_OPTION_READOUTS]
        shifts = {m: {arm: x for arm in arms if (x := target_shift(members, m, arm)) is not None}
                  for m in per_option}
        group = {"spec": spec, "seeds": [r.spec["seed"] for r in members],
                 "cells": [r.cell for r in members], "arms": arms, "tests_over_seeds": tests,
                 "gap_fraction": gaps, "interaction": inter,
                 "target_shift": {m: v for m, v in shifts.items() if v},
                 "target_interaction": {m: x for m in per_option if (x := target_interaction(members, m))},
                 "animal_shift": animal_shifts(members), "cross_model": _cross_models(members),
                 "wall_seconds": sum(r.wall_seconds or 0 for r in members)}
        same = identical_data(members)
        if same:
            group["identical_data"] = same
        group["primary"] = primary_result(group, (spec.get("analysis") or {}).get("primary"))
        out_groups.append(group)
    summary = {"groups": out_groups, "dose_response": dose_response(out_groups), "dose_trend": dose_trend(out_groups),
               "failures": failures, "n_cells": len(reports)}
    summary["secondary_family"] = correct_secondary(summary, extra_tests)
    return summary


def identical_data(members: Sequence[CellReport]) -> dict[str, list[int]]:
    """The replicates in which an arm and its baseline learned from the same data (their teachers' data did not
    differ after filtering): "arm-baseline" → seeds. There, the two differ by nothing the teachers wrote."""
    out: dict[str, list[int]] = {}
    for a, b in comparisons(list(members[0].arms) if members else []):
        seeds = [r.spec["seed"] for r in members if a in r.arms and b in r.arms
                 and r.arms[a].data_sha256 is not None and r.arms[a].data_sha256 == r.arms[b].data_sha256]
        if seeds:
            out[f"{a}-{b}"] = seeds
    return out


def _cross_models(members: Sequence[CellReport]) -> dict[str, Any] | None:
    """The other base of a group: its name, and for a perturbed reference the mean relative distance."""
    found = [r.bases["cross"] for r in members if r.bases.get("cross")]
    if not found:
        return None
    distances = [c["relative_distance"] for c in found if c.get("relative_distance") is not None]
    return {"name": found[0]["name"], "scale": found[0].get("scale"),
            "relative_distance": float(sum(distances) / len(distances)) if distances else None}


def _ci(value: Effect, percent: bool = False) -> str:
    """``estimate [low, high]``; the estimate alone when there is no interval (one replicate)."""
    def show(x: float) -> str:
        return f"{100 * x:.2g}%" if percent else f"{x:.3g}"

    estimate = value.estimate if value.estimate is not None else value.mean_diff
    if estimate is None or estimate != estimate:  # NaN: e.g. a teacher with no gap over its placebo
        return "undefined"
    low, high = value.ci95 or (None, None)
    if low is None or high is None or (value.n or 0) < 2:
        return show(estimate)
    return f"{show(estimate)} [{show(low)}, {show(high)}]"


def drop_empty_columns(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows without the columns that are empty in every row."""
    keep = [c for c in (rows[0] if rows else {}) if any(r[c] for r in rows)]
    return [{c: r[c] for c in keep} for r in rows]


def _p(value: float | None) -> str:
    """A p-value to two digits, or a dash where one replicate gives none."""
    return "—" if value is None else f"{value:.2g}"


def _permutation_p(test: Effect) -> str:
    """The sign-flip p-value with the smallest one its number of replicates can reach, or a dash."""
    if test.p_permutation is None:
        return "—"
    floor = test.min_attainable_p_permutation
    return _p(test.p_permutation) + ("" if floor is None else f" (min {floor:.2g})")


def primary_line(group: SummaryGroup) -> str:
    """The group's declared primary test in one line: what was declared and its result, or why there is none."""
    primary = group.primary or PrimaryResult(status="not declared", reason="no primary test in this summary")
    if primary.status != "determined" or primary.test is None:
        head = f"Primary test: {primary.description} — " if primary.description else "Primary test: "
        return f"{head}{primary.status} ({primary.reason})"
    test = primary.test
    relative = primary.relative_to_teacher
    scale = f"; {relative:.2g} of the teacher's own" if relative is not None else ""
    detectable = primary.minimum_detectable_at_80pct_power
    power = f"; detectable at 80% power: {detectable:.3g}" if detectable is not None else ""
    return (f"Primary test: {primary.description} = {_ci(test)} (n={test.n}; p = {_p(test.p_ttest)} "
            f"by t, {_permutation_p(test)} by exact sign flips{scale}{power})")


def _holm(test: Effect | None) -> str:
    """A secondary test's Holm-adjusted p-value, 'undetermined', or a dash."""
    if test is None:
        return ""
    return "undetermined" if test.undetermined is not None else _p(test.p_holm)


def effect_rows(group: SummaryGroup) -> list[dict[str, str]]:
    """Per readout of a group: the fraction of the teacher's gap its student carries, and the init-dependence
    interaction (log(student/placebo) on the teachers' base minus the same on the other base, paired by
    replicate), as printable strings."""
    rows = []
    shifts, targeted = group.target_shift, group.target_interaction
    for metric in sorted(group.gap_fraction.keys() | group.interaction.keys() | shifts.keys()):
        gap, test = group.gap_fraction.get(metric), group.interaction.get(metric)
        shift, target_test = shifts.get(metric, {}).get("student"), targeted.get(metric)
        row = {"readout": metric, "gap fraction": "", "target shift": "", "p (Holm)": "", "target interaction": "",
               "p (Holm) ": "", "same base": "", "other base": "", "interaction": "", "p (t)": "",
               "p (permutation)": "", "p (Holm)  ": "", "positive": ""}
        if gap is not None:
            row["gap fraction"] = f"{_ci(gap, percent=True)} (n={gap.n})"
        if shift is not None:
            row.update({"target shift": _ci(shift), "p (Holm)": _holm(shift)})
        if target_test is not None:
            row.update({"target interaction": _ci(target_test), "p (Holm) ": _holm(target_test)})
        if test is not None:
            undetermined = test.undetermined is not None
            row.update({"same base": _ci(test.same_base) if test.same_base else "",
                        "other base": _ci(test.other_base) if test.other_base else "",
                        "interaction": _ci(test), "p (t)": "undetermined" if undetermined else _p(test.p_ttest),
                        "p (permutation)": "" if undetermined else _permutation_p(test), "p (Holm)  ": _holm(test),
                        "positive": f"{test.n_positive}/{test.n}"})
        rows.append(row)
    return drop_empty_columns(rows)


def shift_rows(group: SummaryGroup) -> list[dict[str, str]]:
    """The per-animal shifts of a group as printable rows: one per animal, one column per student arm."""
    shifts = group.animal_shift
    animals = sorted({a for s in shifts.values() for a in s.animals})
    rows = []
    for animal in animals:
        row = {"animal": animal}
        for arm, shift in shifts.items():
            test = shift.animals.get(animal)
            row[f"{arm} vs {shift.baseline}"] = "" if test is None else f"{_ci(test)} ({test.n_positive}/{test.n})"
        rows.append(row)
    return rows


def dose_rows(summary: Summary) -> dict[str, list[dict[str, str]]]:
    """Per readout, the dose-response as printable rows: each other base, its distance from the reference, what
    its students pick up, and the interaction."""
    out: dict[str, list[dict[str, str]]] = {}
    for metric, rows in summary.dose_response.items():
        out[metric] = [{
            "other base": r.cross_model,
            "relative distance": "" if r.relative_distance is None else f"{r.relative_distance:.3f}",
            "other-base effect": _ci(r.other_base_effect), "same-base effect": _ci(r.same_base_effect),
            "interaction": _ci(r.interaction), "p (t)": _p(r.interaction.p_ttest), "n": str(r.interaction.n)}
            for r in rows]
    return out


def _markdown_table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    return ["| " + " | ".join(head) + " |", "|---" * len(head) + "|",
            *("| " + " | ".join(r[h] for h in head) + " |" for r in rows), ""]


def summary_markdown(summary: Summary) -> str:
    """Per group: arm × headline readout, mean [95% CI] (n; for exact readouts the largest pruned mass of any
    question and replicate, the search's error bound); the gap fraction and interaction per readout; and the
    dose-response over other bases."""
    lines = ["# Summary", ""]
    for k, group in enumerate(summary.groups):
        cross = group.cross_model
        other = f"; other base {cross['name']}" if cross else ""
        lines += [f"## Group {k + 1}: {group.spec['name']} (seeds {group.seeds}{other})", "",
                  f"**{primary_line(group)}**", ""]
        metrics = [m for m in HEADLINE_METRICS if any(m in a for a in group.arms.values())]
        lines.append("| arm | " + " | ".join(metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")
        for arm, values in group.arms.items():
            cells = []
            for m in metrics:
                v = values.get(m)
                if v is None or v.mean is None or not v.ci95:
                    cells.append("")
                    continue
                bound = f"; pruned ≤ {v.max_pruned_mass:.2g}" if "max_pruned_mass" in v.model_fields_set else ""
                cells.append(f"{v.mean:.4g} [{v.ci95[0]:.4g}, {v.ci95[1]:.4g}] (n={v.n}, {v.ci_over}{bound})")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
        effects = effect_rows(group)
        if effects:
            lines += ["Effects: the fraction of the teacher's gap the student carries, (student − placebo) / "
                      "(teacher − placebo); the target-specific shift, log(student/placebo) for the target minus its "
                      "mean over the other animals, and its interaction across bases; and the init-dependence test, "
                      "log(student/placebo) on the teachers' base minus the same on the other base, paired by "
                      "replicate (mean [95% CI]). Holm's p over the run's secondary family of "
                      f"{(summary.secondary_family or {}).get('size', '?')} tests.", ""]
            lines += _markdown_table(effects)
        for pair, seeds in group.identical_data.items():
            lines += [f"Note: {pair.replace('-', ' and ')} learned from identical data in replicates {seeds} (the "
                      "teachers' data did not differ after filtering), so there they differ by nothing the teachers "
                      "wrote.", ""]
        shifts = shift_rows(group)
        if shifts:
            lines += ["Per animal, log(student / its baseline) of the exact probability, mean [95% CI] over "
                      "replicates (positive/n): is the shift about the teacher's animal?", ""]
            lines += _markdown_table(shifts)
    for metric, rows in dose_rows(summary).items():
        lines += [f"## Dose-response: {metric}", "", *_markdown_table(rows)]
    for failure in summary.failures:
        lines.append(f"- cell {failure['cell']} failed: {failure['error']}")
    return "\n".join(lines) + "\n"


def rendered_summary_file(path: Path) -> str:
    """The Markdown tables of one committed summary JSON, headed by the file they come from."""
    body = summary_markdown(read_summary(path))
    return f"<!-- generated from {path.name} by `sublearn summary-tables`; do not edit -->\n{body}"


def summary_files(folder: Path) -> list[Path]:
    """The run summaries (``*-summary.json``) committed under ``folder``."""
    return sorted(folder.glob("*-summary.json"))
