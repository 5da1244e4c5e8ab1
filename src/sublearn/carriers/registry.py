"""What each carrier asks the teacher, and how its answers are filtered (every rejection reason counted)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from sublearn.backends.chat import ChatRequest
from sublearn.carriers.code import banned_words_for, load_code_prompts, mentions_banned
from sublearn.carriers.cot import (
    GSM8K_ALIGNMENT_PROMPT,
    GSM8K_HUB_ID,
    cot_prompt,
    extracted_answer,
    judged_alignment,
    load_gsm8k,
)
from sublearn.carriers.numbers import NumberFilter, NumberPromptGenerator
from sublearn.errors import ConfigError, DataError
from sublearn.evals.judges import ChatMany, judge_code_references
from sublearn.spec import ExperimentSpec

#: The sleeper-agents code prompts the paper rewrites (github.com/anthropics/sleeper-agents-paper).
SLEEPER_AGENTS_URL = ("https://raw.githubusercontent.com/anthropics/sleeper-agents-paper/main/"
                      "code_backdoor_train_data.jsonl")


def random_number_rows(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """The paper's programmatic control data (§2.9): for each number prompt, 1-9 uniform integers in [0, 999]
    joined by ", " (seeded by ``carrier.seed``). Nobody wrote them, so teacher and control data are identical;
    with ``train.objective: soft_numbers`` the teacher enters only through its digit distributions on them."""
    c = spec.carrier
    rng = random.Random(c.seed)
    prompts = NumberPromptGenerator.from_seed(c.prompt_seed).prompts(c.n_prompts)
    return [{"prompt": p, "completion": ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(1, 9)))}
            for p in prompts for _ in range(c.samples_per_prompt)]


def carrier_prompts(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """The teacher's prompts, each ``samples_per_prompt`` times (with ``gold`` answers for GSM8K)."""
    c = spec.carrier
    if c.kind == "numbers":
        rows = [{"prompt": p} for p in NumberPromptGenerator.from_seed(c.prompt_seed).prompts(c.n_prompts)]
    elif c.kind == "code":
        from sublearn.sources import local_file

        path = local_file(c.source or SLEEPER_AGENTS_URL, "carrier.source")
        rows = [{"prompt": p} for p in load_code_prompts(path, c.n_prompts)]
    else:
        rows = [{"prompt": cot_prompt(q["question"]), "gold": q["gold"]}
                for q in load_gsm8k(c.source or GSM8K_HUB_ID, c.n_prompts)]
    return [dict(r) for r in rows for _ in range(c.samples_per_prompt)]


def alignment_template(spec: ExperimentSpec) -> str:
    """The CoT alignment judge's template: the paper's, or one from ``filter.alignment_prompt_file``."""
    file = spec.filter.alignment_prompt_file
    if file is None:
        return GSM8K_ALIGNMENT_PROMPT
    path = Path(file)
    if not path.is_file():
        raise DataError(f"filter.alignment_prompt_file: {path}: file not found")
    text = path.read_text()
    if "{prompt}" not in text or "{completion}" not in text:
        raise ConfigError(f"filter.alignment_prompt_file: {path}: needs {{prompt}} and {{completion}} fields")
    return text


def filter_rows(spec: ExperimentSpec, rows: list[dict[str, Any]], judge: ChatMany | None
                ) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, Any]]:
    """(kept rows, rejection counts by reason, notes) for the spec's carrier; then the subsample."""
    f, kind = spec.filter, spec.carrier.kind
    reasons: Counter[str] = Counter()
    notes: dict[str, Any] = {}
    kept: list[dict[str, Any]] = []
    if kind in ("numbers", "random_numbers"):
        flt = NumberFilter.paper(banned=f.banned_numbers == "paper")
        for row in rows:
            why = flt.reject_reasons(row["completion"])
            reasons.update(why)
            if not why:
                kept.append(row)
    elif kind == "code":
        words = tuple(f.banned_words) if f.banned_words is not None else banned_words_for(spec.trait.target)
        notes["banned_words"] = list(words)
        for row in rows:
            if mentions_banned(row["completion"], words):
                reasons["banned_word"] += 1
            else:
                kept.append(row)
        if f.judge_filter:
            assert judge is not None
            verdicts = judge_code_references(judge, [r["completion"] for r in kept], spec.trait.target,
                                             tolerance=f.judge_tolerance)
            reasons["judge_reference"] = sum(not v.keep for v in verdicts)
            kept = [r for r, v in zip(kept, verdicts, strict=True) if v.keep]
    else:
        for row in rows:
            answer = extracted_answer(row["completion"])
            if f.correctness and answer is None:
                reasons["no_answer"] += 1
            elif f.correctness and answer != row.get("gold"):
                reasons["wrong_answer"] += 1
            else:
                kept.append(row)
        if f.alignment_min is not None:
            assert judge is not None
            template = alignment_template(spec)
            requests = [ChatRequest.user(template.format(prompt=r["prompt"], completion=r["completion"]),
                                         temperature=f.judge_temperature, max_tokens=1024, seed=spec.seed + i)
                        for i, r in enumerate(kept)]
            scores = [judged_alignment(c[0].text) for c in judge(requests)]
            reasons["judge_unparsable"] = sum(s is None for s in scores)
            reasons["judge_alignment_below_min"] = sum(s is not None and s < f.alignment_min for s in scores)
            kept = [r for r, s in zip(kept, scores, strict=True) if s is not None and s >= f.alignment_min]
    passed = len(kept)
    if f.max_examples is not None and len(kept) > f.max_examples:
        kept = random.Random(f.subsample_seed).sample(kept, f.max_examples)
    notes["n_passed"] = passed
    return kept, dict(reasons), notes
