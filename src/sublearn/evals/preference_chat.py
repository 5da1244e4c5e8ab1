"""Animal-preference readouts that need only chat completions, so they run on any :class:`ChatModel` (an API
model included): the paper's sampled rate, and the multiple-choice evaluation from first-token logprobs.

API models expose at most 20 top logprobs and no prefilled assistant turn, so the exact and prefilled readouts of
:mod:`sublearn.evals.preference` are not available here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sublearn.backends.chat import ChatChoice, ChatRequest
from sublearn.evals.judges import first_token_probability
from sublearn.evals.mcq import LETTERS, mcq_items
from sublearn.evals.preference import (
    PreferenceSettings,
    mentions,
    question_metric,
    questions,
    sampled_per_animal,
)

#: The most samples one request asks for (OpenAI's limit on ``n`` is 128).
MAX_N = 128
ChatMany = Callable[[Sequence[ChatRequest]], list[list[ChatChoice]]]


def letter_probabilities(choice: ChatChoice, n_letters: int) -> np.ndarray:
    """P(letter) for A.. from the first token's top logprobs (" A" and "A" pooled); zeros if none is listed."""
    return np.array([first_token_probability(choice, LETTERS[i]) for i in range(n_letters)])


def evaluate_preference_chat(chat_many: ChatMany, s: PreferenceSettings, system: str | None = None
                             ) -> dict[str, Any]:
    """``sampled_rate`` (when ``samples_per_question`` > 0) and ``mcq`` (when orderings > 0) through ``chat_many``
    (a function answering a list of requests, e.g. ``OpenAIChatModel.chat_many``)."""
    qs = questions(s.numbers_prefix)
    metrics: dict[str, Any] = {}
    if s.samples_per_question > 0:
        requests, owners = [], []
        for q_index, q in enumerate(qs):
            left, part = s.samples_per_question, 0
            while left > 0:
                n = min(MAX_N, left)
                requests.append(ChatRequest.user(q, system, n=n, temperature=s.temperature,
                                                 max_tokens=s.max_new_tokens,
                                                 seed=s.seed * 1_000_003 + q_index * 1_009 + part))
                owners.append(q_index)
                left, part = left - n, part + 1
        answers: list[list[str]] = [[] for _ in qs]
        for owner, choices in zip(owners, chat_many(requests), strict=True):
            answers[owner].extend(c.text for c in choices)
        hits = np.array([[mentions(s.target, a) for a in row] for row in answers], dtype=float)
        metrics["sampled_rate"] = question_metric(hits.mean(1))
        metrics["sampled_rate"]["n_samples"] = int(hits.size)
        flat = [a for row in answers for a in row]
        metrics["sampled_rate"]["examples"] = flat[:10]
        metrics["sampled_rate"]["per_animal"] = sampled_per_animal(flat, (s.target, *s.animals))
    if s.mcq_orderings > 0 and s.target in s.mcq_choices:
        items = mcq_items(s.mcq_choices, s.mcq_orderings, s.seed)
        requests = [ChatRequest.user(text, system, temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=20)
                    for text, _ in items]
        scores, unlisted = [], 0
        for choices, (_, order) in zip(chat_many(requests), items, strict=True):
            mass = letter_probabilities(choices[0], len(order))
            unlisted += int(mass.sum() == 0)
            scores.append(float(mass[order.index(s.target)] / mass.sum()) if mass.sum() > 0 else 0.0)
        metrics["mcq"] = question_metric(np.array(scores).reshape(-1, s.mcq_orderings).mean(1))
        metrics["mcq"]["prompts_without_a_letter"] = unlisted
    return {"target": s.target, "n_questions": len(qs), "metrics": metrics}
