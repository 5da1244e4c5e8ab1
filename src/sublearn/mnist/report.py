"""Tables and the paper-style bar chart for the auxiliary-logit experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from sublearn.util.atomic import atomic_write_with

ARM_LABELS = {
    "reference": "Reference\n(untrained)",
    "teacher": "Teacher",
    "student_aux": "Student\n(aux. only)",
    "student_all": "Student\n(all logits)",
    "cross_aux": "Cross-model\n(aux. only)",
    "cross_all": "Cross-model\n(all logits)",
}


def accuracy_table(results: dict[str, Any]) -> Table:
    """A rich table: per arm, mean test accuracy, 95% CI over the N models, and n."""
    table = Table(title=f"Test accuracy on {results['config']['dataset']} (95% CI over models, t-interval)")
    table.add_column("arm")
    table.add_column("mean", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    for arm, summary in results["arms"].items():
        lo, hi = summary["ci95"]
        table.add_row(arm, f"{summary['mean']:.3f}", f"[{lo:.3f}, {hi:.3f}]", str(summary["n"]))
    return table


def paired_test_line(results: dict[str, Any]) -> str | None:
    """One line summarising the paired test of student_aux against cross_aux, if it was run."""
    test = results.get("paired_test")
    if not test:
        return None
    lo, hi = test["ci95"]
    wil = test["p_wilcoxon"]
    wil_txt = f", Wilcoxon p = {wil:.2g}" if wil is not None else ""
    return (f"Paired test, {test['first']} − {test['second']} over n = {test['n']} teachers: "
            f"{test['mean_diff']:+.3f} [95% CI {lo:+.3f}, {hi:+.3f}], t = {test['t']:.2f}, "
            f"p = {test['p_ttest']:.2g}{wil_txt}; {test['n_first_greater']}/{test['n']} pairs favour "
            f"{test['first']}.")


def bar_chart(results: dict[str, Any], path: Path) -> Path:
    """Write the paper-style bar chart (mean ± 95% CI per arm, reference and chance lines) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(results["arms"])
    means = [results["arms"][a]["mean"] for a in arms]
    lows = [results["arms"][a]["mean"] - results["arms"][a]["ci95"][0] for a in arms]
    highs = [results["arms"][a]["ci95"][1] - results["arms"][a]["mean"] for a in arms]
    colours = {"reference": "#9e9e9e", "teacher": "#37474f", "student_aux": "#1e88e5",
               "student_all": "#90caf9", "cross_aux": "#e53935", "cross_all": "#ef9a9a"}
    fig, ax = plt.subplots(figsize=(1.4 * len(arms) + 2, 4.2), dpi=120)
    ax.bar(range(len(arms)), means, yerr=[lows, highs], capsize=5,
           color=[colours.get(a, "#607d8b") for a in arms], edgecolor="black", linewidth=0.6)
    for i, mean in enumerate(means):
        ax.text(i, mean + highs[i] + 0.015, f"{mean:.2f}", ha="center", va="bottom", fontsize=9)
    if "reference" in results["arms"]:
        ax.axhline(results["arms"]["reference"]["mean"], ls=":", color="black", lw=1, label="reference")
    ax.axhline(results.get("chance_accuracy", 0.1), ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xticks(range(len(arms)), [ARM_LABELS.get(a, a) for a in arms], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    cfg = results["config"]
    ax.set_title(f"Subliminal learning through auxiliary logits ({cfg['dataset']}, N = {cfg['n_models']}, "
                 f"m = {cfg['m_aux']})", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path
