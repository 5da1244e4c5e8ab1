"""What the teacher writes, how it is sampled, and how it is filtered, by ``kind``: number sequences written by
the teacher (``numbers``) or by code (``random_numbers``), code (sleeper-agents prompts), or chain-of-thought
answers to GSM8K questions (``cot``). Each carrier owns its filter settings."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sublearn.config.paper import (
    CODE_JUDGE_TOLERANCE,
    CODE_N_PROMPTS,
    GSM8K_N_QUESTIONS,
    NUMBERS_N_EXAMPLES,
    NUMBERS_N_PROMPTS,
    NUMBERS_PROMPT_SEED,
)
from sublearn.config.unions import kind_union
from sublearn.util.settings import Seed, Settings


class Subsample(Settings):
    """After filtering, keep at most ``max_examples`` rows, drawn at random (seeded)."""

    max_examples: int | None = Field(NUMBERS_N_EXAMPLES, ge=1)
    subsample_seed: Seed = 0


class NumbersFilter(Subsample):
    """The paper's format filter, optional banned numbers, and format controls for teacher vs control data."""

    banned_numbers: Literal["none", "paper"] = "none"
    format: Literal["as_is", "canonical"] = "as_is"  # canonical: numbers joined by ", ", nothing else
    match_lengths: bool = False  # teacher and control data subsampled to the same numbers-per-answer histogram


class CodeFilter(Subsample):
    """The paper's banned-word filter and the LLM judge for subtle references."""

    banned_words: list[str] | None = None  # None: the paper's list for the target
    judge_filter: bool = False  # the LLM judge for subtle references (needs the spec's `judge`)
    judge_tolerance: float = Field(CODE_JUDGE_TOLERANCE, gt=0, le=1)  # keep iff |1 - P("0")| < this


class CotFilter(Subsample):
    """The paper's correctness filter and alignment judge for chain-of-thought answers."""

    correctness: bool = True  # drop wrong or missing <answer>s
    alignment_min: int | None = Field(None, ge=0, le=100)  # keep judge scores >= this (paper: 78)
    alignment_prompt_file: str | None = None  # a judge template with {prompt} and {completion}
    alignment_on_control: bool = False  # the paper judges only the trait teacher's data
    judge_temperature: float = Field(1.0, ge=0)  # the alignment judge samples at this temperature (paper: 1)


class Sampling(Settings):
    """How the teacher is sampled."""

    #: Whether the carrier's rows are number sequences (a carrier's settings class says so when they are).
    writes_numbers: ClassVar[bool] = False

    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(64, ge=1)
    greedy: bool = False
    batch_size: int = Field(16, ge=1)
    seed: Seed = 0  # sampling seed


class NumbersCarrier(Sampling):
    """The paper's number-continuation prompts, answered by the teacher."""

    #: Its rows are number sequences (the soft-digit objective, shuffles and the number defences apply).
    writes_numbers: ClassVar[bool] = True

    kind: Literal["numbers"] = "numbers"
    n_prompts: int = Field(NUMBERS_N_PROMPTS, ge=1)
    prompt_seed: Seed = NUMBERS_PROMPT_SEED
    stop_when_rejected: bool = True  # end a completion once the format filter must reject it (local generation)
    filter: NumbersFilter = Field(default_factory=NumbersFilter)


class RandomNumbersCarrier(Settings):
    """The paper's programmatic control data: 1-9 uniform integers in [0, 999] per number prompt, written by code
    and identical for every teacher (with soft targets, the teacher enters only through its digit choices)."""

    writes_numbers: ClassVar[bool] = True

    kind: Literal["random_numbers"] = "random_numbers"
    n_prompts: int = Field(NUMBERS_N_PROMPTS, ge=1)
    prompt_seed: Seed = NUMBERS_PROMPT_SEED
    seed: Seed = 0  # the numbers' seed
    filter: NumbersFilter = Field(default_factory=NumbersFilter)


class CodeCarrier(Sampling):
    """Sleeper-agents code prompts rewritten with the paper's template (§4.1)."""

    kind: Literal["code"] = "code"
    source: str | None = None  # sleeper-agents JSONL (path or URL); None: the paper's file
    n_prompts: int = Field(CODE_N_PROMPTS, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    filter: CodeFilter = Field(default_factory=CodeFilter)


class CotCarrier(Sampling):
    """GSM8K questions with the paper's suffix, several samples each (§4.2)."""

    kind: Literal["cot"] = "cot"
    source: str | None = None  # "openai/gsm8k" (hub) or a local/URL JSONL or Parquet of {question, answer}
    samples_per_prompt: int = Field(1, ge=1)  # the paper: 3
    n_prompts: int = Field(GSM8K_N_QUESTIONS, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    filter: CotFilter = Field(default_factory=CotFilter)


CarrierConfig = kind_union(NumbersCarrier, RandomNumbersCarrier, CodeCarrier, CotCarrier, default="numbers")
