"""Chat completions as one small interface, answered by a local HF model or an OpenAI-compatible API.

:class:`ChatRequest` mirrors the OpenAI chat-completions fields the project uses (messages, n, temperature,
top_p, max_tokens, seed, logprobs, top_logprobs); :class:`ChatModel` is anything that answers one. Judges and
the ``serve`` command are written against it, so they run on any backend.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from sublearn.backends.generation import left_pad
from sublearn.backends.hf import messages_prompt_ids


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request. ``temperature == 0`` means greedy decoding."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 64
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0

    @classmethod
    def of(cls, messages: list[dict[str, str]], **kwargs: Any) -> ChatRequest:
        """From OpenAI-style ``[{"role", "content"}]`` messages."""
        return cls(messages=tuple((m["role"], m["content"]) for m in messages), **kwargs)

    @classmethod
    def user(cls, prompt: str, system: str | None = None, **kwargs: Any) -> ChatRequest:
        """One user turn, after an optional system prompt."""
        messages = ((("system", system),) if system else ()) + (("user", prompt),)
        return cls(messages=messages, **kwargs)

    def message_dicts(self) -> list[dict[str, str]]:
        """The messages as OpenAI-style dicts."""
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability, and the most likely alternatives at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ChatChoice:
    """One completion: its text, why it stopped (``stop`` | ``length``), and token logprobs if asked for."""

    text: str
    finish_reason: str = "stop"
    logprobs: tuple[TokenLogprob, ...] | None = None
    completion_tokens: int = 0

    def first_token_probabilities(self) -> dict[str, float]:
        """P(token) over the first position's top alternatives (the chosen token included)."""
        if not self.logprobs:
            return {}
        first = self.logprobs[0]
        out = {token: math.exp(lp) for token, lp in first.top}
        out.setdefault(first.token, math.exp(first.logprob))
        return out


class ChatModel(Protocol):
    """Answers chat requests (a local model, or an API model)."""

    def chat(self, request: ChatRequest) -> list[ChatChoice]: ...


@dataclass
class HFChatModel:
    """A local HF causal LM answering chat requests (sampling is seeded per request when ``seed`` is given).

    Calls are serialised by a lock, so one model can serve concurrent requests (as in ``sublearn serve``).
    """

    tokenizer: Any
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    @torch.no_grad()
    def chat(self, request: ChatRequest) -> list[ChatChoice]:
        """``request.n`` completions of the chat, with token logprobs if asked for."""
        tok = self.tokenizer
        prompt = messages_prompt_ids(tok, request.message_dicts())
        device = next(self.model.parameters()).device
        ids, mask = left_pad([prompt] * request.n, tok.pad_token_id)
        kwargs: dict[str, Any] = {"max_new_tokens": request.max_tokens, "pad_token_id": tok.pad_token_id,
                                  "eos_token_id": tok.eos_token_id, "use_cache": True,
                                  "return_dict_in_generate": True, "output_logits": request.logprobs}
        if request.temperature <= 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p, top_k=0)
        with self.lock:
            if request.seed is not None:
                torch.manual_seed(request.seed)
            out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        new = out.sequences[:, ids.shape[1]:].cpu()
        choices = []
        for i in range(request.n):
            row = new[i].tolist()
            length = next((k for k, t in enumerate(row) if t in (tok.eos_token_id, tok.pad_token_id)), len(row))
            stop = length < len(row)
            tokens = row[:length]
            logprobs = None
            if request.logprobs:
                logprobs = tuple(self._token_logprob(out.logits[k][i], t, request.top_logprobs)
                                 for k, t in enumerate(tokens))
            choices.append(ChatChoice(text=tok.decode(tokens, skip_special_tokens=True).strip(),
                                      finish_reason="stop" if stop else "length", logprobs=logprobs,
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


def choice_to_dict(choice: ChatChoice) -> dict[str, Any]:
    """A JSON-able form of a choice (for caches and tests)."""
    return asdict(choice)
