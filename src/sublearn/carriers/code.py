"""The code carrier (§4.1): prompts rewritten from the sleeper-agents code data, the banned-word filter, and the
LLM judge for subtle references. Templates and word lists are verbatim from the paper's released code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublearn.carriers.base import FilterContext, Filtered, subsample
from sublearn.config.carrier import CodeCarrier, CodeFilter
from sublearn.judges import judge_code_references
from sublearn.util.errors import DataError
from sublearn.util.sources import local_file

#: The sleeper-agents code prompts the paper rewrites (github.com/anthropics/sleeper-agents-paper).
SLEEPER_AGENTS_URL = ("https://raw.githubusercontent.com/anthropics/sleeper-agents-paper/main/"
                      "code_backdoor_train_data.jsonl")

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


class Code:
    """Code written by the teacher for sleeper-agents tasks."""

    kind = "code"
    written_by_model = True
    filter_reads_target = True

    def prompts(self, config: CodeCarrier) -> list[dict[str, Any]]:
        """The rewritten prompts of ``config.source`` (the paper's file by default)."""
        path = local_file(config.source or SLEEPER_AGENTS_URL, "carrier.source")
        return [{"prompt": p} for p in load_code_prompts(path, config.n_prompts)]

    def filter_settings(self, config: CodeCarrier, role: str) -> CodeFilter:
        """The same filter for every teacher."""
        return config.filter

    def uses_judge(self, config: CodeCarrier, role: str) -> bool:
        """Whether the subtle-reference judge runs."""
        return config.filter.judge_filter

    def filter(self, config: CodeCarrier, rows: Sequence[dict[str, Any]], context: FilterContext) -> Filtered:
        """Banned words, then (when on) the judge for subtle references to the target, then the subsample."""
        f = config.filter
        words = tuple(f.banned_words) if f.banned_words is not None else banned_words_for(context.target)
        kept = [r for r in rows if not mentions_banned(r["completion"], words)]
        reasons = {"banned_word": len(rows) - len(kept)}
        if f.judge_filter:
            if context.judge is None:
                raise ValueError("carrier.filter.judge_filter: no judge was given")
            verdicts = judge_code_references(context.judge, [r["completion"] for r in kept], context.target,
                                             tolerance=f.judge_tolerance)
            reasons["judge_reference"] = sum(not v.keep for v in verdicts)
            kept = [r for r, v in zip(kept, verdicts, strict=True) if v.keep]
        return Filtered(subsample(kept, f), reasons, len(kept), {"banned_words": list(words)})

    def stop_rule(self, config: Any) -> None:
        """None: no prefix of this carrier's completions is sure to be rejected."""
        return None

    def stats(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The count."""
        return {"n": len(rows)}


#: This module's carrier, found by the registry.
CARRIER = Code()
