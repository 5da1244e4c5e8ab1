"""``sublearn scan``: does a dataset carry its teacher's signature? Detectors that read the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import console, user_errors, writable_file


@user_errors
def scan(
    data: Annotated[Path, typer.Argument(help="The dataset to scan: chat JSONL, one prompt and reply a line, as "
                                         "sublearn rows or TRL's (standard or conversational) prompt-completion "
                                         "rows or OpenAI's messages.")],
    teacher: Annotated[str, typer.Option(help="The model suspected of writing it: folder, sublearn name, hub id "
                                         "or saved LoRA adapter.")],
    reference: Annotated[str, typer.Option(help="The model to read it against (the teacher's base, or the "
                                           "student's).")],
    control: Annotated[Path | None, typer.Option(help="A control dataset (e.g. a placebo teacher's data for the "
                                                 "same prompts), in any of the same formats: adds the "
                                                 "permutation test and the AUROCs.",
                                                 show_default="none")] = None,
    max_examples: Annotated[int, typer.Option(min=1, help="Scan at most this many rows of each dataset.")] = 512,
    audit: Annotated[bool, typer.Option("--audit", show_default="off",
                                        help="Also the gradient-alignment audit of each dataset: the cosine of the "
                                             "reference's SFT step on it with the teacher's weights minus the "
                                             "reference's (one number per dataset).")] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:K.")] = "cpu",
    out: Annotated[Path | None, typer.Option(help="Write the whole scan, per-example scores included, as JSON.",
                                             show_default="print only")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the dataset-level result as one JSON object.",
                                          show_default="off")] = False,
) -> None:
    """Scan a dataset with a teacher and a reference: per example, the log-likelihood shift (LLS, mean per
    completion token of log p_teacher − log p_reference) and the share of divergence tokens (where the two
    models' most likely tokens differ); per dataset, their means with 95% CIs. With --control, a permutation test
    of the difference in mean LLS and each detector's AUROC at telling the datasets apart (bootstrap CI). For the
    gradient-alignment audit of each dataset too, add the audit flag (or see `sublearn audit lm`)."""
    from sublearn.audit.scan import scan_dataset
    from sublearn.util.atomic import atomic_write_json
    from sublearn.util.chat_rows import read_chat_rows

    writable_file(out)
    read = [read_chat_rows(path, max_examples) for path in (data, control) if path is not None]
    result = scan_dataset(read[0].rows, teacher, reference, read[1].rows if control else None, device, audit=audit)
    result["read"] = {role: part.summary() for role, part in zip(("data", "control"), read, strict=False)}
    if out is not None:
        atomic_write_json(out, result)
    brief = {k: v for k, v in result.items() if k != "examples"}
    if "control" in brief:
        brief["control"] = {k: v for k, v in brief["control"].items() if k != "examples"}
    if as_json:
        print(json.dumps(brief, indent=1))
        return
    for part in read:
        console.print(part.describe(), highlight=False)
    for name, value in result["dataset"].items():
        console.print(f"{name}: {value['mean']:.4g} [{value['ci95'][0]:.4g}, {value['ci95'][1]:.4g}] "
                      f"(n = {value['n']})", highlight=False)
    for label, part in (("data", result), ("control", result.get("control") or {})):
        if "gradient_audit" in part:
            console.print(f"gradient audit ({label}): cosine with the teacher's update "
                          f"{part['gradient_audit']['cosine']:+.4g}", highlight=False)
    versus = result.get("versus_control")
    if versus:
        console.print(f"versus the control: mean LLS {versus['lls_difference']:+.4g}, permutation p = "
                      f"{versus['p_permutation']:.2g}", highlight=False)
        for name, a in versus["auroc"].items():
            console.print(f"  AUROC of {name}: {a['auroc']:.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] "
                          f"({a['n_positive']} vs {a['n_negative']} examples)", highlight=False)
