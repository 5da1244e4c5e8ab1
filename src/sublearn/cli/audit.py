"""``sublearn audit``: would this dataset carry a teacher's trait into this student? One gradient tells."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import (
    AsJson,
    Quiet,
    console,
    print_json,
    run_logged,
    user_errors,
    writable_file,
    writable_folder,
)

group = typer.Typer(help="Gradient-alignment audit of a distillation: does training the student on a candidate "
                       "dataset pull it toward the teacher's trait (Theorem 1's quantity)?", no_args_is_help=True)


class Logits(StrEnum):
    """Which teacher outputs the students imitate."""

    aux = "aux"
    all = "all"


class Ladder(StrEnum):
    """Which settings the validation runs."""

    audit = "audit"
    family = "family"


class DigitsDataset(StrEnum):
    """Datasets for the validation."""

    digits = "digits"
    mnist = "mnist"


def _ci(summary: dict, fmt: str = "+.3g") -> str:
    """``mean [lo, hi]`` of a summary or a test (its ``mean`` or ``estimate`` and ``ci95``)."""
    value = summary["mean"] if "mean" in summary else summary["estimate"]
    interval = summary.get("ci95")
    return f"{value:{fmt}}" + (f" [{interval[0]:{fmt}}, {interval[1]:{fmt}}]" if interval else "")


@user_errors
@run_logged("run_dir", "audit mnist", existing=True)
def audit_mnist(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `sublearn mnist --save-models`.")],
    batch: Annotated[int, typer.Option(min=1, help="Candidate inputs per model.")] = 1024,
    logits: Annotated[Logits, typer.Option(help="Distil the aux logits or all.")] = Logits.aux,
    lr: Annotated[float, typer.Option(min=0, help="Step size for the predicted trait-loss change.")] = 3e-4,
    as_json: AsJson = False,
) -> None:
    """Audit the saved MNIST teachers: same-init and cross-init students, on noise and on real images.

    The teacher's trait update is its trained weights minus its init; the trait loss is cross-entropy on
    labelled digits. Prints the cosine and the predicted trait-loss change with 95% CIs over models, and
    writes RUN_DIR/audit.json.
    """
    from rich.table import Table

    from sublearn.audit.gradient_mnist import audit_saved_run
    from sublearn.util.atomic import atomic_write_json

    writable_file(run_dir / "audit.json", "RUN_DIR")
    doc = audit_saved_run(run_dir, batch, logits.value, lr)
    atomic_write_json(run_dir / "audit.json", doc)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Audit of {run_dir} ({logits.value} logits; 95% CI over {doc['n_models']} models)")
    for col in ("student", "inputs", "cos(Δθ_S, Δθ_T)", "predicted ΔL_T", "cos(Δθ_S, −∇L_T)"):
        table.add_column(col, justify="right")
    for row in doc["rows"]:
        table.add_row(row["student"], row["inputs"], *[_ci(row[k]) for k in (
            "cosine", "predicted_trait_loss_change", "cosine_trait_gradient")])
    console.print(table)
    console.print(f"Wrote {run_dir / 'audit.json'}.")


@user_errors
def audit_lm(
    reference: Annotated[str, typer.Option(help="The student's base model: local folder, sublearn name or hub id.")],
    data: Annotated[Path, typer.Option(help="Candidate dataset: chat JSONL as sublearn rows, TRL's "
                                       "prompt-completion rows or OpenAI's messages.")],
    teacher: Annotated[str | None, typer.Option(help="The teacher's weights (same architecture).",
                                                show_default="none: give --trait-data")] = None,
    trait_data: Annotated[Path | None, typer.Option(help="Chat JSONL (any of the same formats) that expresses "
                                                    "the trait; the teacher's step is one gradient step on it.",
                                                    show_default="none: give --teacher")] = None,
    params: Annotated[str, typer.Option(help="Comma-separated substrings of the parameter names to audit "
                                        "(a LoRA-sized subset).")] = "q_proj,v_proj",
    lr: Annotated[float, typer.Option(min=0, help="Step size for the predicted trait-loss change.")] = 1e-4,
    max_examples: Annotated[int, typer.Option(min=1, help="Use at most this many candidate rows.")] = 512,
    out: Annotated[Path | None, typer.Option(help="Write the audit as JSON here.",
                                             show_default="print only")] = None,
) -> None:
    """Audit a causal LM: cosine of the SFT gradient on DATA with the teacher's trait update."""
    from sublearn.audit.gradient_lm import audit_causal_lm
    from sublearn.util.atomic import atomic_write_json
    from sublearn.util.chat_rows import read_chat_rows

    writable_file(out)
    rows = read_chat_rows(data, max_examples)
    trait = read_chat_rows(trait_data) if trait_data else None
    result = audit_causal_lm(reference, rows.rows, teacher=teacher, trait_data=trait.rows if trait else None,
                             patterns=[p.strip() for p in params.split(",") if p.strip()], lr=lr)
    result["read"] = {"data": rows.summary(), **({"trait_data": trait.summary()} if trait else {})}
    if out is not None:
        atomic_write_json(out, result)
    console.print_json(json.dumps({k: v for k, v in result.items() if k != "parameters"}))


@user_errors
@run_logged("out", "audit validate")
def audit_validate(
    dataset: Annotated[DigitsDataset, typer.Option(help="digits (fast) or mnist.")] = DigitsDataset.digits,
    n_models: Annotated[int, typer.Option("--n-models", "-n", min=2, help="Models per setting.")] = 8,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Path, typer.Option(help="Output folder for results.json.")] = Path("runs/audit-validate"),
    ladder: Annotated[Ladder, typer.Option(help="audit: m, lr, init noise, weight decay and cross-model settings; "
                                           "family: the lineage ladder (same init, init noise 0.001 to 0.1, "
                                           "another model's init) for `sublearn family`.")] = Ladder.audit,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """How well do the audit and the family check rank real transfer? MNIST settings are audited (and the
    teacher's lineage to each student's init scored), then trained; prints the table and Spearman correlations."""
    from rich.table import Table

    from sublearn.audit.validation import DEFAULT_SETTINGS, FAMILY_LADDER, validate_audit
    from sublearn.mnist.config import MnistConfig
    from sublearn.util.atomic import atomic_write_json
    from sublearn.util.progress import rich_progress, step_counter

    writable_folder(out)
    base = MnistConfig(dataset=dataset.value, n_models=n_models, device=device)
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = validate_audit(base, FAMILY_LADDER if ladder is Ladder.family else DEFAULT_SETTINGS,
                             progress=step_counter(progress, "settings"))
    atomic_write_json(out / "results.json", doc)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Audit vs measured transfer ({dataset.value}, N = {n_models} per setting)")
    for col in ("setting", "transfer (acc − ref) [95% CI]", "cos(Δθ_S, Δθ_T)", "pred. ΔL_T", "cos(Δθ_S, −∇L_T)",
                "family score"):
        table.add_column(col, justify="right")
    for r in doc["rows"]:
        a = r["audit"]
        table.add_row(r["label"], _ci(r["transfer"], "+.3f"), f"{a['cosine']['mean']:+.4f}",
                      f"{a['predicted_trait_loss_change']['mean']:+.2e}", f"{a['cosine_trait_gradient']['mean']:+.4f}",
                      _ci(r["family_score"], ".3f"))
    console.print(table)
    for key in ("cosine", "predicted_trait_loss_decrease", "cosine_trait_gradient", "family_score"):
        s = doc[f"spearman_{key}"]
        console.print(f"Spearman(transfer, {key}) = {s['rho']:+.2f} (p = {s['p']:.2g}, n = {s['n']} settings)")
    console.print(f"Wrote {out / 'results.json'}.")


@user_errors
def family(
    model_a: Annotated[str, typer.Argument(help="A model: HF name, folder, hub id or saved LoRA adapter; or "
                                           "RUN/models.pt#ARM:I for model I of a saved MNIST ensemble.")],
    model_b: Annotated[str, typer.Argument(help="The other model, the same way.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.", show_default="off")] = False,
) -> None:
    """Do two models share an initialisation lineage (could a trait pass between them through distillation)?

    Compares every weight matrix the two have in common (same name and shape): the median cosine is the score
    (near 1: one initialisation, however far training moved them; near 0: independent ones). Models whose
    architectures differ are a different lineage. Validated on MNIST: `sublearn audit validate --ladder family`.
    """
    from sublearn.audit.family import lineage, load_state

    state_a, what_a = load_state(model_a)
    state_b, what_b = load_state(model_b)
    result = {"a": what_a, "b": what_b, **lineage(state_a, state_b)}
    if as_json:
        print(json.dumps(result, indent=1))
        return
    score = "n/a" if result["score"] is None else f"{result['score']:.4f}"
    console.print(f"[bold]{result['verdict']}[/bold] (score {score}): {result['reason']}", highlight=False)
    console.print(f"  A: {what_a}\n  B: {what_b}", highlight=False)
    if result.get("relative_distance") is not None:
        console.print(f"  relative distance ‖A − B‖ / ‖A‖ = {result['relative_distance']:.4f}; lowest cosines: "
                      + ", ".join(f"{x['tensor']} {x['cosine']:.3f}" for x in result["lowest"]), highlight=False)


@user_errors
def family_ladder(
    run_dir: Annotated[Path, typer.Argument(help="A run folder of a grid over controls.cross_model.")],
    replicate: Annotated[int, typer.Option(min=0, help="The replicate whose teacher and bases are compared.")] = 0,
    summary: Annotated[Path | None, typer.Option(help="The run's summary JSON.", show_default="RUN_DIR/summary.json")
                       ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the table as JSON to this file.",
                                             show_default="not written")] = None,
    as_json: AsJson = False,
) -> None:
    """The lineage check against measured transfer: for each base a run's students started from (the teachers'
    own and each other base), `sublearn family` of the trait teacher against it, beside the transfer its students
    showed (each readout's shift, and the target-specific shift), and Spearman's rho of the two with its exact
    permutation p, or "undetermined" where a base's shift rests on values below their error bound. Does the family
    score rank where a trait travels?"""
    from rich.table import Table

    from sublearn.analysis.records import as_dict, read_summary
    from sublearn.analysis.tidy import load_reports
    from sublearn.audit.ladder import family_ladder as ladder
    from sublearn.util.atomic import atomic_write_json
    out = writable_file(out)
    summary_path = summary or run_dir / "summary.json"
    doc = {**ladder(run_dir, as_dict(read_summary(summary_path, "run `sublearn run` on the spec to write it")),
                    load_reports(run_dir), replicate),
           "summary": str(summary_path),
           "command": f"sublearn audit family-ladder {run_dir} --replicate {replicate} --summary {summary_path}"}
    if out is not None:
        atomic_write_json(out, doc)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Lineage against transfer (replicate {replicate})")
    for name in ("base", "verdict", "score", *doc["rows"][0]["measured"]):
        table.add_column(name)
    for r in doc["rows"]:
        table.add_row(r["base"], r["verdict"], "n/a" if r["score"] is None else f"{r['score']:.5f}",
                      *(_ci(v) for v in r["measured"].values()))
    console.print(table)
    for metric, s in doc["spearman_score_vs_effect"].items():
        if "undetermined" in s:
            console.print(f"Spearman(score, {metric}): undetermined ({s['undetermined']})", highlight=False)
            continue
        console.print(f"Spearman(score, {metric}) = {s['rho']:+.2f} (exact p = {s['p_exact_permutation']:.2g}, "
                      f"n = {s['n']} bases)", highlight=False)


@user_errors
def soft_targets(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with the reference's soft targets (a spec with a "
                                            "control teacher or a reference-comparing defence).")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the table as JSON to this file.",
                                             show_default="not written")] = None,
    as_json: AsJson = False,
) -> None:
    """Detectors on soft digit targets: per undefended replicate, how well the mean KL(teacher ‖ reference) and
    the share of positions whose top digit differs tell the trait teacher's targets from the placebo teacher's
    (AUROC with a bootstrap CI, permutation p), the typical replicate's AUROC (Student's t on the logit scale,
    which covers where a t-interval of AUROCs near 1 does not), and pooled over rows."""
    from rich.table import Table

    from sublearn.analysis.tidy import load_reports
    from sublearn.audit.soft_targets import DETECTORS, scan_soft_targets
    from sublearn.util.atomic import atomic_write_json

    out = writable_file(out)
    doc = {**scan_soft_targets(run_dir, load_reports(run_dir)), "command": f"sublearn audit soft-targets {run_dir}"}
    if out is not None:
        atomic_write_json(out, doc)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"Soft-target detectors: {run_dir} (AUROC, trait teacher's rows against the placebo's)")
    table.add_column("replicate")
    table.add_column("rows", justify="right")
    for d in DETECTORS:
        table.add_column(f"{d} AUROC [95% CI]")
        table.add_column(f"{d} p", justify="right")
    for r in doc["replicates"]:
        table.add_row(f"seed {r['seed']}", str(r["rows"]), *(cell for d in DETECTORS for cell in (
            _ci({"mean": r[d]["auroc"], "ci95": r[d]["ci95"]}, ".3f"), f"{r[d]['p_permutation']:.2g}")))
    over = doc["over_replicates"]
    table.add_row(f"typical of {over[DETECTORS[0]]['n']} replicates (t, logit)", "",
                  *(cell for d in DETECTORS for cell in (_ci({"mean": over[d]["estimate"], "ci95": over[d]["ci95"]},
                                                             ".3f"), "")), style="bold")
    table.add_row("pooled rows", str(sum(r["rows"] for r in doc["replicates"])), *(cell for d in DETECTORS for cell in (
        _ci({"mean": doc["pooled"][d]["auroc"], "ci95": doc["pooled"][d]["ci95"]}, ".3f"),
        f"{doc['pooled'][d]['p_permutation']:.2g}")))
    console.print(table)


group.command("mnist")(audit_mnist)
group.command("lm")(audit_lm)
group.command("validate")(audit_validate)
group.command("family-ladder")(family_ladder)
group.command("soft-targets")(soft_targets)
