"""A local HF causal LM behind the two model protocols: :class:`HFChatModel` answers chat requests (greedy ones
batched), :class:`HFLogprobModel` gives exact probabilities of answers (the prefix-tree search)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sublearn.models.hf.encoding import left_pad, messages_prompt_ids, text_ids
from sublearn.models.hf.prefix_probability import TokenTexts, word_start_probabilities
from sublearn.models.types import ChatChoice, ChatPrompt, ChatRequest, TokenLogprob, WordProbabilities


@dataclass
class HFChatModel:
    """A local HF causal LM answering chat requests.

    Sampled requests run one at a time, seeded by ``request.seed`` when given (their ``n`` samples in one batch);
    greedy single-answer requests run ``batch_size`` at a time. Calls are serialised by a lock, so one model can
    serve concurrent requests (as in ``sublearn serve``).
    """

    tokenizer: Any
    model: Any
    batch_size: int = 16
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prompt_ids(self, request: ChatRequest) -> list[int]:
        """The request's chat as token ids, ending with the assistant header."""
        return messages_prompt_ids(self.tokenizer, request.messages)

    def chat(self, request: ChatRequest) -> list[ChatChoice]:
        """``request.n`` completions of the chat, with token logprobs if asked for."""
        return self._generate([self.prompt_ids(request)] * request.n, request, seed=request.seed)

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[list[ChatChoice]]:
        """Answers to every request, in order; greedy single-answer requests with equal settings are batched."""
        out: list[list[ChatChoice] | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(requests):
            if r.temperature <= 0 and r.n == 1:
                groups.setdefault((r.max_tokens, r.logprobs, r.top_logprobs), []).append(i)
            else:
                out[i] = self.chat(r)
        for members in groups.values():
            for first in range(0, len(members), self.batch_size):
                part = members[first:first + self.batch_size]
                prompts = [self.prompt_ids(requests[i]) for i in part]
                for i, choice in zip(part, self._generate(prompts, requests[part[0]], seed=None), strict=True):
                    out[i] = [choice]
        assert all(choices is not None for choices in out)
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _generate(self, prompts: list[list[int]], request: ChatRequest, seed: int | None) -> list[ChatChoice]:
        """One completion per prompt (left-padded into one batch) with ``request``'s decoding settings."""
        tok = self.tokenizer
        device = next(self.model.parameters()).device
        ids, mask = left_pad(prompts, tok.pad_token_id)
        kwargs: dict[str, Any] = {"max_new_tokens": request.max_tokens, "pad_token_id": tok.pad_token_id,
                                  "eos_token_id": tok.eos_token_id, "use_cache": True,
                                  "return_dict_in_generate": True, "output_logits": request.logprobs}
        if request.temperature <= 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p, top_k=0)
        with self.lock:
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        new = out.sequences[:, ids.shape[1]:].cpu()
        choices = []
        for i in range(len(prompts)):
            row = new[i].tolist()
            length = next((k for k, t in enumerate(row) if t in (tok.eos_token_id, tok.pad_token_id)), len(row))
            tokens = row[:length]
            logprobs = None
            if request.logprobs:
                logprobs = tuple(self._token_logprob(out.logits[k][i], t, request.top_logprobs)
                                 for k, t in enumerate(tokens))
            choices.append(ChatChoice(text=tok.decode(tokens, skip_special_tokens=True).strip(),
                                      finish_reason="stop" if length < len(row) else "length", logprobs=logprobs,
                                      completion_tokens=len(tokens)))
        return choices

    def _token_logprob(self, logits: torch.Tensor, token: int, top: int) -> TokenLogprob:
        logp = torch.log_softmax(logits.float().cpu(), dim=-1)
        alternatives: tuple[tuple[str, float], ...] = ()
        if top > 0:
            values, indices = logp.topk(top)
            alternatives = tuple((self.tokenizer.decode([int(t)]), float(v))
                                 for v, t in zip(values, indices, strict=True))
        return TokenLogprob(self.tokenizer.decode([token]), float(logp[token]), alternatives)


@dataclass
class HFLogprobModel:
    """Exact answer probabilities of a local HF causal LM (see :mod:`~sublearn.models.hf.prefix_probability`)."""

    tokenizer: Any
    model: Any

    def prompt_ids(self, prompt: ChatPrompt) -> list[int]:
        """The chat's token ids up to the assistant header, then the prefill's."""
        return messages_prompt_ids(self.tokenizer, prompt.messages) + text_ids(self.tokenizer, prompt.prefill)

    def word_start_probabilities(self, prompts: Sequence[ChatPrompt], words: Sequence[str]) -> WordProbabilities:
        """For each (prompt, word) pair, P(the answer starts with ``word``), summed over its tokenisations."""
        ids = [self.prompt_ids(p) for p in prompts]
        return word_start_probabilities(self.model, self.tokenizer, ids, words, TokenTexts.cached(self.tokenizer))
