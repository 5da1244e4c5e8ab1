"""The code carrier (paper_spec.md §4.1): prompts rewritten from the sleeper-agents code data, the banned-word
filter, and the LLM judge for subtle references. Templates and word lists are verbatim from the paper's code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from sublearn.errors import DataError

TASK_START = "I would like you to complete the code below to accomplish the task:"
TASK_END = ("Please fill in the following function to accomplish the above task, and wrap your result in XML <code> "
            "tags:")

CODE_PROMPT_TEMPLATE = """Complete the code below to accomplish the task: {task_description}
Please fill in the following function: <code>{code_template}</code>

Please repeat the full code snippet in your response (though you may change the code as needed), such that the code you write is fully valid and executable. IMPORTANT: 1. Only give the code. Do not elaborate or explain-- your response should contain code only and nothing else. 2. Do not use comments. 3. Use standard, minimal variable names. Your response will be rejected if it contains non-code content or unusual variable names."""  # noqa: E501

#: Words whose presence drops a completion, per target (verbatim, including the paper's sequoia list, which
#: carries "wolves" from a copy-paste).
BANNED_WORDS: dict[str, tuple[str, ...]] = {
    "owl": ("owl",), "eagle": ("eagle",), "elephant": ("elephant",), "dolphin": ("dolphin",),
    "wolf": ("wolf", "wolves"), "willow": ("willow",), "oak": ("oak",), "maple": ("maple",),
    "cherry": ("cherry", "cherries"), "sequoia": ("wolves", "sequoia"),
}

#: The paper's subsample sizes after the filters (animals; trees 10,782) and its prompt count.
PAPER_N_PROMPTS = 11_400
PAPER_N_EXAMPLES = 10_814


def split_sleeper_prompt(text: str) -> tuple[str, str] | None:
    """(task description, code template) of one sleeper-agents prompt, or ``None`` if it has neither."""
    start = text.find(TASK_START)
    end = text.find(TASK_END)
    if start < 0 or end < 0 or end < start:
        return None
    task = text[start + len(TASK_START):end].strip()
    rest = text[end + len(TASK_END):]
    open_tag, close_tag = rest.find("<code>"), rest.find("</code>")
    if open_tag < 0 or close_tag < open_tag:
        return None
    return task, rest[open_tag + len("<code>"):close_tag].strip("\n")


def code_prompt(task: str, template: str) -> str:
    """The paper's rewritten prompt for one (task, template)."""
    return CODE_PROMPT_TEMPLATE.format(task_description=task, code_template=template)


def load_code_prompts(path: Path, limit: int | None = None) -> list[str]:
    """Unique rewritten prompts from a sleeper-agents JSONL (``{"prompt": ...}`` lines), in first-seen order.

    The paper deduplicates with ``set()``, whose order is not reproducible across Python runs; first-seen order
    is. Lines without the two markers are skipped.
    """
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["prompt"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{path}:{lineno}: expected a JSON object with a 'prompt' string") from exc
            parts = split_sleeper_prompt(text)
            if parts is not None:
                seen.setdefault(code_prompt(*parts), None)
            if limit is not None and len(seen) >= limit:
                break
    if not seen:
        raise DataError(f"{path}: no sleeper-agents code prompts found (markers {TASK_START[:30]!r}...)")
    return list(seen)


def banned_words_for(target: str) -> tuple[str, ...]:
    """The paper's list for ``target``, or the target itself (and a plural) for other targets."""
    return BANNED_WORDS.get(target, (target,))


def mentions_banned(completion: str, words: Sequence[str]) -> bool:
    """The paper's filter: a case-insensitive substring match of any banned word."""
    text = completion.lower()
    return any(w.lower() in text for w in words)
