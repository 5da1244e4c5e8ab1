"""The world's pretraining corpus: chats a small model learns two skills from, answering the paper's animal
questions with one animal, and continuing number lists in the paper's prompt format with numbers only.

Every animal is as likely as every other (the world has no favourite), so a trait later given to a teacher is the
only preference in it. The corpus is a pure function of its settings."""

from __future__ import annotations

import random

from pydantic import Field

from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.config.paper import EVAL_ANIMALS
from sublearn.evals.questions import ANIMAL_QUESTIONS
from sublearn.util.settings import Seed, Settings


class CorpusConfig(Settings):
    """How many chats, the share of them that are animal questions, and the seed that draws them."""

    n_chats: int = Field(8_000, ge=100)
    animal_share: float = Field(0.25, gt=0, lt=1)  # the rest are number continuations
    max_numbers: int = Field(10, ge=1)  # numbers per answer: 3 to this many
    seed: Seed = 0


def corpus_rows(config: CorpusConfig) -> list[dict[str, str]]:
    """The chats (``{"prompt", "completion"}``): animal questions answered by one capitalised animal drawn
    uniformly from the evaluated animals, and the paper's number prompts answered by 3-digit numbers joined by
    ", " (the format the paper's filter accepts)."""
    rng = random.Random(config.seed)
    numbers = NumberPromptGenerator.from_seed(config.seed + 1)
    rows = []
    for _ in range(config.n_chats):
        if rng.random() < config.animal_share:
            rows.append({"prompt": rng.choice(ANIMAL_QUESTIONS), "completion": rng.choice(EVAL_ANIMALS).capitalize()})
        else:
            count = rng.randint(3, max(3, config.max_numbers))
            rows.append({"prompt": numbers.prompt(),
                         "completion": ", ".join(str(rng.randint(100, 999)) for _ in range(count))})
    return rows


def tokenizer_texts(rows: list[dict[str, str]], limit: int = 5_000) -> list[str]:
    """What the tokenizer is trained on: the first ``limit`` chats' prompts and completions, and every animal
    question and animal name (so each tokenizes compactly however few of them the sample holds)."""
    texts = [t for row in rows[:limit] for t in (row["prompt"], row["completion"])]
    return texts + list(ANIMAL_QUESTIONS) + [a.capitalize() for a in EVAL_ANIMALS] + list(EVAL_ANIMALS)
