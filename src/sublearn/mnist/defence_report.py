"""The defence table and chart of ``sublearn defend mnist``."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from sublearn.mnist.records import MnistDefenceTable
from sublearn.util.atomic import atomic_write_with


def _ci(low: float | None, high: float | None, percent: bool = False) -> str:
    if low is None or high is None:
        return "—"
    return f"[{100 * low:.0f}%, {100 * high:.0f}%]" if percent else f"[{low:.3f}, {high:.3f}]"


def defence_table(doc: MnistDefenceTable) -> Table:
    """Per defence: the effect that remains (fraction of the undefended effect, with its CI over models), the
    effect itself, the paired test against no defence, and the costs."""
    base = doc.baseline
    table = Table(title=f"Defences on {doc.config['dataset']}: effect = student accuracy − reference accuracy; "
                        f"undefended {base.effect:.3f} {_ci(*base.ci95)} (n = {base.n} models)")
    for column in ("defence", "remaining", "95% CI", "effect", "p vs none", "data kept", "aux agreement"):
        table.add_column(column, justify="left" if column == "defence" else "right")
    table.add_row("none", "100%", "", f"{base.effect:.3f}", "", "100%", f"{base.aux_agreement.mean:.3f}")
    for row in doc.defences:
        effect, test = row.effect, row.versus_undefended
        remaining = "—" if row.remaining_fraction is None else f"{100 * row.remaining_fraction:.0f}%"
        table.add_row(row.name, remaining, _ci(*row.ci95, percent=True),
                      f"{effect.mean:.3f} {_ci(*effect.ci95)}", f"{test['p_ttest']:.2g}",
                      f"{100 * row.data_kept:.0f}%", f"{row.aux_agreement.mean:.3f}")
    return table


def defence_chart(doc: MnistDefenceTable, path: Path) -> Path:
    """A horizontal bar chart of the remaining fraction per defence, with its 95% CI, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc.defences
    names = [r.name for r in rows]
    values = [r.remaining_fraction if r.remaining_fraction is not None else float("nan") for r in rows]
    errors = [[v - (r.ci95[0] if r.ci95[0] is not None else v) for v, r in zip(values, rows, strict=True)],
              [(r.ci95[1] if r.ci95[1] is not None else v) - v for v, r in zip(values, rows, strict=True)]]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.4), dpi=120)
    ax.barh(range(len(rows)), values, xerr=errors, capsize=4, color="#1e88e5", edgecolor="black", linewidth=0.6)
    ax.axvline(1.0, ls=":", color="black", lw=1, label="undefended")
    ax.axvline(0.0, ls="-", color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effect remaining (fraction of the undefended student's accuracy gain)")
    cfg = doc.config
    ax.set_title(f"Defences against auxiliary-logit transfer ({cfg['dataset']}, N = {cfg['n_models']})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path
