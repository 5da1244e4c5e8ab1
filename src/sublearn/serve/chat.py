"""Chat completions: a request body checked field by field, then answered whole or streamed as chunks.

Every field this server honours is in :data:`CHAT_FIELDS`; any other is refused with a 400 naming it (generation
would otherwise silently differ from what the client asked for), and :data:`UNSERVED` says why for OpenAI's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sublearn.models.types import ChatChoice, ChatRequest
from sublearn.serve.errors import ServeError
from sublearn.serve.state import ServeState
from sublearn.serve.streaming import ChunkShape

DEFAULT_MAX_TOKENS = 256
MAX_TOKENS = 4096
#: The chat-completions fields this server honours; any other is refused with a 400 naming it, never ignored.
CHAT_FIELDS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
                         "seed", "logprobs", "top_logprobs", "stream", "stream_options", "user", "metadata",
                         "store"})
#: OpenAI fields that change what is generated and are not served here (named in their refusal).
UNSERVED = {"stop": "stop sequences", "response_format": "structured output", "tools": "tool calls",
            "tool_choice": "tool calls", "functions": "function calls", "function_call": "function calls",
            "logit_bias": "logit bias", "presence_penalty": "penalties", "frequency_penalty": "penalties",
            "parallel_tool_calls": "tool calls", "prediction": "predicted outputs", "audio": "audio",
            "modalities": "other modalities", "reasoning_effort": "reasoning settings",
            "web_search_options": "web search", "service_tier": "service tiers", "suffix": "suffixes (insertion)",
            "echo": "echoed prompts", "best_of": "best-of sampling"}


def number(body: dict[str, Any], name: str, default: float, low: float, high: float, integer: bool = False
           ) -> float:
    """``body[name]`` as a number in [low, high] (``default`` when absent); anything else is a 400 naming it."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high \
            or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise ServeError(400, f"{name}: must be {kind} in [{low}, {high}], got {value!r}", name,
                         "invalid_request_error")
    return float(value)


def boolean(body: dict[str, Any], name: str) -> bool:
    """``body[name]`` as true or false (absent or null: false); anything else is a 400 naming it."""
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ServeError(400, f"{name}: must be true or false, got {value!r}", name, "invalid_request_error")
    return value


def refuse_unknown_fields(body: dict[str, Any], fields: frozenset[str]) -> None:
    """A 400 naming the first field not in ``fields`` (and why, for OpenAI's own fields not served here)."""
    for name in body:
        if name not in fields:
            what = f"{UNSERVED[name]} are not served here" if name in UNSERVED else "not a field this server knows"
            raise ServeError(400, f"{name}: {what}; remove it from the request", name, "unsupported_parameter")


def stream_settings(body: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include usage in a last chunk): ``stream`` and ``stream_options.include_usage``, checked."""
    stream = boolean(body, "stream")
    options = body.get("stream_options")
    if options is None:
        return stream, False
    if not stream:
        raise ServeError(400, "stream_options: only with stream: true", "stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise ServeError(400, "stream_options: only {\"include_usage\": true|false} is served", "stream_options")
    return stream, boolean(options, "include_usage")


def sampling(body: dict[str, Any], max_generated_tokens: int, default_max_tokens: int = DEFAULT_MAX_TOKENS
             ) -> dict[str, Any]:
    """The decoding fields both endpoints share (n, max tokens, temperature, top_p, seed), checked."""
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = int(number({name: body.get(name)}, name, default_max_tokens, 1, MAX_TOKENS, integer=True))
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ServeError(400, f"seed: must be a non-negative integer, got {seed!r}", "seed")
    n = int(number(body, "n", 1, 1, 128, integer=True))
    if n * max_tokens > max_generated_tokens:
        raise ServeError(400, f"n × {name}: {n} × {max_tokens} tokens is more than this server generates for one "
                         f"request ({max_generated_tokens:,})", "n")
    return {"n": n, "max_tokens": max_tokens, "seed": seed, "temperature": number(body, "temperature", 1.0, 0, 2),
            "top_p": number(body, "top_p", 1.0, 0, 1)}


def parse_chat_body(body: dict[str, Any], max_generated_tokens: int) -> ChatRequest:
    """Validate a chat-completions body; a bad field is a 400 naming it, and so is a field this server does not
    honour."""
    refuse_unknown_fields(body, CHAT_FIELDS)
    stream, _ = stream_settings(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "developer", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        raise ServeError(400, "messages: must be a non-empty list of {role, content} with text content", "messages")
    top_logprobs = int(number(body, "top_logprobs", 0, 0, 20, integer=True))
    logprobs = boolean(body, "logprobs") or top_logprobs > 0
    if stream and logprobs:
        raise ServeError(400, "logprobs: not served with stream: true; ask without streaming for logprobs",
                         "logprobs")
    return ChatRequest(
        messages=tuple(("system" if m["role"] == "developer" else m["role"], m["content"]) for m in messages),
        logprobs=logprobs, top_logprobs=top_logprobs, **sampling(body, max_generated_tokens))


@dataclass
class PreparedChat:
    """A checked request and the loaded model that will answer it."""

    model_id: str
    request: ChatRequest
    engine: Any
    prompt_tokens: int
    id: str
    created: int


def prepare_chat(state: ServeState, body: dict[str, Any]) -> PreparedChat:
    """Check ``body`` and load its model: every refusal (a bad field, an unknown model, a context overflow) comes
    here, before any answer starts."""
    model_id = body.get("model")
    if not isinstance(model_id, str):
        raise ServeError(400, "model: required", "model")
    request = parse_chat_body(body, state.limits.max_generated_tokens)
    engine = state.models.chat_model(model_id)
    refuse_control_tokens([content for _, content in request.messages], engine.tokenizer, "messages[{}].content")
    prompt_tokens = len(engine.prompt_ids(request))
    check_context(engine, prompt_tokens, request.max_tokens, "messages")
    return PreparedChat(model_id, request, engine, prompt_tokens, f"chatcmpl-{uuid.uuid4().hex}",
                        int(time.time()))


def check_context(engine: Any, prompt_tokens: int, max_tokens: int, field: str) -> None:
    """A 400 when the prompt and the completion it may grow would not fit the model's context."""
    context = engine.context_length()
    if context is not None and prompt_tokens + max_tokens > context:
        raise ServeError(400, f"{field}: {prompt_tokens} prompt tokens and up to {max_tokens} completion tokens "
                         f"exceed the model's context of {context}", field, "context_length_exceeded")


def usage(prompt_tokens: int, choices: list[ChatChoice]) -> dict[str, int]:
    """OpenAI's usage object (prompt tokens counted once for all choices)."""
    completion_tokens = sum(c.completion_tokens for c in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def answer_chat(chat: PreparedChat, stop: Callable[[], bool] | None = None,
                on_delta: Callable[[int, str], None] | None = None) -> tuple[dict[str, Any], list[ChatChoice]]:
    """Generate the answer: the whole chat.completion object, and its choices (for a stream's last chunks)."""
    choices = chat.engine.chat(chat.request, stop=stop, on_delta=on_delta)
    out_choices = []
    for i, c in enumerate(choices):
        logprobs = None
        if chat.request.logprobs and c.logprobs is not None:
            logprobs = {"content": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
                                     "top_logprobs": [{"token": a, "logprob": lp, "bytes": list(a.encode())}
                                                      for a, lp in t.top]} for t in c.logprobs], "refusal": None}
        out_choices.append({"index": i, "message": {"role": "assistant", "content": c.text, "refusal": None},
                            "finish_reason": c.finish_reason, "logprobs": logprobs})
    return {"id": chat.id, "object": "chat.completion", "created": chat.created, "model": chat.model_id,
            "choices": out_choices, "system_fingerprint": "sublearn",
            "usage": usage(chat.prompt_tokens, choices)}, choices


def chat_chunks(chat: PreparedChat) -> ChunkShape:
    """The chat.completion.chunk stream of ``chat``: the first delta of a choice carries its role."""

    def chunk(entries: list[dict[str, Any]], usage_: dict[str, int] | None) -> dict[str, Any]:
        return {"id": chat.id, "object": "chat.completion.chunk", "created": chat.created, "model": chat.model_id,
                "system_fingerprint": "sublearn", "choices": entries, "usage": usage_}

    def delta(index: int, text: str, first: bool) -> dict[str, Any]:
        return {"index": index, "delta": {"role": "assistant", "content": text} if first else {"content": text},
                "logprobs": None, "finish_reason": None}

    def finish(index: int, choice: ChatChoice) -> dict[str, Any]:
        return {"index": index, "delta": {}, "logprobs": None, "finish_reason": choice.finish_reason}

    return ChunkShape(chunk, delta, finish, lambda choices: usage(chat.prompt_tokens, choices), chat.request.n)


def chat_completion(state: ServeState, body: dict[str, Any], stop: Any = None) -> dict[str, Any]:
    """Answer one chat-completions body whole (batches, and requests without ``stream``)."""
    if boolean(body, "stream"):
        raise ServeError(400, "stream: not served here (a batch line is answered whole); remove it", "stream")
    return answer_chat(prepare_chat(state, body), stop=stop)[0]


def refuse_control_tokens(texts: list[str], tokenizer: Any, field: str) -> None:
    """A text may not hold the model's control tokens (``<|user|>``, ``<|im_start|>``, ...): in the chat template
    they would open a turn of another role, so a user could write the system prompt or the assistant.
    ``field``: the field's name, with ``{}`` for the text's index."""
    markers = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    for index, content in enumerate(texts):
        found = next((t for t in markers if t in content), None)
        if found is not None:
            name = field.format(index)
            raise ServeError(400, f"{name}: holds the model's control token {found!r}, which would open another "
                             "turn of the chat; remove it", name)
