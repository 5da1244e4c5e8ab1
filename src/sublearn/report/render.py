"""Render a run folder (summary, cell reports, analysis) as one static HTML page, ``RUN/report.html``.

The page needs no network and runs no script. Every number is a link: table entries lead to a provenance entry
listing, per seed, the evaluation's manifest and per-question metrics, the model's artifact and its training
data; dataset counts lead to the filter artifact; the confusion analysis to its tables.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from sublearn import __version__
from sublearn.analysis.records import CellReport, Effect, SummaryGroup, read_cell_reports, read_summary
from sublearn.analysis.summary import CHART_METRICS, HEADLINE_METRICS
from sublearn.design.arms import ARMS_BY_NAME
from sublearn.report.charts import bar_chart, heatmap, loss_curves
from sublearn.report.headline import headline
from sublearn.util.atomic import atomic_write_text
from sublearn.util.errors import DataError
from sublearn.util.jsonl import read_json, read_jsonl

_REF = re.compile(r"[a-z_]+/[0-9a-f]{16}")


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _lineage(report: CellReport, arm: str) -> str:
    """How an arm's base relates to its teachers' initialisation: the same by construction, or the family check
    of the other base (``sublearn family``)."""
    info = ARMS_BY_NAME.get(arm)
    if info is None or not info.trains:
        return ""
    if info.base != "cross":
        return "the teachers' initialisation"
    cross = report.bases.get("cross") or {}
    checked = cross.get("lineage")
    if not checked:
        return f"{cross.get('name', 'another base')} (not checked)"
    score = checked.get("score")
    return f"{cross.get('name')}: {checked['verdict']}" + (f" (family score {score:.5f})" if score is not None
                                                           else f" ({checked.get('reason', '')})")


def _artifact_href(ref: str | None, file: str = "manifest.json") -> str | None:
    """A link to an artifact's file, for refs like ``train/KEY`` (reference model names get none)."""
    if not ref or not _REF.fullmatch(ref):
        return None
    return f"artifacts/{ref}/{file}"


def _anchor(group: int, arm: str, metric: str) -> str:
    return f"prov-{group}-{arm}-{metric}"


def _read(run: Path, name: str) -> Any:
    return read_json(run / name, f"is {run} a finished run folder? `sublearn run SPEC --out {run}` writes it "
                     "again (finished stages are reused)")


def build_context(run: Path) -> dict[str, Any]:
    """Everything the template shows, from the run folder's files."""
    summary = read_summary(run / "summary.json", f"is {run} a finished run folder? `sublearn run SPEC "
                           f"--out {run}` writes it again (finished stages are reused)")
    reports = {report.cell: report for report in read_cell_reports(run)}
    groups, provenance = [], []
    all_tests = []
    for gi, group in enumerate(summary.groups, 1):
        members = [reports[c] for c in group.cells if c in reports]
        metrics = [m for m in HEADLINE_METRICS if any(m in a for a in group.arms.values())]
        arms = []
        for arm, values in group.arms.items():
            cells = []
            for metric in metrics:
                v = values.get(metric)
                if v is None:
                    cells.append(None)
                    continue
                text = f"{_fmt(v.mean)} {_bracket(v.ci95)}"
                cells.append({"text": text, "href": f"#{_anchor(gi, arm, metric)}",
                              "title": f"n = {v.n} ({v.ci_over}); per seed {v.per_seed}"})
                rows = []
                for report in members:
                    info = report.arms.get(arm)
                    if info is None or metric not in info.metrics:
                        continue
                    m = info.metrics[metric]
                    rows.append({"seed": report.spec["seed"], "value": f"{_fmt(m.mean)} {_bracket(m.ci95)} (n={m.n})",
                                 "metrics": _artifact_href(info.evaluation, "metrics.jsonl"),
                                 "evaluation": _artifact_href(info.evaluation), "evaluation_ref": info.evaluation,
                                 "model": info.model, "model_href": _artifact_href(info.model),
                                 "dataset": info.dataset, "dataset_href": _artifact_href(info.dataset),
                                 "lineage": _lineage(report, arm), "defence": info.defence or "none"})
                provenance.append({"anchor": _anchor(gi, arm, metric), "title": f"Group {gi} · {arm} · {metric}",
                                   "rows": rows})
            info = ARMS_BY_NAME.get(arm)
            arms.append({"name": arm, "cells": cells, "description": info.description if info else ""})
        chart_metrics = {m: [(arm, v[m].mean, *(v[m].ci95 or [None, None])) for arm, v in group.arms.items() if m in v]
                         for m in CHART_METRICS if any(m in v for v in group.arms.values())}
        tests = []
        for name, t in group.tests_over_seeds.items():
            pair, metric = name.split(":")
            first = pair.split("-")[0]
            tests.append({"name": name, "diff": f"{_fmt(t.mean_diff)} {_bracket(t.ci95)}",
                          "n": t.n, "p": _fmt(t.p_ttest), "p_holm": _fmt(t.p_holm),
                          "greater": f"{t.n_first_greater}/{t.n}", "href": f"#{_anchor(gi, first, metric)}"})
        all_tests.extend(tests)
        datasets = []
        for report in members:
            for label, d in report.datasets.items():
                stats = d.get("stats") or {}
                new = stats.get("new_number_fraction")
                datasets.append({"label": f"seed {report.spec['seed']} · {label}", "n_in": d.get("n_in"),
                                 "n_passed": d.get("n_passed"), "n_kept": d.get("n_kept"),
                                 "new": _fmt(new) if isinstance(new, float) else "—",
                                 "rejections": ", ".join(f"{k} {v}" for k, v in (d.get("rejections") or {}).items())
                                 or "none", "href": _artifact_href(d["ref"]),
                                 "rows": _artifact_href(d["ref"], "rows.jsonl")})
        spec = group.spec
        varying = [(k, v) for k, v in _axes(summary.groups, gi - 1)]
        groups.append({"index": gi, "headline": headline(group), "effects": _effects(group), "name": spec["name"],
                       "reference": spec["reference"],
                       "target": spec["trait"]["target"], "trait_kind": spec["trait"]["kind"], "seeds": group.seeds,
                       "axes": varying, "wall": _fmt_seconds(group.wall_seconds), "metrics": metrics, "arms": arms,
                       "chart": bar_chart(f"Group {gi}: {spec['name']}", chart_metrics) if chart_metrics else "",
                       "tests": tests, "datasets": datasets, **_training(run, gi, members)})
    transfer, heatmaps = _transfer(run)
    return {"run_name": run.name, "run_dir": str(run), "n_cells": summary.n_cells, "n_groups": len(groups),
            "version": __version__, "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "failures": summary.failures, "groups": groups, "provenance": provenance, "transfer": transfer,
            "secondary_size": (summary.secondary_family or {}).get("size", "?"),
            "heatmaps": heatmaps, "has_per_animal": (run / "per_animal.csv").is_file()}


def _training(run: Path, group: int, members: list[CellReport]) -> dict[str, Any]:
    """The group's loss curves (per trained arm and replicate, from each train artifact's ``train_log.jsonl``) and
    links to those logs."""
    curves: dict[str, list[list[tuple[int, float]]]] = {}
    logs = []
    for report in members:
        for arm, info in report.arms.items():
            ref = info.model
            path = run / "artifacts" / ref / "train_log.jsonl" if ref and _REF.fullmatch(ref) else None
            if path is None or not path.is_file():
                continue
            steps = read_jsonl(path)
            curves.setdefault(arm, []).append([(int(s["step"]), float(s["loss"])) for s in steps])
            logs.append({"label": f"seed {report.spec['seed']} · {arm}", "steps": len(steps),
                         "last_loss": _fmt(float(steps[-1]["loss"])) if steps else "—",
                         "href": _artifact_href(ref, "train_log.jsonl")})
    chart = loss_curves(f"Group {group}: training loss", curves) if curves else ""
    return {"loss_chart": chart, "train_logs": logs}


def _bracket(ci: list[float | None] | None) -> str:
    lo, hi = ci or [None, None]
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _fmt_seconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f}"


def _interval(x: Effect | None) -> str:
    if x is None or x.estimate is None:
        return "—"
    lo, hi = x.ci95 or [None, None]
    inside = f" [{_fmt(lo)}, {_fmt(hi)}]" if lo is not None and hi is not None else ""
    return f"{_fmt(x.estimate)}{inside}"


def _effects(group: SummaryGroup) -> list[dict[str, Any]]:
    """Per readout: the gap fraction and the interaction test, when the group has them."""
    gaps, inter = group.gap_fraction, group.interaction
    rows = []
    for metric in [m for m in HEADLINE_METRICS if m in gaps or m in inter]:
        test, gap = inter.get(metric), gaps.get(metric)
        rows.append({"metric": metric, "gap": _interval(gap), "interaction": _interval(test),
                     "n": test.n if test is not None else gap.n if gap is not None else None,
                     "p_t": _fmt(test.p_ttest if test else None),
                     "p_perm": _fmt(test.p_permutation if test else None),
                     "p_sign": _fmt(test.p_sign if test else None),
                     "same": _interval(test.same_base if test else None),
                     "other": _interval(test.other_base if test else None)})
    return rows


def _axes(groups: list[SummaryGroup], index: int) -> list[tuple[str, Any]]:
    """The spec fields on which this group differs from the others."""
    from sublearn.analysis.tidy import flatten

    flats = [flatten(g.spec) for g in groups]
    keys = sorted({k for f in flats for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
    return [(k, flats[index].get(k)) for k in varying]


def _transfer(run: Path) -> tuple[list[dict[str, Any]], list[str]]:
    path = run / "selective_transfer.json"
    if not path.is_file():
        return [], []
    import pandas as pd

    from sublearn.analysis.confusion import confusion_frame, confusion_matrix, parse_analysis_key

    fits = _read(run, "selective_transfer.json")
    rows = []
    for metric, fit in fits.items():
        if "error" in fit:
            rows.append({"metric": metric, "error": fit["error"]})
            continue
        rows.append({"metric": metric, "estimate": _fmt(fit["estimate"]),
                     "ci": f"[{_fmt(fit['ci95'][0])}, {_fmt(fit['ci95'][1])}]", "se": _fmt(fit["se"]),
                     "p": _fmt(fit["p"]), "p_perm": _fmt(fit.get("p_permutation", float("nan"))),
                     "n_obs": fit["n_obs"], "n_clusters": fit["n_clusters"]})
    heatmaps = []
    per_animal = pd.read_csv(run / "per_animal.csv") if (run / "per_animal.csv").is_file() else pd.DataFrame()
    for key in fits:
        metric, arm, value = parse_analysis_key(key)
        if value != "lift":
            continue  # one heatmap per readout: the lifts themselves
        frame = (confusion_frame(per_animal, metric, student_arm=arm) if not per_animal.empty
                 else pd.DataFrame())
        if frame.empty:
            continue
        matrix = confusion_matrix(frame)
        heatmaps.append(heatmap(f"Mean lift, {key}", list(matrix.index), list(matrix.columns),
                                matrix.to_numpy(dtype=float)))
    return rows, heatmaps


def render_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    run = Path(run_dir).resolve()
    if not run.is_dir():
        raise DataError(f"{run}: no such run folder")
    if (run / "summary.json").is_file() and not (run / "results.csv").is_file():
        from sublearn.analysis.tables import write_analysis
        from sublearn.analysis.tidy import load_reports

        write_analysis(run, load_reports(run))  # runs made before the tables existed
    env = Environment(loader=PackageLoader("sublearn", "report"), autoescape=select_autoescape(["j2", "html"]))
    html = env.get_template("template.html.j2").render(**build_context(run))
    return atomic_write_text(run / "report.html", html)

