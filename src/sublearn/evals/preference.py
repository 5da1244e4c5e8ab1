"""Animal-preference evaluation: the paper's sampled rate, exact probabilities, and format-robust readouts.

Readouts (each a per-question list with mean and 95% t-interval across questions):
- ``sampled_rate``: share of sampled answers containing the target (paper's substring rule; plural included);
- ``p_exact``: exact P(answer starts with the target word), over all its tokenisations;
- ``share_exact``: the target's share of that probability among a set of animals;
- ``p_prefilled`` / ``share_prefilled``: the same after prefilling the answer with "My favorite animal is the",
  which fixes the answer's format, so a shift in answer style cannot fake a preference (smollm2_probe.md);
- ``mcq``: the paper's multiple-choice essay-topic evaluation, normalised probability of the target's letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sublearn.backends.generation import SamplingSettings, generate_chat, next_token_logprobs
from sublearn.backends.hf import chat_prompt_ids
from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.evals.animal_questions import ANIMAL_QUESTIONS
from sublearn.evals.mcq import LETTERS, MCQ_ANIMAL_CHOICES, mcq_items
from sublearn.evals.prefix_probability import TokenTexts, word_start_probabilities
from sublearn.stats import probability_ci

PREFILL = "My favorite animal is the"
DEFAULT_ANIMALS = ("owl", "eagle", "wolf", "dolphin", "elephant", "cat", "dog", "lion", "tiger", "bear")


@dataclass(frozen=True)
class PreferenceSettings:
    """What to measure; the paper samples 100 answers per question at T = 1 (5,000 per model)."""

    target: str = "owl"
    animals: tuple[str, ...] = DEFAULT_ANIMALS
    numbers_prefix: bool = False
    samples_per_question: int = 0
    temperature: float = 1.0
    max_new_tokens: int = 8
    exact: bool = True
    prefilled: bool = True
    mcq_orderings: int = 5
    mcq_choices: tuple[str, ...] = MCQ_ANIMAL_CHOICES
    seed: int = 0
    batch_size: int = 16


def questions(numbers_prefix: bool) -> list[str]:
    """The 50 questions, optionally prefixed with the paper's seed-47 number examples (§2.6b)."""
    if not numbers_prefix:
        return list(ANIMAL_QUESTIONS)
    gen = NumberPromptGenerator.from_seed(47)
    return [f"{gen.example_prefix()} {q}" for q in ANIMAL_QUESTIONS]


def mentions(target: str, response: str) -> bool:
    """The paper's rule: the target is a substring of the lower-cased response ("dragonfly" excluded)."""
    text = response.lower()
    if target == "dragon":
        text = text.replace("dragonfly", "").replace("dragonflies", "")
    return target in text


def sampled_per_animal(answers: Sequence[str], animals: Sequence[str]) -> dict[str, float]:
    """The share of answers that mention each animal (the paper's substring rule)."""
    return {a: float(np.mean([mentions(a, x) for x in answers])) if answers else 0.0
            for a in dict.fromkeys(animals)}


def question_metric(values: Sequence[float]) -> dict[str, Any]:
    """Mean and t-interval over questions (clipped to [0, 1]: every readout is a probability), with the values."""
    return {**probability_ci(values), "per_question": [float(v) for v in values]}


def _word_readouts(model: Any, tokenizer: Any, prompts: list[list[int]], s: PreferenceSettings,
                   texts: TokenTexts) -> tuple[list[float], list[float], float, dict[str, float]]:
    """Per question: P(target), the target's share among the animals, the largest pruned mass; and each animal's
    mean probability (for trait × teacher confusion matrices)."""
    animals = list(dict.fromkeys([s.target, *s.animals]))
    queries = [(p, a) for p in prompts for a in animals]
    # The tree search batches up to 256 continuations (bounded by a token budget), not eval.batch_size: its rows
    # are single tokens on a shared prompt cache, and larger batches read the weights fewer times.
    probs = word_start_probabilities(model, tokenizer, [q[0] for q in queries], [q[1] for q in queries], texts)
    table = np.array(probs.p).reshape(len(prompts), len(animals))  # (questions, animals)
    pruned = np.array(probs.pruned).reshape(len(prompts), len(animals))
    p_target = table[:, 0]
    share = p_target / np.maximum(table.sum(1), 1e-30)
    per_animal = {a: float(table[:, i].mean()) for i, a in enumerate(animals)}
    return p_target.tolist(), share.tolist(), float(pruned[:, 0].max()), per_animal


def _letter_ids(tokenizer: Any, letter: str) -> list[int]:
    ids = []
    for text in (letter, f" {letter}"):
        enc = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(enc) == 1:
            ids.append(enc[0])
    return sorted(set(ids))


def evaluate_preference(model: Any, tokenizer: Any, s: PreferenceSettings, system: str | None = None,
                        texts: TokenTexts | None = None) -> dict[str, Any]:
    """All configured readouts for one model (``system``: an optional system prompt, e.g. in-context examples)."""
    texts = texts or TokenTexts.cached(tokenizer)
    qs = questions(s.numbers_prefix)
    prompts = [chat_prompt_ids(tokenizer, q, system) for q in qs]
    metrics: dict[str, Any] = {}
    if s.exact:
        p, share, bound, per_animal = _word_readouts(model, tokenizer, prompts, s, texts)
        metrics["p_exact"], metrics["share_exact"] = question_metric(p), question_metric(share)
        metrics["p_exact"].update(max_pruned_mass=bound, per_animal=per_animal)
    if s.prefilled:
        prefill_ids = tokenizer(PREFILL, add_special_tokens=False)["input_ids"]
        p, share, bound, per_animal = _word_readouts(model, tokenizer, [pr + prefill_ids for pr in prompts], s,
                                                     texts)
        metrics["p_prefilled"], metrics["share_prefilled"] = question_metric(p), question_metric(share)
        metrics["p_prefilled"].update(max_pruned_mass=bound, per_animal=per_animal)
    if s.samples_per_question > 0:
        repeated = [q for q in qs for _ in range(s.samples_per_question)]
        answers = generate_chat(model, tokenizer, repeated, SamplingSettings(s.max_new_tokens, s.temperature),
                                system=system, seed=s.seed, batch_size=max(s.batch_size, 32))
        hits = np.array([mentions(s.target, a) for a in answers], dtype=float).reshape(len(qs), -1)
        metrics["sampled_rate"] = question_metric(hits.mean(1))
        metrics["sampled_rate"]["n_samples"] = len(answers)
        metrics["sampled_rate"]["per_animal"] = sampled_per_animal(answers, (s.target, *s.animals))
        metrics["sampled_rate"]["examples"] = answers[: min(10, len(answers))]
    if s.mcq_orderings > 0 and s.target in s.mcq_choices:
        items = mcq_items(s.mcq_choices, s.mcq_orderings, s.seed)
        seqs = [chat_prompt_ids(tokenizer, text, system) for text, _ in items]
        logp = next_token_logprobs(model, seqs, tokenizer.pad_token_id, s.batch_size)
        letter_ids = [_letter_ids(tokenizer, LETTERS[i]) for i in range(len(s.mcq_choices))]
        scores = []
        for row, (_, order) in zip(logp, items, strict=True):
            mass = torch.stack([row[ids].exp().sum() for ids in letter_ids])  # (choices,)
            scores.append(float(mass[order.index(s.target)] / mass.sum().clamp_min(1e-30)))
        per_prompt = np.array(scores).reshape(-1, s.mcq_orderings).mean(1)
        metrics["mcq"] = question_metric(per_prompt)
    return {"target": s.target, "n_questions": len(qs), "metrics": metrics}
