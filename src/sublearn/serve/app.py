"""An OpenAI-compatible HTTP API over local HF models (FastAPI): chat completions with logprobs, models, files,
fine-tuning jobs (our trainer, in a child process) and batches. Errors use OpenAI's error body; every size and
length has a cap, every request a deadline, and a client that goes away stops its work."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sublearn.models.types import ChatRequest
from sublearn.serve.errors import ServeError, error_body
from sublearn.serve.limits import BodySizeLimit
from sublearn.serve.state import ServeState

DEFAULT_MAX_TOKENS = 256
MAX_TOKENS = 4096
#: The chat-completions fields this server honours; any other is refused with a 400 naming it, never ignored.
CHAT_FIELDS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
                         "seed", "logprobs", "top_logprobs", "stream", "user", "metadata", "store"})
#: OpenAI fields that change what is generated and are not served here (named in their refusal).
UNSERVED = {"stop": "stop sequences", "response_format": "structured output", "tools": "tool calls",
            "tool_choice": "tool calls", "functions": "function calls", "function_call": "function calls",
            "logit_bias": "logit bias", "presence_penalty": "penalties", "frequency_penalty": "penalties",
            "stream_options": "streaming", "parallel_tool_calls": "tool calls", "prediction": "predicted outputs",
            "audio": "audio", "modalities": "other modalities", "reasoning_effort": "reasoning settings",
            "web_search_options": "web search", "service_tier": "service tiers"}


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float, integer: bool = False
            ) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high \
            or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise ServeError(400, f"{name}: must be {kind} in [{low}, {high}], got {value!r}", name,
                         "invalid_request_error")
    return float(value)


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ServeError(400, f"{name}: must be true or false, got {value!r}", name, "invalid_request_error")
    return value


def parse_chat_body(body: dict[str, Any], max_generated_tokens: int) -> ChatRequest:
    """Validate a chat-completions body; a bad field is a 400 naming it, and so is a field this server does not
    honour (generation would silently differ from what the client asked for)."""
    for name in body:
        if name not in CHAT_FIELDS:
            what = f"{UNSERVED[name]} are not served here" if name in UNSERVED else "not a field this server knows"
            raise ServeError(400, f"{name}: {what}; remove it from the request", name, "unsupported_parameter")
    if _boolean(body, "stream"):
        raise ServeError(400, "stream: streaming is not served", "stream")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "developer", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        raise ServeError(400, "messages: must be a non-empty list of {role, content} with text content", "messages")
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = int(_number({name: body.get(name)}, name, DEFAULT_MAX_TOKENS, 1, MAX_TOKENS, integer=True))
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ServeError(400, f"seed: must be a non-negative integer, got {seed!r}", "seed")
    top_logprobs = int(_number(body, "top_logprobs", 0, 0, 20, integer=True))
    n = int(_number(body, "n", 1, 1, 128, integer=True))
    if n * max_tokens > max_generated_tokens:
        raise ServeError(400, f"n × {name}: {n} × {max_tokens} tokens is more than this server generates for one "
                         f"request ({max_generated_tokens:,})", "n")
    return ChatRequest(
        messages=tuple(("system" if m["role"] == "developer" else m["role"], m["content"]) for m in messages),
        n=n, temperature=_number(body, "temperature", 1.0, 0, 2), top_p=_number(body, "top_p", 1.0, 0, 1),
        max_tokens=max_tokens, seed=seed, logprobs=_boolean(body, "logprobs") or top_logprobs > 0,
        top_logprobs=top_logprobs)


def chat_completion(state: ServeState, body: dict[str, Any], stop: Any = None) -> dict[str, Any]:
    """Answer one chat-completions body with the named model (``stop()``: end the work early)."""
    model_id = body.get("model")
    if not isinstance(model_id, str):
        raise ServeError(400, "model: required", "model")
    request = parse_chat_body(body, state.limits.max_generated_tokens)
    engine = state.chat_model(model_id)
    _refuse_control_tokens(request, engine.tokenizer)
    prompt_tokens = len(engine.prompt_ids(request))
    context = engine.context_length()
    if context is not None and prompt_tokens + request.max_tokens > context:
        raise ServeError(400, f"messages: {prompt_tokens} prompt tokens and up to {request.max_tokens} completion "
                         f"tokens exceed the model's context of {context}", "messages", "context_length_exceeded")
    choices = engine.chat(request, stop=stop)
    out_choices = []
    for i, c in enumerate(choices):
        logprobs = None
        if request.logprobs and c.logprobs is not None:
            logprobs = {"content": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
                                     "top_logprobs": [{"token": a, "logprob": lp, "bytes": list(a.encode())}
                                                      for a, lp in t.top]} for t in c.logprobs], "refusal": None}
        out_choices.append({"index": i, "message": {"role": "assistant", "content": c.text, "refusal": None},
                            "finish_reason": c.finish_reason, "logprobs": logprobs})
    completion_tokens = sum(c.completion_tokens for c in choices)
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model_id, "choices": out_choices, "system_fingerprint": "sublearn",
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _refuse_control_tokens(request: ChatRequest, tokenizer: Any) -> None:
    """A message may not hold the model's control tokens (``<|user|>``, ``<|im_start|>``, ...): in the chat
    template they would open a turn of another role, so a user could write the system prompt or the assistant."""
    markers = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    for index, (_, content) in enumerate(request.messages):
        found = next((t for t in markers if t in content), None)
        if found is not None:
            raise ServeError(400, f"messages[{index}].content: holds the model's control token {found!r}, which "
                             "would open another turn of the chat; remove it", f"messages[{index}].content")


def _limit(request: Request, most: int) -> int:
    raw = request.query_params.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise ServeError(400, f"limit: must be an integer in [1, {most}], got {raw!r}", "limit")
    return int(raw)


def _page(request: Request, items: list[dict[str, Any]], most: int, default: int | None = None) -> dict[str, Any]:
    """One page of a list, as OpenAI pages: up to ``limit`` objects after the one named ``after`` (an id), and
    whether more follow (the official client's auto-pagination asks again with the last id until none do)."""
    after = request.query_params.get("after")
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise ServeError(400, f"after: no object {after[:80]!r} in this list", "after")
        items = items[ids.index(after) + 1:]
    limit = _limit(request, most) if "limit" in request.query_params or default is None else default
    page = items[:limit]
    return {"object": "list", "data": page, "has_more": len(items) > limit,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}


def create_app(state: ServeState, api_key: str | None = None) -> Any:
    """The FastAPI application; with ``api_key`` every request needs ``Authorization: Bearer <key>``."""
    app = FastAPI(title="sublearn serve", description="OpenAI-compatible API over local models")
    app.add_middleware(BodySizeLimit, limits=state.limits)
    state.chat_handler = lambda body: chat_completion(state, body, stop=state.stopping.is_set)

    def error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
        return JSONResponse(error_body(status, message, param, code), status)

    @app.exception_handler(ServeError)
    async def _serve_error(_: Request, exc: ServeError) -> JSONResponse:
        return error(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(OSError)
    async def _store_error(_: Request, exc: OSError) -> JSONResponse:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return error(507, "the server's store is full; nothing was kept (free space, then retry)", None,
                         "insufficient_storage")
        return error(503, f"the server's store cannot be written or read now ({exc.strerror or exc}); retry "
                     "later", None, "store_unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 404:
            message = f"{request.method} {request.url.path}: no such endpoint or object"
        return error(exc.status_code, message, None, "not_found" if exc.status_code == 404 else None)

    if api_key is not None:
        app.add_middleware(ApiKeyAuth, api_key=api_key)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [state.model_object(m) for m in state.model_ids()]}

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> dict[str, Any]:
        return state.model_object(model_id)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        body = await _json_body(request)
        parse_chat_body(body, state.limits.max_generated_tokens)  # a bad request is refused before it queues
        gone = threading.Event()
        deadline = time.monotonic() + state.limits.request_timeout_s

        def stop() -> bool:
            return gone.is_set() or state.stopping.is_set() or time.monotonic() > deadline

        with state.admission.admit(body.get("model")):
            work = asyncio.ensure_future(run_in_threadpool(chat_completion, state, body, stop))
            result = await _until_done(work, request, gone)
        if time.monotonic() > deadline:
            raise ServeError(504, f"request: not answered within the server's {state.limits.request_timeout_s:g} s",
                             None, "timeout")
        return result

    async def _until_done(work: Any, request: Request, gone: threading.Event) -> dict[str, Any]:
        """Wait for ``work``; a client that goes away sets ``gone``, which stops its generation."""
        while not work.done():
            await asyncio.wait({work}, timeout=0.25)
            if not work.done() and await request.is_disconnected():
                gone.set()  # the client left: stop generating for it
        return work.result()

    @app.post("/v1/load_lora_adapter")
    async def load_lora_adapter(request: Request) -> Response:
        assert state.adapters is not None
        body = await _json_body(request)
        name, path = state.adapters.body_name(body), body.get("lora_path")
        if not isinstance(path, str) or not path:
            raise ServeError(400, "lora_path: give the adapter's folder", "lora_path")
        state.adapters.add(name, path, from_client=True)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload_lora_adapter(request: Request) -> Response:
        assert state.adapters is not None
        name = state.adapters.body_name(await _json_body(request))
        state.adapters.remove(name)
        state.forget(name)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    @app.post("/v1/files")
    async def upload(file: UploadFile = File(...), purpose: str = Form(...)) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(state.create_file, file.filename or "upload.jsonl", purpose, file.file)

    @app.get("/v1/files")
    def files(request: Request) -> dict[str, Any]:
        listed = state.list_files()
        return _page(request, listed, 10_000, default=len(listed))

    @app.get("/v1/files/{file_id}")
    def file(file_id: str) -> dict[str, Any]:
        return state.get_file(file_id)

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        return state.delete_file(file_id)

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        from fastapi.responses import FileResponse

        return FileResponse(state.file_path(file_id), media_type="application/octet-stream")

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        body = await _json_body(request)
        return await run_in_threadpool(state.create_job, body)  # its training file is read and parsed off the loop

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request) -> dict[str, Any]:
        metadata = {k[len("metadata["):-1]: v for k, v in request.query_params.items() if k.startswith("metadata[")}
        return _page(request, state.list_jobs(metadata or None), state.limits.max_list, default=20)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return state.get_job(job_id)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return state.cancel_job(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def job_events(job_id: str) -> dict[str, Any]:
        job = state.get_job(job_id)
        return {"object": "list", "has_more": False, "data": [
            {"object": "fine_tuning.job.event", "id": f"ftevent-{job_id}", "created_at": job["created_at"],
             "level": "info", "message": f"Job status: {job['status']}", "data": {}, "type": "message"}]}

    @app.post("/v1/batches")
    async def create_batch(request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        body = await _json_body(request)
        return await run_in_threadpool(state.create_batch, body)

    @app.get("/v1/batches/{batch_id}")
    def get_batch(batch_id: str) -> dict[str, Any]:
        return state.get_batch(batch_id)

    return app


class ApiKeyAuth:
    """ASGI middleware: every request needs ``Authorization: Bearer <key>``. A plain ASGI middleware, not
    FastAPI's ``@app.middleware("http")``, whose wrapping hides a client's disconnect from the endpoint (and then
    work for a client that left would run to its end)."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(error_body(401, "Incorrect API key provided.", None, "invalid_api_key"), 401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _json_body(request: Any) -> dict[str, Any]:
    try:
        body = await request.json()
    except RecursionError as exc:
        raise ServeError(400, "request body: JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServeError(400, f"request body: not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ServeError(400, "request body: must be a JSON object")
    return body
