"""Legacy completions (``/v1/completions``): raw text prompts continued without a chat template, as vLLM and
OpenAI serve them (base-model evaluations, perplexity probes, Inspect's ``openai-api-completions`` provider).

A prompt is tokenized as the tokenizer does by default (with its beginning-of-text token, where it has one) and
continued; the completion's text is not stripped (its leading space is part of the continuation). ``prompt`` may
be a list of prompts: choice ``k`` answers prompt ``k // n``. ``logprobs`` (0-20) gives the chosen tokens'
log-probabilities and the top ones in the legacy layout (tokens, token_logprobs, top_logprobs, text_offset).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sublearn.models.types import ChatChoice, ChatRequest
from sublearn.serve.chat import check_context, number, refuse_unknown_fields, sampling, stream_settings, usage
from sublearn.serve.errors import ServeError
from sublearn.serve.state import ServeState
from sublearn.serve.streaming import ChunkShape

#: The fields /v1/completions honours (others are refused, naming them).
COMPLETION_FIELDS = frozenset({"model", "prompt", "max_tokens", "temperature", "top_p", "n", "seed", "logprobs",
                               "stream", "stream_options", "user"})
#: OpenAI's default for this endpoint.
DEFAULT_MAX_TOKENS = 16
MAX_PROMPTS = 64


@dataclass
class PreparedCompletion:
    """A checked request, its prompts' token ids and the loaded model."""

    model_id: str
    prompts: list[str]
    prompt_ids: list[list[int]]
    request: ChatRequest
    engine: Any
    id: str
    created: int

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens, each prompt counted once."""
        return sum(len(ids) for ids in self.prompt_ids)


def _prompts(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ServeError(400, "prompt: must be a non-empty string or a list of them (token-id prompts are not "
                         "served)", "prompt")
    if len(prompts) > MAX_PROMPTS:
        raise ServeError(400, f"prompt: {len(prompts)} prompts; at most {MAX_PROMPTS} in one request", "prompt")
    return prompts


def parse_completion_body(body: dict[str, Any], max_generated_tokens: int) -> tuple[list[str], ChatRequest]:
    """The prompts and decoding settings of a completions body; a bad or unserved field is a 400 naming it."""
    refuse_unknown_fields(body, COMPLETION_FIELDS)
    stream, _ = stream_settings(body)
    if not isinstance(body.get("model"), str):
        raise ServeError(400, "model: required", "model")
    prompts = _prompts(body)
    top = int(number(body, "logprobs", -1, 0, 20, integer=True))
    if stream and top >= 0:
        raise ServeError(400, "logprobs: not served with stream: true; ask without streaming for logprobs",
                         "logprobs")
    settings = sampling(body, max_generated_tokens // len(prompts), DEFAULT_MAX_TOKENS)
    return prompts, ChatRequest(messages=(), logprobs=top >= 0, top_logprobs=max(top, 0), **settings)


def prepare_completion(state: ServeState, body: dict[str, Any]) -> PreparedCompletion:
    """Check ``body``, load its model and tokenize its prompts: every refusal comes before any answer starts."""
    prompts, request = parse_completion_body(body, state.limits.max_generated_tokens)
    engine = state.models.chat_model(body["model"])
    ids = [list(engine.tokenizer(p)["input_ids"]) for p in prompts]
    for index, prompt_ids in enumerate(ids):
        check_context(engine, len(prompt_ids), request.max_tokens, f"prompt[{index}]" if len(ids) > 1 else "prompt")
    return PreparedCompletion(body["model"], prompts, ids, request, engine, f"cmpl-{uuid.uuid4().hex}",
                              int(time.time()))


def _logprobs(choice: ChatChoice, offset: int) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    offsets, at = [], offset
    for t in choice.logprobs:
        offsets.append(at)
        at += len(t.token)
    return {"tokens": [t.token for t in choice.logprobs], "token_logprobs": [t.logprob for t in choice.logprobs],
            "top_logprobs": [dict(t.top) for t in choice.logprobs], "text_offset": offsets}


def answer_completion(done: PreparedCompletion, stop: Callable[[], bool] | None = None,
                      on_delta: Callable[[int, str], None] | None = None
                      ) -> tuple[dict[str, Any], list[ChatChoice]]:
    """Generate: the whole text_completion object, and its choices (choice k answers prompt k // n)."""
    from sublearn.models.hf.streaming import raw_text

    n = done.request.n
    prompt_ids = [ids for ids in done.prompt_ids for _ in range(n)]
    choices = done.engine.complete(prompt_ids, done.request, stop=stop, on_delta=on_delta, decode=raw_text)
    out = [{"index": k, "text": c.text, "finish_reason": c.finish_reason,
            "logprobs": _logprobs(c, len(done.prompts[k // n])) if done.request.logprobs else None}
           for k, c in enumerate(choices)]
    return {"id": done.id, "object": "text_completion", "created": done.created, "model": done.model_id,
            "choices": out, "system_fingerprint": "sublearn", "usage": usage(done.prompt_tokens, choices)}, choices


def completion_chunks(done: PreparedCompletion) -> ChunkShape:
    """The text_completion stream of ``done``: chunks of the same object, each with one choice's new text."""

    def chunk(entries: list[dict[str, Any]], usage_: dict[str, int] | None) -> dict[str, Any]:
        return {"id": done.id, "object": "text_completion", "created": done.created, "model": done.model_id,
                "system_fingerprint": "sublearn", "choices": entries, "usage": usage_}

    def delta(index: int, text: str, first: bool) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": None}

    def finish(index: int, choice: ChatChoice) -> dict[str, Any]:
        return {"index": index, "text": "", "logprobs": None, "finish_reason": choice.finish_reason}

    return ChunkShape(chunk, delta, finish, lambda choices: usage(done.prompt_tokens, choices),
                      done.request.n * len(done.prompts))
