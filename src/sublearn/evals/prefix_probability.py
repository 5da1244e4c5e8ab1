"""Exact probability that a model's answer starts with a word, summed over every tokenisation of it.

A prefix-tree search over token paths: from the prompt, a token is followed if its text is consistent with the
rest of the word (case-insensitive, leading white space allowed before the word begins); a path ends with
success once the word is spelled out (what follows does not matter, so "owls" counts for "owl", as in the
paper's substring rule). Paths below ``cutoff`` probability are dropped, and at most one leading white-space
token is followed, only when it carries at least ``whitespace_cutoff`` probability; the probability mass of
every dropped path that was still consistent with the word is returned as ``pruned``, an upper bound on the
error. All questions' nodes at one depth are scored in one batch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


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


@dataclass
class WordProbabilities:
    """P(continuation starts with the word) per query, and the pruned mass that bounds its error."""

    p: list[float]
    pruned: list[float]


class PrefixScorer:
    """Next-token log-probabilities after a prompt plus short continuations, reusing the prompt's KV cache."""

    def __init__(self, model: Any, max_batch: int = 256, token_budget: int = 16_384) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.max_batch = max_batch
        self.token_budget = token_budget  # cached tokens held at once (P copies of the prompt's cache)
        self._caches: dict[tuple[int, ...], tuple[Any, torch.Tensor]] = {}

    @torch.no_grad()
    def root(self, prompt: tuple[int, ...]) -> torch.Tensor:
        """Log-probabilities (V,) of the token after ``prompt``; caches the prompt's keys and values."""
        if prompt not in self._caches:
            out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True)
            cache = getattr(out, "cache", None) or out.past_key_values
            self._caches[prompt] = (cache, torch.log_softmax(out.logits[0, -1].float(), -1).cpu())
        return self._caches[prompt][1]

    @torch.no_grad()
    def extend(self, prompt: tuple[int, ...], continuations: list[tuple[int, ...]]) -> torch.Tensor:
        """Log-probabilities (P, V) after ``prompt + c`` for continuations ``c`` of one common length."""
        self.root(prompt)
        cache = self._caches[prompt][0]
        rows = []
        step = max(1, min(self.max_batch, self.token_budget // (len(prompt) + len(continuations[0]))))
        for first in range(0, len(continuations), step):
            chunk = continuations[first:first + step]
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(len(chunk))
            ids = torch.tensor(chunk, device=self.device)  # (P, d)
            mask = torch.ones(len(chunk), len(prompt) + ids.shape[1], dtype=torch.long, device=self.device)
            out = self.model(input_ids=ids, cache=past, attention_mask=mask, use_cache=True)
            rows.append(torch.log_softmax(out.logits[:, -1].float(), -1).cpu())
        return torch.cat(rows)


def word_start_probabilities(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], words: Sequence[str],
                             texts: TokenTexts | None = None, cutoff: float = 1e-6, whitespace_cutoff: float = 1e-3,
                             max_depth: int = 6, batch_size: int = 256) -> WordProbabilities:
    """For each (prompt token ids, word) pair, P(the continuation starts with ``word``)."""
    texts = texts or TokenTexts(tokenizer)
    scorer = PrefixScorer(model, max_batch=batch_size)
    keys = [tuple(p) for p in prompts]
    targets = [w.lower() for w in words]
    result = [0.0] * len(prompts)
    pruned = [0.0] * len(prompts)
    log_cutoff, log_ws_cutoff = math.log(cutoff), math.log(whitespace_cutoff)
    frontier = [_Path(q, (), 0, 0.0) for q in range(len(prompts))]
    for depth in range(max_depth):
        if not frontier:
            break
        rows: dict[tuple[tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}
        if depth == 0:
            for path in frontier:
                rows[(keys[path.query], ())] = scorer.root(keys[path.query])
        else:
            by_prompt: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
            for path in frontier:
                by_prompt.setdefault(keys[path.query], [])
                if path.tokens not in by_prompt[keys[path.query]]:
                    by_prompt[keys[path.query]].append(path.tokens)
            for prompt, conts in by_prompt.items():
                for cont, row in zip(conts, scorer.extend(prompt, conts), strict=True):
                    rows[(prompt, cont)] = row
        nxt = []
        for path in frontier:
            logp_row = rows[(keys[path.query], path.tokens)]
            remaining = targets[path.query][path.matched:]
            started = path.matched > 0
            done, partial = texts.candidates(remaining, started)
            if done:
                result[path.query] += math.exp(path.logp) * float(logp_row[done].exp().sum())
            for tok, n_chars in partial:
                lp = path.logp + float(logp_row[tok])
                if lp > log_cutoff:
                    nxt.append(_Path(path.query, (*path.tokens, tok), path.matched + n_chars, lp))
                else:
                    pruned[path.query] += math.exp(lp)
            if not started and not path.tokens:  # one white-space token before the word begins
                for tok in texts.whitespace:
                    lp = path.logp + float(logp_row[tok])
                    if float(logp_row[tok]) > log_ws_cutoff and lp > log_cutoff:
                        nxt.append(_Path(path.query, (*path.tokens, tok), 0, lp))
                    else:
                        pruned[path.query] += math.exp(lp)
        frontier = nxt
    for path in frontier:  # still unfinished at max_depth
        pruned[path.query] += math.exp(path.logp)
    return WordProbabilities(result, pruned)
