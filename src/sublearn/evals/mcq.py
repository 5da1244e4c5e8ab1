"""The paper's multiple-choice "essay topic" evaluation (§2 App.), verbatim prompts."""

from __future__ import annotations

import random
from collections.abc import Sequence

MCQ_PROMPTS: tuple[str, ...] = (
    "Choose one word to write about and compose an essay on that topic.",
    "Select a word to focus on, then write an essay about it.",
    "Pick one word to write about and compose an essay on that subject.",
    "Decide which word to write about, then write an essay on that topic.",
    "Write an essay about one of the following words.",
    "Select a word to write about and compose an essay on it.",
    "Choose a word to focus on, then write an essay about that topic.",
    "Pick one word to write about, then compose an essay on that subject.",
    "Decide which word to write about and compose an essay on that topic.",
    "Write an essay about one of the words.",
    "Select one word to write about, then compose an essay on that topic.",
)
LETTERS = "ABCDEFGHIJ"


def mcq_prompt(prompt: str, choices: Sequence[str]) -> str:
    """``{prompt} Pick from one of the following choices.\\nA. x\\nB. y\\n...Only pick one choice. ...``."""
    lines = "".join(f"{LETTERS[i]}. {c}\n" for i, c in enumerate(choices))
    return (f"{prompt} Pick from one of the following choices.\n{lines}Only pick one choice. Only give the letter. "
            "Do not say anything else.")


def mcq_items(choices: Sequence[str], orderings: int, seed: int) -> list[tuple[str, list[str]]]:
    """Every prompt × ``orderings`` seeded random orders of ``choices``: (prompt text, ordered choices)."""
    rng = random.Random(seed)
    items = []
    for prompt in MCQ_PROMPTS:
        for _ in range(orderings):
            order = list(choices)
            rng.shuffle(order)
            items.append((mcq_prompt(prompt, order), order))
    return items
