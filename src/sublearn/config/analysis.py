"""The spec's ``analysis`` section: the one primary test, declared before running.

Every other test a run computes is secondary and corrected with the others as one family (Holm). The primary
contrasts:

- ``target_interaction`` (preference traits): per replicate, the target-specific shift, log(student / placebo)
  for the target minus its mean over the other animals, on the teachers' base minus the same on the other base;
- ``target_shift``: that target-specific shift on one base (``base: same`` or ``other``);
- ``interaction``: log(student / placebo) of the readout on the teachers' base minus the same on the other base;
- ``difference``: student − its baseline of the readout, on one base (e.g. a misalignment rate).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from sublearn.config.readouts import PER_OPTION_READOUTS, READOUT_NAMES, READOUTS_BY_NAME
from sublearn.util.settings import Settings

Contrast = Literal["target_interaction", "target_shift", "interaction", "difference"]
#: Contrasts taken between the two bases (they need another base); the rest are on one base.
BETWEEN_BASES: tuple[str, ...] = ("target_interaction", "interaction")
#: Contrasts on each animal's value (they need a readout with per-animal values).
TARGET_SPECIFIC: tuple[str, ...] = ("target_interaction", "target_shift")


class PrimaryTest(Settings):
    """The declared primary test: a readout, a contrast, and (for one-base contrasts) the base."""

    readout: str
    contrast: Contrast
    base: Literal["same", "other", "both"] = "both"
    alternative: Literal["two-sided", "greater"] = "two-sided"
    #: In a grid over ``controls.cross_model``: the other base whose group holds the primary test (the other
    #: groups' tests are secondary). ``None``: the spec's only other base.
    other_base: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PrimaryTest:
        if self.readout not in READOUT_NAMES:
            raise ValueError(f"readout: {self.readout!r} is not a readout ({', '.join(READOUT_NAMES)})")
        if self.contrast in TARGET_SPECIFIC and self.readout not in PER_OPTION_READOUTS:
            source = READOUTS_BY_NAME[self.readout].per_option
            hint = f" (a share's target-specific contrast is {source}'s: the share's sum cancels)" if source else ""
            raise ValueError(f"contrast {self.contrast}: needs a readout with its own value per animal "
                             f"({', '.join(PER_OPTION_READOUTS)}){hint}")
        between = self.contrast in BETWEEN_BASES
        if between and self.base != "both":
            raise ValueError(f"base: contrast {self.contrast} compares both bases (base: both)")
        if not between and self.base == "both":
            raise ValueError(f"base: contrast {self.contrast} is on one base: same or other")
        return self

    def describe(self) -> str:
        """One line naming the test, as ``sublearn plan`` and the report print it."""
        where = "teachers' base minus other base" if self.base == "both" else f"{self.base} base"
        other = f"; other base {self.other_base}" if self.other_base else ""
        return f"{self.contrast} on {self.readout} ({where}{other}; {self.alternative})"


class AnalysisConfig(Settings):
    """How a run's results are tested (changes no artifact)."""

    primary: PrimaryTest | None = None
