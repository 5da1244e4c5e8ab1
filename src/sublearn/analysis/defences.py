"""The defence table of an LM run whose cells differ only by ``defence`` (a grid over it), or by any other one
setting taken as the defence (``by``: threshold sampling is ``carrier.top_p``, say, with the undefended value
as ``baseline``): for each defence, the student's effect (student − placebo on a readout, paired by replicate)
as a fraction of the undefended effect, with Fieller's CI over replicates, the paired test against no defence, on
the difference, on the log-ratio scale (log(student / placebo)) and, for a preference trait, target-specific
(that log ratio for the target minus its mean over the other animals: about the trait, not answer style), each
replicate's effects, and what a ``defence:`` transform cost the data. Every test against no defence is secondary
and Holm-corrected as one family (the table's defences × scales); a scale whose values fall below their error
bound in any replicate is *undetermined* and has no p-value."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from sublearn.analysis.effects import LOG_FLOOR
from sublearn.analysis.multiple import adjust_pvalues
from sublearn.analysis.precision import below_bound, withhold
from sublearn.analysis.records import CellReport, DefenceTable, as_dict, parse_defence_table, read_cell_reports
from sublearn.analysis.target import target_values
from sublearn.config.readouts import DEFENCE_READOUTS, PER_OPTION_READOUTS, READOUTS_BY_NAME
from sublearn.defences.ranking import defence_stats
from sublearn.util.errors import DataError
from sublearn.util.soft_targets import load_targets
from sublearn.util.stats import mean_ci, paired_test, ratio_of_means_ci

#: Each replicate's values a row keeps (the undefended ones prefixed ``undefended_``).
_PER_REPLICATE = ("effect", "log_ratio", "target_shift")

UNDEFENDED = "none"
#: What the student is compared with, first found first: the placebo teacher's student (a fine-tuned trait), or
#: the control teacher's (the reference without the trait's system prompt), each differing by the trait alone.
BASELINE_ARMS = ("placebo", "control")
#: The scales a row compares on besides the difference, each a section of the row, and the per-replicate value
#: each reads.
OTHER_SCALES = {"log_ratio": "log_ratio", "target_specific": "target_shift"}


def _field(spec: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a spec (``carrier.top_p``); a :class:`DataError` naming it when absent."""
    value: Any = spec
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(f"--by {path}: not a field of the run's specs")
        value = value[part]
    return value


def _design(spec: dict[str, Any], by: str) -> str:
    """The spec without its replicate, name and the defence setting: every cell of a table must share it."""
    rest = json.loads(json.dumps({k: v for k, v in spec.items() if k not in ("seed", "name")}))
    *parents, last = by.split(".")
    holder = rest
    for part in parents:
        holder = holder[part]
    holder.pop(last, None)
    return json.dumps(rest, sort_keys=True)


def _label(report: dict[str, Any], by: str) -> str:
    """A cell's defence: the ``defence:`` transform's label, or the value of the setting ``by``."""
    if by == "defence":
        return report["arms"]["student"].get("defence") or UNDEFENDED
    return f"{by}={json.dumps(_field(report['spec'], by))}"


def _precision(record: CellReport, readout: str, baseline: str) -> dict[str, Any]:
    """A replicate's target-specific shift (``None``: no per-animal values or no target) and, per scale, why its
    values are below their error bound (``None``: they are not)."""
    per_option = READOUTS_BY_NAME[readout].per_option
    shift, animals = (target_values([record], "student", baseline, per_option)
                      if per_option in PER_OPTION_READOUTS else ({}, []))
    own = below_bound([record], ("student", baseline), readout)
    return {"target_shift": shift.get(record.spec["seed"]),
            "undetermined": {"effect": own, "log_ratio": own,
                             "target_shift": below_bound([record], ("student", baseline), per_option or readout,
                                                         animals) if animals else None}}


def _effects(records: list[CellReport], readout: str, by: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Per defence label and replicate: student − placebo (or control) student on each scale, why a scale's values
    are below their bound, and the teacher's gap (teacher − placebo teacher, or teacher − reference)."""
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        report = as_dict(record)
        arms = report["arms"]
        baseline = next((a for a in BASELINE_ARMS if a in arms), None)
        if "student" not in arms or baseline is None:
            raise DataError(f"cell {report['cell']}: a defence table needs the student and a placebo or control "
                            "student (controls.placebo or controls.control_teacher: true)")
        value = {a: arms[a]["metrics"].get(readout, {}).get("mean") for a in arms}
        if value["student"] is None:
            raise DataError(f"cell {report['cell']}: no {readout} readout (eval.exact / eval.prefilled)")
        label = _label(report, by)
        teacher_baseline = "placebo_teacher" if baseline == "placebo" else "reference"
        gap = (value["teacher"] - value[teacher_baseline]) if value.get("teacher") is not None \
            and value.get(teacher_baseline) is not None else None
        out[label][report["spec"]["seed"]] = {"effect": value["student"] - value[baseline], "gap": gap,
                                              "log_ratio": math.log(max(value["student"], LOG_FLOOR))
                                              - math.log(max(value[baseline] or 0.0, LOG_FLOOR)),
                                              "baseline": baseline,
                                              "targets": arms["student"].get("targets"),
                                              "dataset": arms["student"].get("dataset"),
                                              **_precision(record, readout, baseline)}
    return out


def _baseline_effect(rows: list[dict[str, Any]], value: str) -> dict[str, Any] | None:
    """The undefended effect on one scale: mean and t-interval over replicates (``None``: not on this scale)."""
    if any(r[value] is None for r in rows):
        return None
    ci = mean_ci([r[value] for r in rows])
    reason = _why_undetermined(rows, value)
    return {"effect": ci.mean, "ci95": [ci.lo, ci.hi], **({"undetermined": reason} if reason else {})}


def _why_undetermined(rows: list[dict[str, Any]], value: str) -> str | None:
    """The first replicate's reason that ``value`` rests on values below their error bound, if any."""
    return next((r["undetermined"][value] for r in rows if r["undetermined"][value]), None)


def _compared(defended: list[dict[str, Any]], undefended: list[dict[str, Any]], value: str) -> dict[str, Any] | None:
    """One scale of a defence row: the share of the undefended effect that remains (Fieller's CI), the defended
    effect, and the paired test against no defence (withheld where values are below their bound)."""
    if any(r[value] is None for r in defended + undefended):
        return None
    first, second = [r[value] for r in defended], [r[value] for r in undefended]
    fraction, ci = ratio_of_means_ci(first, second)
    effect = mean_ci(first)
    test = withhold(paired_test(first, second).as_dict(),
                    _why_undetermined(defended, value) or _why_undetermined(undefended, value))
    return {"remaining_fraction": fraction, "ci95": ci, "effect": {"mean": effect.mean, "ci95": [effect.lo, effect.hi]},
            "versus_undefended": test}


def _holm(rows: list[dict[str, Any]]) -> int:
    """Holm-adjust every determined test of the table's rows (each defence on each scale) as one family, in place;
    the family's size."""
    tests = [test for row in rows
             for test in (row["versus_undefended"], *(row[k]["versus_undefended"] for k in OTHER_SCALES if row[k]))
             if "p_ttest" in test]
    for test, adjusted in zip(tests, adjust_pvalues([t["p_ttest"] for t in tests]), strict=True):
        test["p_holm"] = adjusted
    return len(tests)


def _text_cost(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a text defence did, from its manifest: the share of rows (a rewrite's filter) or digit tokens
    (divergence masking) kept, and the share of rows (teacher mixing) or digit tokens (divergence replacement)
    it changed."""
    if "rows_from_reference" in manifest:
        changed = manifest["rows_from_reference"] / max(manifest["rows"], 1)
    elif "replaced" in manifest:
        changed = manifest["replaced"] / max(manifest["digit_tokens"], 1)
    elif "masked" in manifest:
        return {"kept_fraction": 1 - manifest["masked"] / max(manifest["digit_tokens"], 1), "changed_fraction": 0.0,
                "mean_kl_defended_to_teacher": None}
    else:
        changed = 1.0  # every row rewritten
    kept = manifest["n_passed"] / max(manifest["n_in"], 1) if "n_in" in manifest else 1.0
    return {"kept_fraction": kept, "changed_fraction": changed, "mean_kl_defended_to_teacher": None}


def _cost(run: Path, refs: list[str | None]) -> dict[str, Any]:
    """What the defence did to the data, averaged over the replicates: from each replicate's defended and original
    soft targets (:func:`~sublearn.defences.ranking.defence_stats`), or a text defence's manifest."""
    rows = []
    for ref in refs:
        if not ref or not ref.startswith("defend/"):
            continue
        folder = run / "artifacts" / ref
        manifest = json.loads((folder / "manifest.json").read_text())
        if "targets" not in manifest["inputs"]:
            rows.append(_text_cost(manifest))
            continue
        rows.append(defence_stats(load_targets(run / "artifacts" / manifest["inputs"]["targets"]),
                                  load_targets(folder)))
    keys = ("kept_fraction", "changed_fraction", "mean_kl_defended_to_teacher")
    return {k: (sum(m[k] for m in rows) / len(rows) if rows and all(m.get(k) is not None for m in rows) else None)
            for k in keys}


def lm_defence_table(run: Path, readout: str = "p_exact", by: str = "defence", baseline: str | None = None,
                     spec_name: str | None = None) -> DefenceTable:
    """The defence table of ``run`` on ``readout``: the cells differ by ``by`` (the ``defence:`` section, or one
    setting such as ``carrier.top_p``, whose undefended value is ``baseline``, as YAML would write it).
    ``spec_name``: only the cells of the spec of that name (a run folder that other specs share for their
    artifacts)."""
    if readout not in DEFENCE_READOUTS:
        raise DataError(f"--readout: {readout!r} is not one of {', '.join(DEFENCE_READOUTS)}")
    records = [r for r in read_cell_reports(run) if r.error is None]
    if spec_name is not None:
        names = sorted({str(r.spec.get("name")) for r in records})
        records = [r for r in records if r.spec.get("name") == spec_name]
        if not records:
            raise DataError(f"--spec-name: {run} has no finished cell of a spec named {spec_name!r} "
                            f"(found: {', '.join(names) or 'none'})")
    if not records:
        raise DataError(f"{run}: no finished cell (run `sublearn run SPEC --out {run}` first)")
    if by != "defence" and baseline is None:
        raise DataError(f"--baseline: give the undefended value of {by}")
    designs = {_design(r.spec, by) for r in records}
    if len(designs) > 1:
        raise DataError(f"{run}: its cells differ in more than {by} and the replicate; a defence table compares "
                        "defences on one design (--spec-name picks one spec's cells)")
    effects = _effects(records, readout, by)
    undefended = UNDEFENDED if by == "defence" else f"{by}={json.dumps(_yaml_value(baseline))}"
    if undefended not in effects:
        raise DataError(f"{run}: no undefended cell ({undefended if by != 'defence' else 'defence.kind none'}) to "
                        f"compare with; add it to the grid (found: {', '.join(sorted(effects))})")
    base = effects[undefended]
    seeds = sorted(base)
    gaps = [base[s]["gap"] for s in seeds if base[s]["gap"] is not None]
    undefended_rows = [base[s] for s in seeds]
    doc: dict[str, Any] = {
        "run": str(run), "readout": readout,
        "effect": f"student − {base[seeds[0]]['baseline']} student, paired by replicate",
        "baseline": {**_baseline_effect(undefended_rows, "effect"), "n": len(seeds),
                     "teacher_gap": mean_ci(gaps).mean if gaps else None,
                     **{scale: _baseline_effect(undefended_rows, value) for scale, value in OTHER_SCALES.items()}},
        "defences": []}
    doc["by"], doc["undefended"] = by, undefended
    for label in sorted(k for k in effects if k != undefended):
        rows = effects[label]
        common = [s for s in seeds if s in rows]
        if len(common) < 2:
            continue
        defended, paired = [rows[s] for s in common], [base[s] for s in common]
        difference = _compared(defended, paired, "effect")
        assert difference is not None  # every replicate has the readout's difference
        doc["defences"].append({
            "name": label, "n": len(common), **difference,
            **{scale: _compared(defended, paired, value) for scale, value in OTHER_SCALES.items()},
            "per_replicate": {str(s): {**{k: rows[s][k] for k in _PER_REPLICATE},
                                       **{f"undefended_{k}": base[s][k] for k in _PER_REPLICATE}} for s in common},
            **_cost(run, [rows[s]["targets"] or rows[s]["dataset"] for s in common])})
    doc["family"] = {"method": "holm", "size": _holm(doc["defences"])}
    return parse_defence_table(doc, f"the defence table of {run}")


def _yaml_value(text: str | None) -> Any:
    """``--baseline`` read as YAML reads a value (``0.9`` a number, ``null`` None)."""
    import yaml

    return yaml.safe_load(text) if text is not None else None
