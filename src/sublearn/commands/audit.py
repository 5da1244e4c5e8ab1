"""``sublearn audit``: would this dataset carry a teacher's trait into this student? One gradient tells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``audit`` group to ``app``."""
    from rich.table import Table

    from sublearn.atomic import atomic_write_json
    from sublearn.cli import console, user_errors

    group = typer.Typer(help="Gradient-alignment audit of a distillation: does training the student on a "
                             "candidate dataset pull it toward the teacher's trait (Theorem 1's quantity)?",
                        no_args_is_help=True)
    app.add_typer(group, name="audit")

    @group.command("mnist")
    @user_errors
    def audit_mnist(
        run_dir: Annotated[Path, typer.Argument(help="A folder written by `sublearn mnist --save-models`.")],
        batch: Annotated[int, typer.Option(min=1, help="Candidate inputs per model.")] = 1024,
        logits: Annotated[str, typer.Option(help="Distil the 'aux' logits or 'all'.")] = "aux",
        lr: Annotated[float, typer.Option(help="Step size for the predicted trait-loss change.")] = 3e-4,
    ) -> None:
        """Audit the saved MNIST teachers: same-init and cross-init students, on noise and on real images.

        The teacher's trait update is its trained weights minus its init; the trait loss is cross-entropy on
        labelled digits. Prints the cosine and the predicted trait-loss change with 95% CIs over models, and
        writes RUN_DIR/audit.json.
        """
        import torch

        from sublearn.errors import ConfigError
        from sublearn.mnist.data import load_dataset
        from sublearn.mnist.ensemble import derangement, model_generator
        from sublearn.mnist.experiment import sample_noise
        from sublearn.mnist.runner import MODELS_FILE, load_models
        from sublearn.theory.audit_mnist import audit_ensemble

        saved = load_models(run_dir / MODELS_FILE)
        cfg, ens = saved["config"], saved["ensembles"]
        if "teacher" not in ens:
            raise ConfigError(f"{run_dir}: the saved run has no teacher (run it with a student or teacher arm)")
        data = load_dataset(cfg.dataset, cfg.data_dir)
        n = cfg.n_models
        perm = (torch.tensor(saved["cross_permutation"]) if saved["cross_permutation"]
                else derangement(n, model_generator(cfg.seed, 9)) if n > 1 else None)
        seeds = [cfg.seed + i for i in range(n)]
        candidates = {
            "noise": sample_noise([model_generator(s, 77) for s in seeds], batch, data.input_dim, cfg.noise,
                                  torch.device("cpu")),
            "real": data.x_test[:batch],
        }
        students = {"same init": ens["reference"]}
        if perm is not None:
            students["cross init"] = ens["reference"].select(perm)
        table = Table(title=f"Audit of {run_dir} ({logits} logits; 95% CI over {n} models)")
        for col in ("student", "inputs", "cos(Δθ_S, Δθ_T)", "predicted ΔL_T", "cos(Δθ_S, −∇L_T)"):
            table.add_column(col, justify="right")
        doc = {"run": str(run_dir), "logits": logits, "lr": lr, "batch": batch, "rows": []}
        for student_name, student in students.items():
            for input_name, x in candidates.items():
                summary = audit_ensemble(ens["reference"], ens["teacher"], student, x, data.x_train[:2000],
                                         data.y_train[:2000], logits=logits, lr=lr).summary()
                doc["rows"].append({"student": student_name, "inputs": input_name, **summary})
                cells = [summary[k] for k in ("cosine", "predicted_trait_loss_change", "cosine_trait_gradient")]
                table.add_row(student_name, input_name, *[
                    f"{c['mean']:+.3g} [{c['ci95'][0]:+.3g}, {c['ci95'][1]:+.3g}]" for c in cells])
        atomic_write_json(run_dir / "audit.json", doc)
        console.print(table)
        console.print(f"Wrote {run_dir / 'audit.json'}.")

    @group.command("lm")
    @user_errors
    def audit_lm(
        reference: Annotated[str, typer.Option(help="The student's base model: local folder, sublearn name "
                                               "or hub id.")],
        data: Annotated[Path, typer.Option(help="Candidate dataset, JSONL of {\"prompt\", \"completion\"}.")],
        teacher: Annotated[str | None, typer.Option(help="The teacher's weights (same architecture).")] = None,
        trait_data: Annotated[Path | None, typer.Option(help="JSONL of {\"prompt\", \"completion\"} that "
                                                        "expresses the trait; the teacher's step is one "
                                                        "gradient step on it.")] = None,
        params: Annotated[str, typer.Option(help="Comma-separated substrings of the parameter names to audit "
                                            "(a LoRA-sized subset).")] = "q_proj,v_proj",
        lr: Annotated[float, typer.Option(help="Step size for the predicted trait-loss change.")] = 1e-4,
        max_examples: Annotated[int, typer.Option(min=1, help="Use at most this many candidate rows.")] = 512,
        out: Annotated[Path | None, typer.Option(help="Write the audit as JSON here.")] = None,
    ) -> None:
        """Audit a causal LM: cosine of the SFT gradient on DATA with the teacher's trait update."""
        from sublearn.jsonl import read_jsonl
        from sublearn.theory.audit_lm import audit_causal_lm

        rows = read_jsonl(data, required=("prompt", "completion"))[:max_examples]
        trait = read_jsonl(trait_data, required=("prompt", "completion")) if trait_data else None
        result = audit_causal_lm(reference, rows, teacher=teacher, trait_data=trait,
                                 patterns=[p.strip() for p in params.split(",") if p.strip()], lr=lr)
        if out is not None:
            atomic_write_json(out, result)
        shown = {k: v for k, v in result.items() if k != "parameters"}
        console.print_json(json.dumps(shown))

    @group.command("validate")
    @user_errors
    def audit_validate(
        dataset: Annotated[str, typer.Option(help="digits (fast) or mnist.")] = "digits",
        n_models: Annotated[int, typer.Option("--n-models", "-n", min=2, help="Models per setting.")] = 8,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        out: Annotated[Path, typer.Option(help="Output folder for results.json.")] = Path("runs/audit-validate"),
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """How well does the audit rank real transfer? MNIST settings (m, lr, init noise, weight decay,
        cross-model init) are audited, then trained; prints the table and Spearman correlations."""
        from sublearn.mnist.config import MnistConfig
        from sublearn.progress import rich_progress, step_counter
        from sublearn.theory.validation import validate_audit

        base = MnistConfig(dataset=dataset, n_models=n_models, device=device)
        with rich_progress(console, enabled=not quiet) as progress:
            step = step_counter(progress, "settings")
            doc = validate_audit(base, progress=step)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "results.json", doc)
        table = Table(title=f"Audit vs measured transfer ({dataset}, N = {n_models} per setting)")
        for col in ("setting", "transfer (acc − ref) [95% CI]", "cos(Δθ_S, Δθ_T)", "pred. ΔL_T",
                    "cos(Δθ_S, −∇L_T)"):
            table.add_column(col, justify="right")
        for r in doc["rows"]:
            t = r["transfer"]
            a = r["audit"]
            table.add_row(r["label"], f"{t['mean']:+.3f} [{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}]",
                          f"{a['cosine']['mean']:+.4f}", f"{a['predicted_trait_loss_change']['mean']:+.2e}",
                          f"{a['cosine_trait_gradient']['mean']:+.4f}")
        console.print(table)
        for key in ("cosine", "predicted_trait_loss_decrease", "cosine_trait_gradient"):
            s = doc[f"spearman_{key}"]
            console.print(f"Spearman(transfer, {key}) = {s['rho']:+.2f} (p = {s['p']:.2g}, n = {s['n']} settings)")
        console.print(f"Wrote {out / 'results.json'}.")
