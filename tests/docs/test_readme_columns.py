"""The README explains every column a first run prints: each readout of the readouts table, each column of the
effects table, and each arm of the arms table (or its family, ``cross_*``)."""

import re
from pathlib import Path

from sublearn.analysis.records import SummaryGroup
from sublearn.analysis.summary import effect_rows
from sublearn.config.readouts import READOUT_NAMES
from sublearn.design.arms import ARM_NAMES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
EXPLAINED = set(re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S)))


def _named(name: str) -> bool:
    return name in EXPLAINED or any(name in cell.replace(" ", "").split(",") for cell in EXPLAINED) or any(
        p.endswith("*") and name.startswith(p[:-1]) for c in EXPLAINED for p in c.replace(" ", "").split(","))


def test_every_readout_and_arm_is_explained():
    assert not [r for r in READOUT_NAMES if not _named(r)]
    assert not [a for a in ARM_NAMES if not _named(a)]


def test_every_effect_column_is_explained():
    test = {"estimate": 0.1, "ci95": [0, 0.2], "n": 5, "n_positive": 5, "p_ttest": 0.01, "p_holm": 0.02,
            "p_permutation": 0.06, "same_base": {"estimate": 0.1, "ci95": [0, 1], "n": 5},
            "other_base": {"estimate": 0.0, "ci95": [0, 1], "n": 5}}
    group = {"gap_fraction": {"p_exact": {"estimate": 0.01, "ci95": [0, 0.02], "n": 5}},
             "interaction": {"p_exact": test}, "target_shift": {"p_exact": {"student": test}},
             "target_interaction": {"p_exact": test}}
    rows = effect_rows(SummaryGroup(spec={}, seeds=[], cells=[], **group))
    columns = {c.strip() for c in rows[0]} - {"readout", "p (t)", "p (permutation)", "positive"}
    assert not [c for c in columns if not _named(c)]
