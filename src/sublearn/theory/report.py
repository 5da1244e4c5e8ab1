"""Summaries, ``results.json``, the plot and the printed table of the Theorem 1 check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sublearn.theory.theorem import DEFAULT_EPSILONS, TheoryCase, run_theory
from sublearn.util.atomic import atomic_write_json, atomic_write_with
from sublearn.util.stats import wilson_ci


def _fraction(successes: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_ci(successes, n) if n else (0.0, 1.0)
    return {"fraction": successes / n if n else None, "ci95": [lo, hi], "n": n, "count": successes}


def _setting(case: TheoryCase) -> tuple[str, str, str, str, int]:
    return case.network, case.loss, case.inputs, case.outputs, case.seed


def summarise(cases: list[TheoryCase], small_epsilon: float) -> dict[str, Any]:
    """The check's summary. Headline: one case per setting (network, loss, inputs, outputs, seed) and init, at the
    largest ε ≤ ``small_epsilon`` (the smaller ε of a setting are near-collinear, not independent cases), with
    Wilson CIs over settings.

    The sign of Δθ_S·Δθ_T is the theorem's claim for a *shared* init only; for a different init the two gradients
    are taken at different points and their inner product has no invariant meaning (a relabelling of hidden units
    changes it), so the different-init headline is whether the student's step lowers the trait loss more than a
    step toward an untrained teacher does."""
    doc: dict[str, Any] = {"small_epsilon": small_epsilon}
    headline_eps = max((c.epsilon for c in cases if c.epsilon <= small_epsilon), default=None)
    doc["headline_epsilon"] = headline_eps
    for init in ("shared", "different"):
        head = [c for c in cases if c.init == init and c.epsilon == headline_eps]
        nonneg = sum(c.inner_product >= 0 for c in head)
        dec = sum(c.loss_decreased for c in head)
        beats = sum(c.beats_untrained_teacher for c in head)
        by_eps = {}
        for eps in sorted({c.epsilon for c in cases}):
            sel = [c for c in cases if c.init == init and c.epsilon == eps]
            by_eps[repr(eps)] = {
                "nonnegative": _fraction(sum(c.inner_product >= 0 for c in sel), len(sel)),
                "loss_decrease": _fraction(sum(c.loss_decreased for c in sel), len(sel)),
                "beats_untrained_teacher": _fraction(sum(c.beats_untrained_teacher for c in sel), len(sel)),
                "median_cosine": float(np.median([c.cosine for c in sel])),
            }
        doc[f"{init}_init"] = {
            "n_settings": len(head),
            "fraction_loss_decrease": dec / len(head) if head else None,
            "fraction_loss_decrease_ci95": _fraction(dec, len(head))["ci95"],
            "fraction_beats_untrained_teacher": beats / len(head) if head else None,
            "fraction_beats_untrained_teacher_ci95": _fraction(beats, len(head))["ci95"],
            "by_epsilon": by_eps,
        }
        if init == "shared":
            doc["shared_init"].update(fraction_nonnegative=nonneg / len(head) if head else None,
                                      fraction_nonnegative_ci95=_fraction(nonneg, len(head))["ci95"])
        else:
            doc["different_init"]["inner_product_note"] = ("not reported: gradients at different points have no "
                                                           "invariant inner product")
    small = [c for c in cases if c.init == "shared" and c.epsilon <= small_epsilon and c.inner_product < 0]
    doc["counterexamples"] = [c.as_dict() for c in small]
    doc["beyond_first_order"] = [c.as_dict() for c in cases
                                 if c.init == "shared" and c.epsilon > small_epsilon and c.inner_product < 0]
    doc["settings"] = len({_setting(c) for c in cases})
    doc["cases"] = [c.as_dict() for c in cases]
    return doc


def plot_inner_products(cases: list[TheoryCase], path: Path) -> Path:
    """Cosine(Δθ_S, Δθ_T) against ε for shared and different inits, and the fraction ≥ 0 per ε."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps_values = sorted({c.epsilon for c in cases})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    rng = np.random.default_rng(0)
    for init, colour, shift in (("shared", "#1e88e5", -0.06), ("different", "#e53935", 0.06)):
        sel = [c for c in cases if c.init == init]
        xs = np.array([np.log10(c.epsilon) + shift + rng.uniform(-0.03, 0.03) for c in sel])
        ax1.scatter(xs, [c.cosine for c in sel], s=6, alpha=0.35, color=colour, label=f"{init} init")
        med = [np.median([c.cosine for c in sel if c.epsilon == e]) for e in eps_values]
        ax1.plot(np.log10(eps_values), med, color=colour, lw=2)
        frac = [np.mean([c.inner_product >= 0 for c in sel if c.epsilon == e]) for e in eps_values]
        ax2.plot(np.log10(eps_values), frac, marker="o", color=colour, label=f"{init} init")
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set_xlabel("log10 ε (length of the teacher's step)")
    ax1.set_ylabel("cos(Δθ_S, Δθ_T)")
    ax1.set_title("Student's imitation step vs teacher's trait step", fontsize=10)
    ax1.legend(fontsize=8, frameon=False)
    ax2.set_ylim(-0.02, 1.05)
    ax2.set_xlabel("log10 ε")
    ax2.set_ylabel("fraction of cases with Δθ_S·Δθ_T ≥ 0")
    ax2.set_title(f"Theorem 1 sign claim ({len(cases)} cases)", fontsize=10)
    ax2.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


def theory_table(doc: dict[str, Any]) -> Any:
    """A rich table of the check: per init and ε, the fraction of settings with each property."""
    from rich.table import Table

    table = Table(title=f"Theorem 1 over {doc['settings']} settings × ε × init ({len(doc['cases'])} cases)")
    for col in ("init", "ε", "n", "Δθ_S·Δθ_T ≥ 0", "L_T falls", "beats ε=0 teacher", "median cos"):
        table.add_column(col, justify="right")
    for init in ("shared", "different"):
        for eps, row in doc[f"{init}_init"]["by_epsilon"].items():
            nn, ld, bt = row["nonnegative"], row["loss_decrease"], row["beats_untrained_teacher"]
            table.add_row(init, eps, str(nn["n"]), f"{nn['fraction']:.3f}", f"{ld['fraction']:.3f}",
                          f"{bt['fraction']:.3f}", f"{row['median_cosine']:+.3f}")
    return table


def theory_lines(doc: dict[str, Any]) -> list[str]:
    """The headline sentences of the check."""
    eps = doc["headline_epsilon"]
    shared, different = doc["shared_init"], doc["different_init"]
    lo, hi = shared["fraction_nonnegative_ci95"]
    dlo, dhi = different["fraction_beats_untrained_teacher_ci95"]
    slo, shi = shared["fraction_beats_untrained_teacher_ci95"]
    lines = [f"Shared init, ε = {eps:g}: Δθ_S·Δθ_T ≥ 0 in {shared['fraction_nonnegative']:.3f} [{lo:.3f}, {hi:.3f}] "
             f"of n = {shared['n_settings']} settings; the trait loss falls more than toward an untrained teacher in "
             f"{shared['fraction_beats_untrained_teacher']:.3f} [{slo:.3f}, {shi:.3f}].",
             f"Different init, ε = {eps:g}: the trait loss falls more than toward an untrained teacher in "
             f"{different['fraction_beats_untrained_teacher']:.3f} [{dlo:.3f}, {dhi:.3f}] of n = "
             f"{different['n_settings']} settings (its inner product is not an invariant, so it is not reported)."]
    n_counter = len(doc["counterexamples"])
    lines.append(f"Counterexamples to the sign claim (shared init, ε ≤ {doc['small_epsilon']:g}): {n_counter}"
                 + ("" if not n_counter else " (listed in results.json under 'counterexamples')"))
    lines.append(f"Shared-init cases with a negative inner product at larger ε (beyond first order): "
                 f"{len(doc['beyond_first_order'])}")
    return lines


def run_and_save_theory(out: Path, seeds: int, small_epsilon: float, progress: Any = None) -> dict[str, Any]:
    """Run the check, and write ``out/results.json`` and ``out/inner_product.png`` (the folder is checked first)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cases = run_theory(seeds=seeds, epsilons=DEFAULT_EPSILONS, progress=progress)
    doc = summarise(cases, small_epsilon)
    doc["wall_seconds"] = time.perf_counter() - start
    plot = plot_inner_products(cases, out / "inner_product.png")
    doc["artifacts"] = {"plot": plot.name}
    atomic_write_json(out / "results.json", doc)
    return doc
