"""A local HF causal LM behind the two model protocols: :class:`HFChatModel` answers chat requests (greedy ones
batched), :class:`HFLogprobModel` gives exact probabilities of answers (the prefix-tree search)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sublearn.models.hf.encoding import left_pad, messages_prompt_ids, text_ids
from sublearn.models.hf.generation import completion_text
from sublearn.models.hf.prefix_probability import TokenTexts, word_start_probabilities
from sublearn.models.hf.streaming import Decode, DeltaStreamer, OnDelta
from sublearn.models.types import (
    SEARCH_PRECISIONS,
    ChatChoice,
    ChatPrompt,
    ChatRequest,
    TokenLogprob,
    WordProbabilities,
)


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

    def chat(self, request: ChatRequest, stop: Callable[[], bool] | None = None,
             on_delta: OnDelta | None = None) -> list[ChatChoice]:
        """``request.n`` completions of the chat, with token logprobs if asked for; ``stop()`` returning True ends
        generation early (a client gone, a deadline passed); ``on_delta(choice, text)`` receives each choice's
        text as it grows (the deltas add up to the choice's text)."""
        return self.complete([self.prompt_ids(request)] * request.n, request, stop, on_delta)

    def complete(self, prompts: list[list[int]], request: ChatRequest, stop: Callable[[], bool] | None = None,
                 on_delta: OnDelta | None = None, decode: Decode = completion_text) -> list[ChatChoice]:
        """One completion per prompt (token ids: no chat template is added), generated with ``request``'s settings
        and seed (its messages are not used) and read by ``decode`` (:func:`raw_text` for raw continuations);
        ``stop`` and ``on_delta`` as in :meth:`chat`."""
        return self._generate(prompts, request, seed=request.seed, stop=stop, on_delta=on_delta, decode=decode)

    def context_length(self) -> int | None:
        """The most tokens (prompt and completion) the model takes, when its config says."""
        return getattr(self.model.config, "max_position_embeddings", None)

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[list[ChatChoice]]:
        """Answers to every request, in order; greedy single-answer requests with equal settings are batched."""
        out: list[list[ChatChoice] | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(requests):
            if r.greedy and r.n == 1:
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
    def _generate(self, prompts: list[list[int]], request: ChatRequest, seed: int | None,
                  stop: Callable[[], bool] | None = None, on_delta: OnDelta | None = None,
                  decode: Decode = completion_text) -> list[ChatChoice]:
        """One completion per prompt (left-padded into one batch) with ``request``'s decoding settings.

        A seeded request draws from its own copy of the random state (forked), so nothing else running in the
        process changes its samples; logprobs are recorded step by step (the chosen token and the top ones), never
        holding every step's full distribution."""
        from transformers import LogitsProcessorList, StoppingCriteriaList, TemperatureLogitsWarper, TopPLogitsWarper

        tok = self.tokenizer
        device = next(self.model.parameters()).device
        ids, mask = left_pad(prompts, tok.pad_token_id)
        recorder = _LogprobRecorder(max(request.top_logprobs, 0)) if request.logprobs else None
        kwargs: dict[str, Any] = {"max_new_tokens": request.max_tokens, "pad_token_id": tok.pad_token_id,
                                  "eos_token_id": tok.eos_token_id, "use_cache": True}
        if stop is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_StopWhen(stop)])
        streamer = None
        if on_delta is not None:
            streamer = DeltaStreamer(tok, len(prompts), on_delta, {tok.eos_token_id, tok.pad_token_id}, decode)
            kwargs["streamer"] = streamer
        if request.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if recorder is not None:
                kwargs["logits_processor"] = LogitsProcessorList([recorder])
        elif recorder is not None:  # the model's own distribution is recorded, then tempered and cut for sampling
            kwargs.update(do_sample=True, temperature=None, top_p=None, top_k=0)
            kwargs["logits_processor"] = LogitsProcessorList(
                [recorder, TemperatureLogitsWarper(request.temperature), TopPLogitsWarper(request.top_p)])
        else:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p, top_k=0)
        with self.lock, torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed)
            sequences = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        new = sequences[:, ids.shape[1]:].cpu()
        if recorder is not None:
            recorder.finish(new)
        choices = []
        for i in range(len(prompts)):
            row = new[i].tolist()
            length = next((k for k, t in enumerate(row) if t in (tok.eos_token_id, tok.pad_token_id)), len(row))
            tokens = row[:length]
            logprobs = None
            if recorder is not None:
                logprobs = tuple(TokenLogprob(tok.decode([t]), recorder.chosen[k][i],
                                              tuple((tok.decode([a]), lp) for a, lp in recorder.top[k][i]))
                                 for k, t in enumerate(tokens))
            choices.append(ChatChoice(text=decode(tok, tokens),
                                      finish_reason="stop" if length < len(row) else "length", logprobs=logprobs,
                                      completion_tokens=len(tokens)))
        if streamer is not None:
            streamer.finish([c.text for c in choices])
        return choices


class _LogprobRecorder:
    """A logits processor that keeps, per step, the log-probability of the token chosen and the top ``k``
    alternatives, holding one step's distribution at a time (the chosen token is known at the next step)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.top: list[list[list[tuple[int, float]]]] = []  # step → row → (token, logprob)
        self.chosen: list[list[float]] = []  # step → row → logprob of the token chosen
        self._last: torch.Tensor | None = None  # the previous step's log-probabilities (rows, vocab)
        self._start: int | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._start is None:
            self._start = input_ids.shape[1]
        elif self._last is not None:
            self._resolve(input_ids[:, -1])
        logp = torch.log_softmax(scores.float(), dim=-1)
        if self.k:
            values, indices = logp.topk(self.k, dim=-1)
            self.top.append([list(zip(i.tolist(), v.tolist(), strict=True)) for v, i in zip(values, indices,
                                                                                               strict=True)])
        else:
            self.top.append([[] for _ in range(logp.shape[0])])
        self._last = logp
        return scores

    def _resolve(self, tokens: torch.Tensor) -> None:
        assert self._last is not None
        self.chosen.append(self._last.gather(1, tokens.view(-1, 1).to(self._last.device)).view(-1).tolist())
        self._last = None

    def finish(self, new_tokens: torch.Tensor) -> None:
        """Resolve the last step, whose chosen token only the final sequences show."""
        if self._last is not None:
            self._resolve(new_tokens[:, len(self.chosen)])


class _StopWhen:
    """A stopping criterion that ends generation for every row once ``stop()`` says so."""

    def __init__(self, stop: Callable[[], bool]) -> None:
        self.stop = stop

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), bool(self.stop()), dtype=torch.bool, device=input_ids.device)


@dataclass
class HFLogprobModel:
    """Exact answer probabilities of a local HF causal LM (see :mod:`~sublearn.models.hf.prefix_probability`)."""

    tokenizer: Any
    model: Any

    def prompt_ids(self, prompt: ChatPrompt) -> list[int]:
        """The chat's token ids up to the assistant header, then the prefill's."""
        return messages_prompt_ids(self.tokenizer, prompt.messages) + text_ids(self.tokenizer, prompt.prefill)

    def word_start_probabilities(self, prompts: Sequence[ChatPrompt], words: Sequence[str],
                                 precision: str = "standard") -> WordProbabilities:
        """For each (prompt, word) pair, P(the answer starts with ``word``), summed over its tokenisations, by a
        search as deep as ``precision`` says (:data:`~sublearn.models.types.SEARCH_PRECISIONS`)."""
        ids = [self.prompt_ids(p) for p in prompts]
        depth = SEARCH_PRECISIONS[precision]
        return word_start_probabilities(self.model, self.tokenizer, ids, words, TokenTexts.cached(self.tokenizer),
                                        cutoff=depth.cutoff, whitespace_cutoff=depth.whitespace_cutoff,
                                        max_whitespace=depth.whitespace_tokens)
