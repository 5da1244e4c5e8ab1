"""Charts for the HTML report, rendered by matplotlib as inline SVG (no scripts, no network)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sublearn.design.arms import ARMS_BY_NAME

plt.rcParams["svg.hashsalt"] = "sublearn"  # same data, same SVG


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog for inlining


def arm_colour(name: str) -> str:
    """Red for arms trained on the trait teacher's data, blue for those on a control teacher's, grey otherwise."""
    arm = ARMS_BY_NAME.get(name)
    if arm is None or arm.data is None:
        return "#8c8c8c"
    return "#c44e52" if arm.data == "trait" else "#4c72b0"


def bar_chart(title: str, metrics: dict[str, list[tuple[str, float, float, float]]]) -> str:
    """Paper-style bars with 95% CIs: one panel per metric, one bar per arm ``(arm, mean, low, high)``."""
    panels = [(m, rows) for m, rows in metrics.items() if rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (metric, rows) in zip(axes[0], panels, strict=True):
        names = [r[0] for r in rows]
        means = np.array([r[1] for r in rows])
        low = np.clip(means - np.array([r[2] for r in rows]), 0, None)
        high = np.clip(np.array([r[3] for r in rows]) - means, 0, None)
        colours = [arm_colour(n) for n in names]
        ax.bar(range(len(rows)), means, yerr=[low, high], capsize=3, color=colours)
        ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=10)
    return _svg(fig)


def heatmap(title: str, rows: Sequence[str], columns: Sequence[str], values: np.ndarray) -> str:
    """A trait × animal heatmap of lifts, diverging around zero, with the values printed in the cells."""
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(columns), 0.8 + 0.6 * len(rows)))
    bound = float(np.nanmax(np.abs(values))) or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("evaluated animal", fontsize=8)
    ax.set_ylabel("teacher's trait", fontsize=8)
    for i in range(len(rows)):
        for j in range(len(columns)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2g}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="lift")
    ax.set_title(title, fontsize=9)
    return _svg(fig)


def loss_curves(title: str, curves: dict[str, list[list[tuple[int, float]]]]) -> str:
    """Training loss against optimiser step: one line per trained model, coloured by its arm (one legend entry
    per arm); ``curves`` maps an arm to its replicates' ``(step, loss)`` lists."""
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    styles = ("-", "--", ":", "-.")
    for k, (arm, runs) in enumerate(curves.items()):
        for i, points in enumerate(runs):
            steps, losses = zip(*points, strict=True) if points else ((), ())
            ax.plot(steps, losses, color=arm_colour(arm), ls=styles[k % len(styles)], lw=1, alpha=0.8,
                    label=arm if i == 0 else None)
    ax.set_xlabel("optimiser step", fontsize=8)
    ax.set_ylabel("training loss", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    return _svg(fig)


def _whiskers(ax: plt.Axes, labels: Sequence[str], rows: Sequence[tuple[float, float, float]],
              colours: Sequence[str], y: np.ndarray) -> None:
    means = np.array([r[0] for r in rows])
    low = np.clip(means - np.array([r[1] for r in rows]), 0, None)
    high = np.clip(np.array([r[2] for r in rows]) - means, 0, None)
    for k, colour in enumerate(colours):
        ax.errorbar(means[k], y[k], xerr=[[low[k]], [high[k]]], fmt="o", color=colour, capsize=3, markersize=4)
    ax.axvline(0, color="#999", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def shift_chart(title: str, target: str, animals: Sequence[tuple[str, float, float, float]]) -> str:
    """Per animal, log(student / baseline) with its 95% CI over replicates ``(animal, mean, low, high)``; the
    teacher's animal in red. A shift about the trait moves its row alone; a change of style moves every row."""
    fig, ax = plt.subplots(figsize=(4.6, 0.6 + 0.32 * len(animals)))
    colours = ["#c44e52" if a == target else "#4c72b0" for a, *_ in animals]
    _whiskers(ax, [a for a, *_ in animals], [r[1:] for r in animals], colours, np.arange(len(animals))[::-1])
    ax.set_xlabel("log(student / baseline)", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _svg(fig)


def interaction_chart(title: str, rows: Sequence[tuple[str, tuple[float, float, float], tuple[float, float, float]]]
                      ) -> str:
    """Per readout, the student's log ratio to its placebo on the teacher's base (red) and on the other base
    (blue), each with its 95% CI over replicates: init-dependence is the gap between the two."""
    fig, ax = plt.subplots(figsize=(4.6, 0.6 + 0.5 * len(rows)))
    y = np.arange(len(rows))[::-1].astype(float)
    labels = [r[0] for r in rows]
    _whiskers(ax, labels, [r[1] for r in rows], ["#c44e52"] * len(rows), y + 0.12)
    _whiskers(ax, labels, [r[2] for r in rows], ["#4c72b0"] * len(rows), y - 0.12)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("log(student / placebo): same base (red), other base (blue)", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _svg(fig)
