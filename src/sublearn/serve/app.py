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
from sublearn.serve.errors import ServeError
from sublearn.serve.limits import BodySizeLimit
from sublearn.serve.state import ServeState

DEFAULT_MAX_TOKENS = 256
MAX_TOKENS = 4096


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


def parse_chat_body(body: dict[str, Any], max_generated_tokens: int) -> ChatRequest:
    """Validate a chat-completions body; a bad field is a 400 naming it."""
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
        max_tokens=max_tokens, seed=seed, logprobs=bool(body.get("logprobs")) or top_logprobs > 0,
        top_logprobs=top_logprobs)


def chat_completion(state: ServeState, body: dict[str, Any], stop: Any = None) -> dict[str, Any]:
    """Answer one chat-completions body with the named model (``stop()``: end the work early)."""
    model_id = body.get("model")
    if not isinstance(model_id, str):
        raise ServeError(400, "model: required", "model")
    request = parse_chat_body(body, state.limits.max_generated_tokens)
    engine = state.chat_model(model_id)
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


def _limit(request: Request, most: int) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ServeError(400, f"limit: must be an integer in [1, {most}], got {raw!r}", "limit")
    return int(raw)


def create_app(state: ServeState, api_key: str | None = None) -> Any:
    """The FastAPI application; with ``api_key`` every request needs ``Authorization: Bearer <key>``."""
    app = FastAPI(title="sublearn serve", description="OpenAI-compatible API over local models")
    app.add_middleware(BodySizeLimit, limits=state.limits)
    state.chat_handler = lambda body: chat_completion(state, body, stop=state.stopping.is_set)

    def error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)

    @app.exception_handler(ServeError)
    async def _serve_error(_: Request, exc: ServeError) -> JSONResponse:
        return error(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 404:
            message = f"{request.method} {request.url.path}: no such endpoint or object"
        return error(exc.status_code, message, None, "not_found" if exc.status_code == 404 else None)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Any:
        if api_key is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return error(401, "Incorrect API key provided.", None, "invalid_api_key")
        return await call_next(request)

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
        if body.get("stream"):
            raise ServeError(400, "stream: streaming is not served", "stream")
        gone = threading.Event()
        deadline = time.monotonic() + state.limits.request_timeout_s

        def stop() -> bool:
            return gone.is_set() or state.stopping.is_set() or time.monotonic() > deadline

        work = asyncio.ensure_future(run_in_threadpool(chat_completion, state, body, stop))
        while not work.done():
            await asyncio.wait({work}, timeout=0.25)
            if not work.done() and await request.is_disconnected():
                gone.set()  # the client left: stop generating for it
        result = work.result()
        if time.monotonic() > deadline:
            raise ServeError(504, f"request: not answered within the server's {state.limits.request_timeout_s:g} s",
                             None, "timeout")
        return result

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
        limit = _limit(request, 10_000) if "limit" in request.query_params else len(listed)
        return {"object": "list", "data": listed[:limit], "has_more": len(listed) > limit}

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
        return state.create_job(await _json_body(request))

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request) -> dict[str, Any]:
        metadata = {k[len("metadata["):-1]: v for k, v in request.query_params.items() if k.startswith("metadata[")}
        limit = _limit(request, state.limits.max_list)
        jobs = state.list_jobs(metadata or None)
        return {"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit}

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
        return state.create_batch(await _json_body(request))

    @app.get("/v1/batches/{batch_id}")
    def get_batch(batch_id: str) -> dict[str, Any]:
        return state.get_batch(batch_id)

    return app


async def _json_body(request: Any) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServeError(400, f"request body: not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ServeError(400, "request body: must be a JSON object")
    return body
