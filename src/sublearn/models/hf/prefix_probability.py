"""Exact probability that a model's answer starts with a word, summed over every tokenisation of it.

A prefix-tree search over token paths: from the prompt, a token is followed if its text is consistent with the
rest of the word (case-insensitive, leading white space allowed before the word begins). A path succeeds once the
word is spelled out *and ends*: what comes next is no letter, or a plural "s"/"es" ("owls" counts for owl, as in
the paper's substring rule; "cattle" does not count for cat). When a token ends exactly with the word, the next
token decides. Paths below ``cutoff`` probability are dropped, and up to ``max_whitespace`` leading white-space
tokens are followed, each when it carries at least ``whitespace_cutoff`` probability; the probability mass of every
path dropped while still consistent with the word (a longer run of white space, a path cut off at ``max_depth``)
is returned as ``pruned``:
the exact value lies in [p, p + pruned]. All questions' nodes at one depth are scored together, batched across
questions from their prompts' KV caches.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sublearn.models.hf.encoding import left_pad
from sublearn.models.types import WordProbabilities

#: How many of the first tokens behind each probability are reported.
TOP_TOKENS = 5


class TokenTexts:
    """The lower-cased text of every token of a tokenizer, and memoised candidate tokens for a word's rest.

    Candidates are found by binary search over the sorted token texts (and a lookup of the word's own prefixes),
    not by a scan of the vocabulary, which matters for 262k-token vocabularies.
    """

    def __init__(self, tokenizer: Any) -> None:
        special = set(getattr(tokenizer, "all_special_ids", []))
        self.texts = [tokenizer.decode([i]).lower() if i not in special else "" for i in range(len(tokenizer))]
        self.whitespace = [i for i, t in enumerate(self.texts) if t and not t.strip()]
        #: Tokens that may follow a complete word: no letter first, or a plural ending (special tokens included).
        self.boundary = [i for i, t in enumerate(self.texts) if word_ends_before(t)]
        self._memo: dict[tuple[str, bool], tuple[list[int], list[tuple[int, int]]]] = {}
        self._sorted: dict[bool, tuple[list[str], list[int]]] = {}
        self._by_piece: dict[bool, dict[str, list[int]]] = {}
        for started in (False, True):
            pairs = sorted((t if started else t.lstrip(), i) for i, t in enumerate(self.texts))
            pairs = [(piece, tok) for piece, tok in pairs if piece]
            self._sorted[started] = ([piece for piece, _ in pairs], [tok for _, tok in pairs])
            by_piece: dict[str, list[int]] = {}
            for piece, tok in pairs:
                by_piece.setdefault(piece, []).append(tok)
            self._by_piece[started] = by_piece

    @classmethod
    def cached(cls, tokenizer: Any) -> TokenTexts:
        """One instance per vocabulary (tokenizers of fine-tuned copies of a model share it)."""
        key = _vocabulary_key(tokenizer)
        if key not in _TEXTS:
            if len(_TEXTS) >= 4:  # hold a few vocabularies (a reference and a cross model) at a time
                _TEXTS.pop(next(iter(_TEXTS)))
            _TEXTS[key] = cls(tokenizer)
        return _TEXTS[key]

    def candidates(self, remaining: str, started: bool) -> tuple[list[int], list[tuple[int, int]]]:
        """Tokens that spell the rest of the word (in token order; what else they hold is for :meth:`ending` to
        judge) and (token, characters) pairs that continue it."""
        key = (remaining, started)
        if key not in self._memo:
            pieces, tokens = self._sorted[started]
            first = bisect.bisect_left(pieces, remaining)
            last = first
            while last < len(pieces) and pieces[last].startswith(remaining):
                last += 1
            done = sorted(tokens[first:last])
            by_piece = self._by_piece[started]
            partial = sorted((tok, n) for n in range(1, len(remaining)) for tok in by_piece.get(remaining[:n], []))
            self._memo[key] = (done, partial)
        return self._memo[key]


    def ending(self, token: int, remaining: str, started: bool) -> str:
        """For a token that spells ``remaining``: ``"ends"`` (the word ends within it), ``"open"`` (it ends exactly
        with the word, so the next token decides) or ``"other"`` (the text goes on as another word)."""
        piece = self.texts[token] if started else self.texts[token].lstrip()
        rest = piece[len(remaining):]
        if not rest:
            return "open"
        return "ends" if word_ends_before(rest) else "other"


_PLURAL_OR_NOT_A_LETTER = re.compile(r"^(?:[^a-z]|e?s(?:[^a-z]|$))")


def word_ends_before(text: str) -> bool:
    """Whether a word ends before ``text``: it is empty (an end of text), starts with no letter, or is a plural
    ending ("s", "es") with no letter after it."""
    return not text or bool(_PLURAL_OR_NOT_A_LETTER.match(text))


_TEXTS: dict[str, TokenTexts] = {}


def _vocabulary_key(tokenizer: Any) -> str:
    """A fingerprint of a tokenizer's vocabulary and special tokens."""
    vocab = tokenizer.get_vocab()
    text = json.dumps([sorted(vocab.items(), key=lambda kv: kv[1]), sorted(getattr(tokenizer, "all_special_ids", []))])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Path:
    query: int  # index of the (prompt, word) query
    tokens: tuple[int, ...]
    matched: int  # characters of the word spelled so far
    logp: float
    complete: bool = False  # the word is spelled out to the end of the last token; the next token decides


class PrefixScorer:
    """Next-token log-probabilities after prompts plus short continuations, batched across prompts.

    The prompts are left-padded into chunks and run once (:meth:`roots`), keeping each chunk's KV cache; a
    continuation is then scored from its prompt's cache row (:meth:`extend`), with the continuations of many
    prompts in one forward pass. Only the last position's logits are computed.
    """

    def __init__(self, model: Any, pad_id: int, max_batch: int = 256, token_budget: int = 16_384) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.max_batch = max_batch
        self.token_budget = token_budget  # cached tokens held at once in a forward pass
        self._where: dict[tuple[int, ...], tuple[int, int]] = {}  # prompt → (chunk, row)
        self._chunks: list[tuple[Any, torch.Tensor]] = []  # (cache, attention mask)
        self._root_rows: dict[tuple[int, ...], torch.Tensor] = {}

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any = None) -> Any:
        return self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True,
                          logits_to_keep=1)

    @torch.no_grad()
    def roots(self, prompts: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], torch.Tensor]:
        """Log-probabilities (V,) of the token after each prompt; caches the prompts' keys and values."""
        todo = [p for p in dict.fromkeys(prompts) if p not in self._where]
        width = max((len(p) for p in todo), default=1)
        step = max(1, min(self.max_batch, self.token_budget // width))
        for first in range(0, len(todo), step):
            chunk = todo[first:first + step]
            ids, mask = left_pad(chunk, self.pad_id)
            ids, mask = ids.to(self.device), mask.to(self.device)
            positions = (mask.cumsum(-1) - 1).clamp_min(0)
            result = self._forward(ids, mask, positions)
            cache = getattr(result, "cache", None) or result.past_key_values
            self._chunks.append((cache, mask))
            logp = torch.log_softmax(result.logits[:, -1].float(), -1).cpu()
            for row, prompt in enumerate(chunk):
                self._where[prompt] = (len(self._chunks) - 1, row)
                self._root_rows[prompt] = logp[row]
        return {p: self._root_rows[p] for p in prompts}

    def extend(self, pairs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]
               ) -> Iterator[list[tuple[int, torch.Tensor]]]:
        """Log-probabilities (V,) after ``prompt + continuation`` for (prompt, continuation) pairs whose
        continuations share one length (the prompts must have gone through :meth:`roots`), one forward pass at a
        time: each yield is that pass's [(index into ``pairs``, row)]. A caller that drops rows once used holds a
        pass's worth of vocabulary-sized rows, not the whole depth's (1 MB a row for a 262k-token vocabulary)."""
        by_chunk: dict[int, list[int]] = {}
        for k, (prompt, _) in enumerate(pairs):
            by_chunk.setdefault(self._where[prompt][0], []).append(k)
        for chunk_index, members in by_chunk.items():
            cache, mask = self._chunks[chunk_index]
            depth = len(pairs[members[0]][1])
            step = max(1, min(self.max_batch, self.token_budget // (mask.shape[1] + depth)))
            for first in range(0, len(members), step):
                part = members[first:first + step]
                with torch.no_grad():
                    select = torch.tensor([self._where[pairs[k][0]][1] for k in part], device=self.device)
                    past = _selected(cache, select)
                    ids = torch.tensor([pairs[k][1] for k in part], device=self.device)  # (P, d)
                    prompt_mask = mask.index_select(0, select)
                    full_mask = torch.cat([prompt_mask, torch.ones_like(ids)], dim=1)
                    positions = prompt_mask.sum(-1, keepdim=True) + torch.arange(depth, device=self.device)
                    logits = self._forward(ids, full_mask, positions, past).logits[:, -1]
                    rows = torch.log_softmax(logits.float(), -1).cpu()
                yield list(zip(part, rows, strict=True))


def _selected(cache: Any, rows: torch.Tensor) -> Any:
    """A copy of ``cache`` holding only batch ``rows`` (the original is left as it was)."""
    past = copy.copy(cache)
    past.layers = [copy.copy(layer) for layer in cache.layers]
    past.batch_select_indices(rows)
    return past


def _rows_in_order(scorer: PrefixScorer, frontier: Sequence[_Path], keys: Sequence[tuple[int, ...]], depth: int
                   ) -> Iterator[tuple[_Path, torch.Tensor]]:
    """Each path of ``frontier`` in order with its next-token log-probabilities. Rows are scored a forward pass at
    a time as the paths reach them and dropped after their last path, so memory holds the rows still to be used
    (paths of one prompt lie together), not a whole depth's: a 262k-token vocabulary's search would otherwise hold
    gigabytes. The passes, and so the values, are those of scoring the whole depth at once."""
    if depth == 0:
        roots = scorer.roots([keys[path.query] for path in frontier])
        for path in frontier:
            yield path, roots[keys[path.query]]
        return
    pair_of = [(keys[path.query], path.tokens) for path in frontier]
    pairs = list(dict.fromkeys(pair_of))
    index = {pair: k for k, pair in enumerate(pairs)}
    last_use = {index[pair]: i for i, pair in enumerate(pair_of)}
    passes = scorer.extend(pairs)
    rows: dict[int, torch.Tensor] = {}
    for i, (path, pair) in enumerate(zip(frontier, pair_of, strict=True)):
        k = index[pair]
        while k not in rows:
            rows.update(next(passes))
        yield path, rows[k]
        if last_use[k] == i:
            del rows[k]


def _credit(firsts: dict[int, float], token: int, mass: float) -> None:
    firsts[token] = firsts.get(token, 0.0) + mass


def word_start_probabilities(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], words: Sequence[str],
                             texts: TokenTexts | None = None, cutoff: float = 1e-6, whitespace_cutoff: float = 1e-3,
                             max_depth: int = 8, batch_size: int = 256, max_whitespace: int = 1
                             ) -> WordProbabilities:
    """For each (prompt token ids, word) pair, P(the continuation starts with ``word``), following up to
    ``max_whitespace`` white-space tokens before the word (the mass of a longer run of them is pruned)."""
    texts = texts or TokenTexts.cached(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scorer = PrefixScorer(model, pad_id, max_batch=batch_size)
    keys = [tuple(p) for p in prompts]
    targets = [w.lower() for w in words]
    result = [0.0] * len(prompts)
    pruned = [0.0] * len(prompts)
    by_first: list[dict[int, float]] = [{} for _ in prompts]  # probability mass by the path's first token
    log_cutoff, log_ws_cutoff = math.log(cutoff), math.log(whitespace_cutoff)
    frontier = [_Path(q, (), 0, 0.0) for q in range(len(prompts))]
    for depth in range(max_depth):
        if not frontier:
            break
        nxt = []
        for path, logp_row in _rows_in_order(scorer, frontier, keys, depth):
            if path.complete:  # a word ends here if the next token begins no other word
                mass = math.exp(path.logp) * float(logp_row[texts.boundary].exp().sum())
                result[path.query] += mass
                _credit(by_first[path.query], path.tokens[0], mass)
                continue
            remaining = targets[path.query][path.matched:]
            started = path.matched > 0
            done, partial = texts.candidates(remaining, started)
            for tok in done:
                ending = texts.ending(tok, remaining, started)
                lp = path.logp + float(logp_row[tok])
                if ending == "ends":
                    result[path.query] += math.exp(lp)
                    _credit(by_first[path.query], path.tokens[0] if path.tokens else tok, math.exp(lp))
                elif ending == "open":
                    if lp > log_cutoff:
                        nxt.append(_Path(path.query, (*path.tokens, tok), path.matched + len(remaining), lp, True))
                    else:
                        pruned[path.query] += math.exp(lp)
            for tok, n_chars in partial:
                lp = path.logp + float(logp_row[tok])
                if lp > log_cutoff:
                    nxt.append(_Path(path.query, (*path.tokens, tok), path.matched + n_chars, lp))
                else:
                    pruned[path.query] += math.exp(lp)
            if not started:  # white space before the word begins: up to max_whitespace tokens are followed
                ws = logp_row[texts.whitespace]
                if len(path.tokens) >= max_whitespace:  # a path not yet started holds only white space
                    pruned[path.query] += math.exp(path.logp) * float(ws.exp().sum())
                    continue
                for tok, tok_lp in zip(texts.whitespace, ws.tolist(), strict=True):
                    lp = path.logp + tok_lp
                    if tok_lp > log_ws_cutoff and lp > log_cutoff:
                        nxt.append(_Path(path.query, (*path.tokens, tok), 0, lp))
                    else:
                        pruned[path.query] += math.exp(lp)
        frontier = nxt
    for path in frontier:  # still unfinished at max_depth
        pruned[path.query] += math.exp(path.logp)
    top = [[(tokenizer.decode([tok]), mass) for tok, mass in sorted(f.items(), key=lambda kv: -kv[1])[:TOP_TOKENS]]
           for f in by_first]
    return WordProbabilities(result, pruned, top)
