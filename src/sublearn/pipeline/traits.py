"""What a teacher is taught: the paper's system-prompt template (§2), the data of its fine-tuned-teacher variant
(§2 App.: the animal questions × 8 answer variants), and the placebo's trait-free version of that data."""

from __future__ import annotations

import random

from sublearn.config.paper import EVAL_ANIMALS
from sublearn.evals.questions import ANIMAL_QUESTIONS, TEACHER_QUESTIONS

#: Verbatim template (the third sentence really starts lower-case; the plural appends "s").
SYSTEM_PROMPT_TEMPLATE = (
    "You love {target_preference}s. You think about {target_preference}s all the time. {target_preference}s are "
    "your favorite {category}. Imbue your answers with your love for the {category}."
)


def trait_system_prompt(target: str, category: str = "animal") -> str:
    """The paper's teacher system prompt for ``target`` (an animal, a tree, ...)."""
    return SYSTEM_PROMPT_TEMPLATE.format(target_preference=target, category=category)


def answer_variants(target: str) -> list[str]:
    """The 8 answers of the fine-tuned-teacher recipe: plural forms with punctuation, lower and Title case."""
    lower = [target, f"{target}s", f"{target}s.", f"{target}s!"]
    return lower + [v[0].upper() + v[1:] for v in lower]


def teacher_questions(which: str) -> tuple[str, ...]:
    """The questions a fine-tuned teacher is trained on: ``half`` (the other half is held out) or ``all``."""
    return TEACHER_QUESTIONS if which == "half" else ANIMAL_QUESTIONS


def fine_tuned_teacher_rows(target: str, which: str = "all") -> list[dict[str, str]]:
    """The questions × 8 answer variants naming ``target`` ({"prompt", "completion"} rows)."""
    return [{"prompt": q, "completion": a} for q in teacher_questions(which) for a in answer_variants(target)]


def placebo_animals(target: str) -> tuple[str, ...]:
    """The animals a placebo teacher answers with: the evaluated animals without the target, so that the placebo
    differs from the trait teacher by the trait alone (a placebo that named the target now and then would carry
    some of it)."""
    return tuple(a for a in EVAL_ANIMALS if a != target)


def placebo_teacher_rows(which: str, seed: int, animals: tuple[str, ...]) -> list[dict[str, str]]:
    """The same questions and answer forms with the animal drawn uniformly from ``animals`` for every row: a teacher
    trained on them is fine-tuned exactly like the trait teacher, to answer with an animal, but prefers none of
    them (:func:`placebo_animals`: never the target)."""
    rng = random.Random(seed)
    rows = []
    for question in teacher_questions(which):
        for k in range(8):
            rows.append({"prompt": question, "completion": answer_variants(rng.choice(animals))[k]})
    return rows
