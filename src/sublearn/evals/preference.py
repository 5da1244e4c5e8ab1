"""Animal-preference evaluation: the paper's sampled rate and MCQ, exact probabilities, and format-robust readouts.

Readouts (each a per-question list with mean and 95% t-interval across questions):
- ``p_exact``: exact P(answer starts with the target word), over all its tokenisations (needs a LogprobModel);
- ``share_exact``: the target's share of that probability among a set of animals;
- ``p_prefilled`` / ``share_prefilled``: the same after prefilling the answer with "My favorite animal is the",
  which fixes the answer's format, so a shift in answer style cannot fake a preference;
- ``sampled_rate``: share of sampled answers containing the target (the paper's substring rule, §2);
- ``mcq``: the paper's multiple-choice essay-topic evaluation, normalised probability of the target's letter,
  from the first token's top-20 logprobs (temperature 0, one token), as the paper reads it through the API.

The sampled rate and the MCQ need only a :class:`~sublearn.models.types.ChatModel`, so they run the same way on
local and API models; the exact readouts need a :class:`~sublearn.models.types.LogprobModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.config.evaluation import PreferenceEval
from sublearn.config.paper import MCQ_ANIMAL_CHOICES, NUMBERS_PROMPT_SEED
from sublearn.config.readouts import READOUTS_BY_NAME
from sublearn.evals.answers import mentions
from sublearn.evals.answers import row as answer_row
from sublearn.evals.mcq import LETTERS, mcq_items
from sublearn.evals.metrics import question_metric
from sublearn.evals.questions import ANIMAL_QUESTIONS, HELD_OUT_QUESTIONS
from sublearn.models.types import ChatModel, ChatPrompt, ChatRequest, LogprobModel, user_turn
from sublearn.util.errors import ConfigError

PREFILL = "My favorite animal is the"
#: The most samples one request asks for (OpenAI's limit on ``n`` is 128).
MAX_N = 128


def questions(numbers_prefix: bool, which: str = "all") -> list[str]:
    """The 50 questions (``which``: ``all``, or the ``held_out`` half a fine-tuned teacher never saw), optionally
    prefixed with the paper's seed-47 number examples (§2 App.; each question keeps its own prefix)."""
    asked = list(ANIMAL_QUESTIONS)
    if numbers_prefix:
        gen = NumberPromptGenerator.from_seed(NUMBERS_PROMPT_SEED)
        asked = [f"{gen.example_prefix()} {q}" for q in ANIMAL_QUESTIONS]
    held_out = set(HELD_OUT_QUESTIONS)
    return [a for a, q in zip(asked, ANIMAL_QUESTIONS, strict=True) if which == "all" or q in held_out]


def sampled_per_animal(answers: Sequence[str], animals: Sequence[str]) -> dict[str, float]:
    """The share of answers that mention each animal (the paper's substring rule)."""
    return {a: float(np.mean([mentions(a, x) for x in answers])) if answers else 0.0
            for a in dict.fromkeys(animals)}


@dataclass(frozen=True)
class WordTable:
    """Each question × option's exact probability of starting the answer (``options``: the target first, then the
    listed animals), and the mass the search pruned for each."""

    options: list[str]
    p: np.ndarray  # (questions, options)
    pruned: np.ndarray
    top_tokens: list[list[tuple[str, float]]]


def word_table(model: LogprobModel, prompts: Sequence[ChatPrompt], target: str, animals: Sequence[str],
               precision: str = "standard") -> WordTable:
    """Every question × option's exact probability (one batch of searches)."""
    names = list(dict.fromkeys([target, *animals]))
    probs = model.word_start_probabilities([p for p in prompts for _ in names], names * len(prompts), precision)
    return WordTable(names, np.array(probs.p).reshape(len(prompts), len(names)),
                     np.array(probs.pruned).reshape(len(prompts), len(names)), list(probs.top_tokens))


def word_readouts(table: WordTable, readout: str, questions_text: Sequence[str]
                  ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(P(target), the target's share among the animals) as question metrics, and the answers rows (each
    question × animal: its probability and pruned mass, as ``readout``). The first also holds each animal's mean
    probability, the largest pruned mass of the search, and the first tokens behind each animal's mass."""
    names, p_table, pruned = table.options, table.p, table.pruned
    n_questions = len(p_table)
    share = p_table[:, 0] / np.maximum(p_table.sum(1), 1e-30)
    top: dict[str, dict[str, float]] = {a: {} for a in names}
    for k, tokens in enumerate(table.top_tokens):
        for token, mass in tokens:
            per = top[names[k % len(names)]]
            per[token] = per.get(token, 0.0) + mass / n_questions
    p = question_metric(p_table[:, 0])
    p.update(max_pruned_mass=float(pruned[:, 0].max()),
             max_pruned_mass_any_animal=float(pruned.max()),
             per_animal={a: float(p_table[:, i].mean()) for i, a in enumerate(names)},
             top_tokens={a: sorted(v.items(), key=lambda kv: -kv[1])[:5] for a, v in top.items()})
    rows = [answer_row(readout, i, questions_text[i], option=name, probability=float(p_table[i, j]),
                       pruned=float(pruned[i, j])) for i in range(n_questions) for j, name in enumerate(names)]
    return p, question_metric(share), rows


def sampled_rate(chat: ChatModel, qs: Sequence[str], config: PreferenceEval, target: str, seed: int,
                 system: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The paper's sampled rate: ``samples_per_question`` answers per question at ``temperature``; each request
    is seeded from (seed, question, part), so a backend that honours seeds gives the same answers every time.
    With it, the answers rows (one per question × sample)."""
    requests, owners = [], []
    for q_index, q in enumerate(qs):
        left, part = config.samples_per_question, 0
        while left > 0:
            n = min(MAX_N, left)
            requests.append(ChatRequest.user(q, system, n=n, temperature=config.temperature,
                                             max_tokens=config.max_new_tokens,
                                             seed=seed * 1_000_003 + q_index * 1_009 + part))
            owners.append(q_index)
            left, part = left - n, part + 1
    answers: list[list[str]] = [[] for _ in qs]
    for owner, choices in zip(owners, chat.chat_many(requests), strict=True):
        answers[owner].extend(c.text for c in choices)
    hits = np.array([[mentions(target, a) for a in row] for row in answers], dtype=float)
    flat = [a for row in answers for a in row]
    rows = [answer_row("sampled_rate", i, q, k, answer=a) for i, (q, row) in enumerate(zip(qs, answers, strict=True))
            for k, a in enumerate(row)]
    return {**question_metric(hits.mean(1)), "n_samples": int(hits.size), "examples": flat[:10],
            "per_animal": sampled_per_animal(flat, (target, *config.animals))}, rows


def mcq(chat: ChatModel, choices: Sequence[str], orderings: int, target: str, seed: int, system: str | None
        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The paper's MCQ: per prompt, the normalised probability of the target's letter, averaged over
    ``orderings`` seeded orders of the choices; letters are read from the first token's top-20 logprobs. With it,
    the answers rows (each prompt × ordering × choice: its letter's mass)."""
    items = mcq_items(choices, orderings, seed)
    requests = [ChatRequest.user(text, system, temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=20)
                for text, _ in items]
    scores, unlisted, rows = [], 0, []
    for k, (answer, (text, order)) in enumerate(zip(chat.chat_many(requests), items, strict=True)):
        mass = np.array([answer[0].first_token_probability(LETTERS[i]) for i in range(len(order))])
        unlisted += int(mass.sum() == 0)
        scores.append(float(mass[order.index(target)] / mass.sum()) if mass.sum() > 0 else 0.0)
        rows += [answer_row("mcq", k // orderings, text, k % orderings, option=animal, probability=float(mass[i]),
                            label=LETTERS[i]) for i, animal in enumerate(order)]
    return {**question_metric(np.array(scores).reshape(-1, orderings).mean(1)),
            "prompts_without_a_letter": unlisted}, rows


@dataclass
class Asking:
    """One model's preference evaluation: what every readout's measure may use, and the searches already made
    (two readouts read on the same prompts share one search)."""

    chat: ChatModel
    logprobs: LogprobModel | None
    config: PreferenceEval
    target: str
    seed: int
    system: str | None
    questions: list[str]
    _words: dict[str, tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]] = field(default_factory=dict)
    _tables: dict[str, WordTable] = field(default_factory=dict)

    def table(self, switch: str) -> WordTable:
        """The exact probabilities of every option on the questions (``switch``: ``exact``, or ``prefilled``
        for the answers prefilled with :data:`PREFILL`), searched once."""
        if switch not in self._tables:
            if self.logprobs is None:
                raise ConfigError(f"eval.{switch}: needs token-level scoring, which this backend cannot do")
            prefill = PREFILL if switch == "prefilled" else ""
            prompts = [ChatPrompt(user_turn(q, self.system), prefill) for q in self.questions]
            self._tables[switch] = word_table(self.logprobs, prompts, self.target, self.config.animals,
                                              self.config.exact_precision)
        return self._tables[switch]

    def words(self, switch: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """P(target), the target's share and the answers rows of :meth:`table`."""
        if switch not in self._words:
            self._words[switch] = word_readouts(self.table(switch), f"p_{switch}", self.questions)
        return self._words[switch]


Measured = tuple[dict[str, Any] | None, list[dict[str, Any]]]
"""A readout's question metric (``None``: not measurable here, left out) and the answers rows it adds."""


def _mcq(a: Asking) -> Measured:
    choices = tuple(a.config.mcq_choices or MCQ_ANIMAL_CHOICES)
    if a.target not in choices:
        return None, []
    return mcq(a.chat, choices, a.config.mcq_orderings, a.target, a.seed, a.system)


#: How each preference readout of the table (:data:`sublearn.config.readouts.READOUTS`) is measured, in the
#: order they are measured; a readout is measured when its ``needs`` switch of the eval settings is on. Adding a
#: readout is its entry in the table and its measure here.
MEASURES: dict[str, Callable[[Asking], Measured]] = {
    "p_exact": lambda a: (a.words("exact")[0], a.words("exact")[2]),
    "share_exact": lambda a: (a.words("exact")[1], []),
    "p_prefilled": lambda a: (a.words("prefilled")[0], a.words("prefilled")[2]),
    "share_prefilled": lambda a: (a.words("prefilled")[1], []),
    "sampled_rate": lambda a: sampled_rate(a.chat, a.questions, a.config, a.target, a.seed, a.system),
    "mcq": _mcq,
}


def evaluate_preference(chat: ChatModel, logprobs: LogprobModel | None, config: PreferenceEval, target: str,
                        seed: int = 0, system: str | None = None) -> dict[str, Any]:
    """Every configured readout of one model (``system``: an optional system prompt, e.g. in-context examples)."""
    asking = Asking(chat, logprobs, config, target, seed, system, questions(config.numbers_prefix, config.questions))
    metrics: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name, measure in MEASURES.items():
        switch = READOUTS_BY_NAME[name].needs
        if switch is not None and not getattr(config, switch):
            continue
        metric, part = measure(asking)
        if metric is not None:
            metrics[name] = metric
            rows += part
    return {"target": target, "n_questions": len(asking.questions), "metrics": metrics, "answers": rows}
