"""The trait × teacher confusion design: does a student gain *its teacher's* animal more than the others?

Each student (a cell: teacher trait × seed) is evaluated on every animal. Its lift on animal ``a`` is its
probability of ``a`` minus its baseline's (the same cell's control student, else the reference model). The
selective transfer is the diagonal effect λ of ``lift ~ C(teacher_trait) + C(animal) + diagonal``, by OLS with
standard errors clustered by student: shifts that add the same amount to every animal, or belong to one teacher
or one animal, are absorbed by the fixed effects. With few students (clusters) the normal approximation is
optimistic, so λ is tested with t(G − 1) and, without any distributional assumption, by permuting the teachers'
traits among the students of each replicate. Fitted on log ratios (``log_lift``), a rise that multiplies every
animal's probability alike is absorbed too.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from sublearn.design.arms import ARMS_BY_NAME

#: Probabilities are floored here before logs.
LOG_FLOOR = 1e-12
#: Above this many rearrangements of the teachers' traits, the permutation test samples this many.
PERMUTATIONS = 2_000


def analysis_key(metric: str, student_arm: str = "student", value: str = "lift") -> str:
    """The name of one fit in ``selective_transfer.json``: the metric, prefixed by any arm but the student, and
    suffixed ``:log`` for the fit on log ratios."""
    key = metric if student_arm == "student" else f"{student_arm}:{metric}"
    return f"{key}:log" if value == "log_lift" else key


def parse_analysis_key(key: str) -> tuple[str, str, str]:
    """(metric, student arm, value) back from :func:`analysis_key`."""
    value = "log_lift" if key.endswith(":log") else "lift"
    arm, _, metric = key.removesuffix(":log").rpartition(":")
    return metric, arm or "student", value


def confusion_frame(per_animal: pd.DataFrame, metric: str = "p_exact", student_arm: str = "student"
                    ) -> pd.DataFrame:
    """Lifts per (cell, teacher trait, animal) from a per-animal table (:func:`per_animal_results`), for the
    ``student_arm`` against its baseline (the first of its baselines in the arms table that the cell has)."""
    if per_animal.empty:
        return pd.DataFrame(columns=["cell", "seed", "teacher_trait", "animal", "lift", "log_lift", "diagonal"])
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
        student = float(row["value"])
        out.append({"cell": cell, "seed": row["seed"], "teacher_trait": row["teacher_trait"], "animal": animal,
                    "student": student, "baseline": baseline, "lift": student - baseline,
                    "log_lift": math.log(max(student, LOG_FLOOR)) - math.log(max(baseline, LOG_FLOOR)),
                    "diagonal": int(row["teacher_trait"] == animal)})
    return pd.DataFrame(out)


def confusion_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean lift, teacher trait (rows) × evaluated animal (columns)."""
    return frame.pivot_table(index="teacher_trait", columns="animal", values="lift", aggfunc="mean")


def _fit_lambda(frame: pd.DataFrame, value: str, groups: np.ndarray) -> Any:
    import statsmodels.formula.api as smf

    terms = ["diagonal", "C(teacher_trait)", "C(animal)"]
    return smf.ols(f"{value} ~ {' + '.join(terms)}", data=frame).fit(cov_type="cluster", cov_kwds={"groups": groups})


def selective_transfer(frame: pd.DataFrame, cluster: str = "cell", value: str = "lift",
                       permutations: int = PERMUTATIONS) -> dict[str, Any]:
    """λ, the diagonal effect on ``value`` (``lift`` or ``log_lift``): estimate, cluster-robust SE, 95% CI and
    p-value with t(G − 1) for G clusters, and a permutation p-value (the teachers' traits shuffled among the
    students of each replicate; exact when there are few arrangements, else ``permutations`` draws, seeded)."""
    traits, animals = frame["teacher_trait"].nunique(), frame["animal"].nunique()
    if frame.empty or traits < 2 or animals < 2 or frame["diagonal"].nunique() < 2:
        raise ValueError("selective transfer needs at least two teacher traits, each evaluated on two or more "
                         "animals including its own")
    groups = pd.factorize(frame[cluster])[0]
    fit = _fit_lambda(frame, value, groups)
    n_clusters = int(np.unique(groups).size)
    estimate, se = float(fit.params["diagonal"]), float(fit.bse["diagonal"])
    df = max(n_clusters - 1, 1)
    half = float(sps.t.ppf(0.975, df)) * se
    p_t = float(2 * sps.t.sf(abs(estimate / se), df)) if se > 0 else float("nan")
    null = _permuted_estimates(frame, value, cluster, permutations)
    p_perm = float((np.abs(null) >= abs(estimate) - 1e-15).mean()) if len(null) else float("nan")
    return {"estimate": estimate, "se": se, "ci95": [estimate - half, estimate + half], "p": p_t, "df": df,
            "p_permutation": p_perm, "n_permutations": len(null), "n_obs": int(fit.nobs), "n_clusters": n_clusters,
            "value": value, "formula": f"{value} ~ diagonal + C(teacher_trait) + C(animal)",
            "cov": f"cluster-robust by {cluster}; t({df}); permutation of teacher traits within replicate"}


def _diagonal_ols(values: np.ndarray, teachers: np.ndarray, animals: np.ndarray) -> float:
    """λ by least squares with teacher and animal fixed effects (the point estimate of :func:`_fit_lambda`)."""
    diagonal = (teachers == animals).astype(float)
    t_codes = pd.factorize(teachers)[0]
    a_codes = pd.factorize(animals)[0]
    columns = [np.ones_like(values), diagonal]
    columns += [(t_codes == k).astype(float) for k in range(1, t_codes.max() + 1)]
    columns += [(a_codes == k).astype(float) for k in range(1, a_codes.max() + 1)]
    coef, *_ = np.linalg.lstsq(np.column_stack(columns), values, rcond=None)
    return float(coef[1])


def _permuted_estimates(frame: pd.DataFrame, value: str, cluster: str, permutations: int) -> np.ndarray:
    """λ refitted under rearrangements of the teachers' traits among each replicate's students (the identity
    included): every rearrangement when there are at most ``permutations``, else that many random ones."""
    cells = frame[[cluster, "seed", "teacher_trait"]].drop_duplicates(cluster)
    by_seed = [list(g[cluster]) for _, g in cells.groupby("seed")]
    traits = dict(zip(cells[cluster], cells["teacher_trait"], strict=True))
    per_seed = [list(itertools.permutations([traits[c] for c in members])) for members in by_seed]
    total = math.prod(len(p) for p in per_seed)
    rng = np.random.default_rng(0)
    if total <= permutations:
        arrangements = list(itertools.product(*per_seed))
    else:
        arrangements = [tuple(p[rng.integers(len(p))] for p in per_seed) for _ in range(permutations)]
    values = frame[value].to_numpy(dtype=float)
    animals = frame["animal"].to_numpy()
    owners = frame[cluster].to_numpy()
    out = []
    for arrangement in arrangements:
        relabel = {c: t for members, labels in zip(by_seed, arrangement, strict=True)
                   for c, t in zip(members, labels, strict=True)}
        teachers = np.array([relabel[c] for c in owners])
        if (teachers == animals).all() or not (teachers == animals).any():
            continue
        out.append(_diagonal_ols(values, teachers, animals))
    return np.array(out)
