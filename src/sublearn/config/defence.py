"""A defence against subliminal transfer, applied to every student's training data (the trait teacher's student
and the placebo's alike, so the comparison still differs by the trait alone)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sublearn.config.base import Seed, Settings

DefenceKind = Literal["none", "hard_labels", "temperature", "teacher_mix", "divergence_mask", "divergence_replace",
                      "rewrite"]
#: The defences that transform text data (``train.objective: tokens``).
TEXT_DEFENCES: tuple[str, ...] = ("teacher_mix", "divergence_mask", "divergence_replace", "rewrite")


class DefenceConfig(Settings):
    """``kind`` and its setting. On soft digit targets (``train.objective: soft_numbers``):

    - ``hard_labels``: each position's target becomes the teacher's most likely digit (quantisation);
    - ``temperature``: the teacher's distribution at ``temperature`` (above 1 flattens it, below 1 sharpens it);
    - ``teacher_mix``: ``(1 − mix)`` × teacher + ``mix`` × the reference's distribution;
    - ``divergence_mask``: the ``fraction`` of digit positions where the teacher's distribution diverges most from
      the reference's (KL) is dropped from the loss;
    - ``divergence_replace``: those positions get a random digit (one-hot, drawn with ``seed``).

    On text data (``train.objective: tokens``):

    - ``teacher_mix``: a share ``mix`` of each teacher's rows gives way to rows the reference wrote for the same
      carrier (generated and filtered alike);
    - ``divergence_mask``: the ``fraction`` of the completions' digit tokens where the teacher's next-token
      distribution diverges most from the reference's (KL) leaves the loss (a local backend);
    - ``divergence_replace``: those tokens get a random digit instead;
    - ``rewrite``: the model ``rewriter`` rewrites every completion (asked with the row's prompt, to keep its
      content and format), and the carrier's filter runs again on what it wrote.

    Other text-channel defences are settings of their own: threshold sampling is ``carrier.top_p`` /
    ``carrier.temperature``, a different-family student is ``controls.cross_model``, hard labels are a spec
    with ``train.objective: tokens``.
    """

    kind: DefenceKind = "none"
    fraction: float = Field(0.1, gt=0, le=1)  # divergence_*: share of digit positions, largest divergence first
    temperature: float = Field(2.0, gt=0)  # temperature
    mix: float = Field(0.5, ge=0, le=1)  # teacher_mix: the reference's weight
    seed: Seed = 0  # divergence_replace: the random digits; teacher_mix: the rows mixed in; rewrite: its sampling
    rewriter: str | None = None  # rewrite: the model that rewrites (folder, sublearn name or hub id), not the reference

    @model_validator(mode="after")
    def _rewriter_named(self) -> DefenceConfig:
        if (self.kind == "rewrite") != (self.rewriter is not None):
            raise ValueError("defence.rewriter: name the model that rewrites the data with kind rewrite, and only "
                             "with it")
        return self

    @property
    def needs_reference(self) -> bool:
        """Whether the defence compares the teacher with the reference."""
        return self.kind in ("teacher_mix", "divergence_mask", "divergence_replace")

    def label(self) -> str:
        """A short name with the setting that matters, e.g. ``divergence_mask 10%``."""
        setting = {"temperature": f" T={self.temperature:g}", "teacher_mix": f" {self.mix:.0%} reference",
                   "divergence_mask": f" {self.fraction:.0%}", "divergence_replace": f" {self.fraction:.0%}",
                   "rewrite": f" by {self.rewriter}"}
        return self.kind + setting.get(self.kind, "")
