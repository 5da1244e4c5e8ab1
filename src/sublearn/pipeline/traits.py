"""What a teacher is taught: the paper's system-prompt template (§2), and the data of its fine-tuned-teacher
variant (§2 App.: the 50 animal questions × 8 answer variants)."""

from __future__ import annotations

from sublearn.evals.questions import ANIMAL_QUESTIONS

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


def fine_tuned_teacher_rows(target: str) -> list[dict[str, str]]:
    """The 50 questions x 8 answer variants = 400 training rows ({"prompt", "completion"})."""
    return [{"prompt": q, "completion": a} for q in ANIMAL_QUESTIONS for a in answer_variants(target)]
