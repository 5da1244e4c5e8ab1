"""The trait × teacher confusion design: does a student gain *its teacher's* animal more than the others?

Each student (a cell: teacher trait × seed) is evaluated on every animal. Its lift on animal ``a`` is its
probability of ``a`` minus its baseline's (the same cell's control student, else the reference model). The
selective transfer is the diagonal effect λ of ``lift ~ C(teacher_trait) + C(animal) + diagonal``, by OLS with
standard errors clustered by student: shifts that move every animal alike, or that belong to one teacher or one
animal, are absorbed by the fixed effects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sublearn.design.arms import ARMS_BY_NAME


def analysis_key(metric: str, student_arm: str = "student") -> str:
    """The name of one fit in ``selective_transfer.json``: the metric, prefixed by any arm but the student."""
    return metric if student_arm == "student" else f"{student_arm}:{metric}"


def parse_analysis_key(key: str) -> tuple[str, str]:
    """(metric, student arm) back from :func:`analysis_key`."""
    arm, _, metric = key.rpartition(":")
    return metric, arm or "student"


def confusion_frame(per_animal: pd.DataFrame, metric: str = "p_exact", student_arm: str = "student"
                    ) -> pd.DataFrame:
    """Lifts per (cell, teacher trait, animal) from a per-animal table (:func:`per_animal_results`), for the
    ``student_arm`` against its baseline (the first of its baselines in the arms table that the cell has)."""
    if per_animal.empty:
        return pd.DataFrame(columns=["cell", "seed", "teacher_trait", "animal", "lift", "diagonal"])
    data = per_animal[per_animal["metric"] == metric]
    student = data[data["arm"] == student_arm].set_index(["cell", "animal"])
    out = []
    for (cell, animal), row in student.iterrows():
        baseline = None
        for arm in ARMS_BY_NAME[student_arm].baselines:
            match = data[(data["cell"] == cell) & (data["arm"] == arm) & (data["animal"] == animal)]
            if not match.empty:
                baseline = float(match["value"].iloc[0])
                break
        if baseline is None:
            continue
        out.append({"cell": cell, "seed": row["seed"], "teacher_trait": row["teacher_trait"], "animal": animal,
                    "student": float(row["value"]), "baseline": baseline, "lift": float(row["value"]) - baseline,
                    "diagonal": int(row["teacher_trait"] == animal)})
    return pd.DataFrame(out)


def confusion_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean lift, teacher trait (rows) × evaluated animal (columns)."""
    return frame.pivot_table(index="teacher_trait", columns="animal", values="lift", aggfunc="mean")


def selective_transfer(frame: pd.DataFrame, cluster: str = "cell") -> dict[str, Any]:
    """λ, the diagonal effect, with cluster-robust SE, 95% CI and p-value (statsmodels OLS)."""
    import statsmodels.formula.api as smf

    traits, animals = frame["teacher_trait"].nunique(), frame["animal"].nunique()
    if frame.empty or traits < 2 or animals < 2 or frame["diagonal"].nunique() < 2:
        raise ValueError("selective transfer needs at least two teacher traits, each evaluated on two or more "
                         "animals including its own")
    terms = ["diagonal"] + (["C(teacher_trait)"] if traits > 1 else []) + ["C(animal)"]
    model = smf.ols(f"lift ~ {' + '.join(terms)}", data=frame)
    groups = pd.factorize(frame[cluster])[0]
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    low, high = fit.conf_int().loc["diagonal"]
    return {"estimate": float(fit.params["diagonal"]), "se": float(fit.bse["diagonal"]),
            "ci95": [float(low), float(high)], "p": float(fit.pvalues["diagonal"]), "n_obs": int(fit.nobs),
            "n_clusters": int(np.unique(groups).size), "formula": f"lift ~ {' + '.join(terms)}",
            "cov": f"cluster-robust by {cluster}"}
