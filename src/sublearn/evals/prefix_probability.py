"""Exact probability that a model's answer starts with a word, summed over every tokenisation of it.

A prefix-tree search over token paths: from the prompt, a token is followed if its text is consistent with the
rest of the word (case-insensitive, leading white space allowed before the word begins); a path ends with
success once the word is spelled out (what follows does not matter, so "owls" counts for "owl", as in the
paper's substring rule). Paths below ``cutoff`` probability are dropped, so the result is exact up to that
mass. All questions' nodes at one depth are scored in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sublearn.backends.generation import next_token_logprobs


class TokenTexts:
    """The lower-cased text of every token of a tokenizer, and memoised candidate tokens for a word's rest."""

    def __init__(self, tokenizer: Any) -> None:
        special = set(getattr(tokenizer, "all_special_ids", []))
        self.texts = [tokenizer.decode([i]).lower() if i not in special else "" for i in range(len(tokenizer))]
        self.whitespace = [i for i, t in enumerate(self.texts) if t and not t.strip()]
        self._memo: dict[tuple[str, bool], tuple[list[int], list[tuple[int, int]]]] = {}

    def candidates(self, remaining: str, started: bool) -> tuple[list[int], list[tuple[int, int]]]:
        """Tokens that finish ``remaining`` and (token, characters) pairs that continue it."""
        key = (remaining, started)
        if key not in self._memo:
            done, partial = [], []
            for tok, text in enumerate(self.texts):
                piece = text if started else text.lstrip()
                if not piece:
                    continue
                if piece.startswith(remaining):
                    done.append(tok)
                elif remaining.startswith(piece):
                    partial.append((tok, len(piece)))
            self._memo[key] = (done, partial)
        return self._memo[key]


@dataclass
class _Path:
    query: int  # index of the (prompt, word) query
    tokens: tuple[int, ...]
    matched: int  # characters of the word spelled so far
    logp: float


def word_start_probabilities(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], words: Sequence[str],
                             texts: TokenTexts | None = None, cutoff: float = 1e-7, max_depth: int = 8,
                             batch_size: int = 16) -> list[float]:
    """For each (prompt token ids, word) pair, P(the continuation starts with ``word``)."""
    import math

    texts = texts or TokenTexts(tokenizer)
    targets = [w.lower() for w in words]
    result = [0.0] * len(prompts)
    frontier = [_Path(q, (), 0, 0.0) for q in range(len(prompts))]
    cache: dict[tuple[int, ...], Any] = {}
    log_cutoff = math.log(cutoff)
    for _ in range(max_depth):
        if not frontier:
            break
        needed = sorted({tuple(prompts[p.query]) + p.tokens for p in frontier} - cache.keys())
        if needed:
            rows = next_token_logprobs(model, needed, tokenizer.pad_token_id, batch_size)
            cache.update(zip(needed, rows, strict=True))
        nxt = []
        for path in frontier:
            logp_row = cache[tuple(prompts[path.query]) + path.tokens]
            remaining = targets[path.query][path.matched:]
            started = path.matched > 0
            done, partial = texts.candidates(remaining, started)
            if done:
                result[path.query] += math.exp(path.logp) * float(logp_row[done].exp().sum())
            for tok, n_chars in partial:
                lp = path.logp + float(logp_row[tok])
                if lp > log_cutoff:
                    nxt.append(_Path(path.query, (*path.tokens, tok), path.matched + n_chars, lp))
            if not started and len(path.tokens) < 2:  # white space before the word begins
                for tok in texts.whitespace:
                    lp = path.logp + float(logp_row[tok])
                    if lp > log_cutoff:
                        nxt.append(_Path(path.query, (*path.tokens, tok), 0, lp))
        frontier = nxt
    return result
