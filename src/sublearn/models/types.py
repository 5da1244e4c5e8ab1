"""Chat requests, answers and the two model protocols the rest of sublearn is written against. No torch here.

- :class:`ChatModel` answers chat-completions requests (a local model, an API model, ``sublearn serve``):
  judges, sampled readouts, the MCQ and free-form evaluations need only this.
- :class:`LogprobModel` gives exact probabilities of continuations (local models): the exact and prefilled
  preference readouts need it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingSettings:
    """How to decode: greedy, or sampling at ``temperature`` with nucleus ``top_p``."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = False


#: A carrier's stop rule: true once a completion so far can no longer pass the carrier's filter, whatever follows
#: (generation of that completion may stop there: the filter rejects it either way).
StopRule = Callable[[str], bool]


#: Temperatures below this decode greedily (sampling's limit): dividing logits by a smaller one can overflow.
GREEDY_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request, mirroring the OpenAI fields sublearn uses. ``temperature`` below
    :data:`GREEDY_TEMPERATURE` (0 included): greedy."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 64
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0

    @classmethod
    def of(cls, messages: list[dict[str, str]], **kwargs: Any) -> ChatRequest:
        """From OpenAI-style ``[{"role", "content"}]`` messages."""
        return cls(messages=tuple((m["role"], m["content"]) for m in messages), **kwargs)

    @classmethod
    def user(cls, prompt: str, system: str | None = None, **kwargs: Any) -> ChatRequest:
        """One user turn, after an optional system prompt."""
        return cls(messages=user_turn(prompt, system), **kwargs)

    @property
    def greedy(self) -> bool:
        """Whether the request decodes greedily."""
        return self.temperature < GREEDY_TEMPERATURE

    def message_dicts(self) -> list[dict[str, str]]:
        """The messages as OpenAI-style dicts."""
        return [{"role": role, "content": content} for role, content in self.messages]


def user_turn(prompt: str, system: str | None = None) -> tuple[tuple[str, str], ...]:
    """The messages of one user turn after an optional system prompt."""
    return ((("system", system),) if system else ()) + (("user", prompt),)


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability, and the most likely alternatives at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ChatChoice:
    """One completion: its text, why it stopped (``stop`` | ``length``), and token logprobs if asked for."""

    text: str
    finish_reason: str = "stop"
    logprobs: tuple[TokenLogprob, ...] | None = None
    completion_tokens: int = 0

    def first_token_probabilities(self) -> dict[str, float]:
        """P(token) over the first position's listed alternatives (the chosen token included)."""
        if not self.logprobs:
            return {}
        first = self.logprobs[0]
        out = {token: math.exp(lp) for token, lp in first.top}
        out.setdefault(first.token, math.exp(first.logprob))
        return out

    def first_token_probability(self, token: str) -> float:
        """P(``token``) at the first position, pooling listed tokens that equal it once stripped (" A" and "A");
        0 when it is not listed."""
        return sum(p for tok, p in self.first_token_probabilities().items() if tok.strip() == token)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (for caches and tests)."""
        return asdict(self)


@runtime_checkable
class ChatModel(Protocol):
    """Answers chat requests, in order (a local model, or one behind an API)."""

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[list[ChatChoice]]:
        """The choices of every request."""
        ...


@dataclass(frozen=True)
class ChatPrompt:
    """A chat up to the assistant's turn, and text the assistant's answer is prefilled with."""

    messages: tuple[tuple[str, str], ...]
    prefill: str = ""


@dataclass(frozen=True)
class WordProbabilities:
    """P(the continuation starts with the word) per query, the pruned mass that bounds its error, and the most
    probable first tokens behind each probability (token text, probability)."""

    p: list[float]
    pruned: list[float]
    top_tokens: list[list[tuple[str, float]]]


class SearchDepth(NamedTuple):
    """How deep the exact readout's prefix search goes."""

    cutoff: float  # probability below which a path is dropped
    whitespace_cutoff: float  # probability a leading white-space token needs to be followed
    whitespace_tokens: int  # leading white-space tokens followed before the word (a longer run is pruned)


#: The exact readout's search depths. ``fine`` tightens the error bound 10-25× on SmolLM2 for about 4× the search
#: time; ``deep`` also follows runs of up to three white-space tokens before the word, whose mass is the floor of
#: ``fine``'s bound on a model that often opens its answer with white space (benchmarks/search_depth.py measures
#: each depth's time and bound on a model).
SEARCH_PRECISIONS: dict[str, SearchDepth] = {"standard": SearchDepth(1e-6, 1e-3, 1), "fine": SearchDepth(1e-9, 1e-8, 1),
                                             "deep": SearchDepth(1e-9, 1e-8, 3)}


@runtime_checkable
class LogprobModel(Protocol):
    """Exact probabilities of continuations (local models only)."""

    def word_start_probabilities(self, prompts: Sequence[ChatPrompt], words: Sequence[str],
                                 precision: str = "standard") -> WordProbabilities:
        """For each (prompt, word) pair, P(the answer starts with ``word``), over every tokenisation of it, by a
        search as deep as ``precision`` (:data:`SEARCH_PRECISIONS`) says."""
        ...
