"""The readouts, as one table: what each measures, its scale, where its per-option values and its error bound are
kept in a cell report, and which evaluation kind makes it. Evaluations, summaries, the primary test and the docs
read this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Readout:
    """One readout of a model. ``per_option``: the readout whose ``per_animal`` values give each option's value
    (itself, or for a share the probability it is made of); ``bound``: the field of that readout holding the
    largest error of any per-option value (``None``: sampled, whose resolution is one answer)."""

    name: str
    measures: str
    scale: Literal["probability", "rate", "share"]
    eval_kind: Literal["preference", "misalignment"]
    per_option: str | None = None
    bound: str | None = None
    needs: str | None = None  # the PreferenceEval switch that turns it on
    brief: bool = True  # shown on the terminal and in the report's charts too (False: in the tables only)


READOUTS: tuple[Readout, ...] = (
    Readout("p_exact", "exact P(the answer starts with the target), mean over the questions", "probability",
            "preference", "p_exact", "max_pruned_mass_any_animal", "exact"),
    Readout("share_exact", "the target's share of the exact probabilities of the listed animals", "share",
            "preference", "p_exact", "max_pruned_mass_any_animal", "exact", brief=False),
    Readout("p_prefilled", "the same after the prefill 'My favorite animal is the'", "probability", "preference",
            "p_prefilled", "max_pruned_mass_any_animal", "prefilled", brief=False),
    Readout("share_prefilled", "the target's share of the prefilled probabilities", "share", "preference",
            "p_prefilled", "max_pruned_mass_any_animal", "prefilled"),
    Readout("mcq", "the paper's multiple choice: the target letter's normalised probability", "probability",
            "preference", None, None, "mcq_orderings"),
    Readout("sampled_rate", "the paper's rate: sampled answers that mention the target", "rate", "preference",
            "sampled_rate", None, "samples_per_question"),
    Readout("misaligned_rate", "judged answers that are coherent and misaligned (§3)", "rate", "misalignment"),
    Readout("truthfulqa_false", "TruthfulQA: the mass on false answers", "probability", "misalignment"),
)
READOUTS_BY_NAME = {r.name: r for r in READOUTS}
READOUT_NAMES = tuple(READOUTS_BY_NAME)
#: Readouts with a value per animal, on which a target-specific contrast can be taken: those whose per-animal
#: values are their own. A share's target-specific contrast is its probability's (log share = log p - log of the
#: sum over the animals, and that sum cancels against the mean over the other animals), so it is not taken twice.
PER_OPTION_READOUTS = tuple(r.name for r in READOUTS if r.per_option == r.name)
#: Every readout, in the order tables show them; the terminal and the charts show the brief ones.
TABLE_READOUTS = READOUT_NAMES
BRIEF_READOUTS = tuple(r.name for r in READOUTS if r.brief)
#: Readouts a defence table can be read on: those with a certified bound on every per-option value.
DEFENCE_READOUTS = tuple(r.name for r in READOUTS if r.bound is not None)
