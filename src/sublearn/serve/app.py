"""An OpenAI-compatible HTTP API over local HF models (FastAPI): chat completions (with logprobs, or streamed) and
legacy completions, models, files, fine-tuning jobs (our trainer, in a child process) and batches. Errors use
OpenAI's error body; every size and length has a cap, every request a deadline, and a client that goes away stops
its work."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sublearn.serve.chat import (
    answer_chat,
    chat_chunks,
    chat_completion,
    parse_chat_body,
    prepare_chat,
    stream_settings,
)
from sublearn.serve.completions import answer_completion, completion_chunks, parse_completion_body, prepare_completion
from sublearn.serve.errors import ServeError, error_body
from sublearn.serve.limits import BodySizeLimit
from sublearn.serve.state import ServeState


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
        return {"object": "list", "data": [state.models.model_object(m) for m in state.models.ids()]}

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> dict[str, Any]:
        return state.models.model_object(model_id)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await _json_body(request)
        parse_chat_body(body, state.limits.max_generated_tokens)  # a bad request is refused before it queues
        return await _answer(request, body, prepare_chat, answer_chat, chat_chunks)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await _json_body(request)
        parse_completion_body(body, state.limits.max_generated_tokens)
        return await _answer(request, body, prepare_completion, answer_completion, completion_chunks)

    async def _answer(request: Request, body: dict[str, Any], prepare: Any, answer: Any, chunks: Any) -> Any:
        """Queue, prepare (load the model, check the context) and answer whole, or as a stream of chunks."""
        from starlette.concurrency import run_in_threadpool

        gone = threading.Event()
        deadline = time.monotonic() + state.limits.request_timeout_s

        def stop() -> bool:
            return gone.is_set() or state.stopping.is_set() or time.monotonic() > deadline

        stream, include_usage = stream_settings(body)
        release = state.admission.hold(body.get("model"))
        streaming = False  # once a stream is handed out, it gives the place back
        try:
            prepared = await run_in_threadpool(prepare, state, body)
            if stream:
                response = _streamed(prepared, answer, chunks, include_usage, gone, deadline, stop, release)
                streaming = True
                return response
            work = asyncio.ensure_future(run_in_threadpool(lambda: answer(prepared, stop)[0]))
            result = await _until_done(work, request, gone)
        finally:
            if not streaming:
                release()
        if time.monotonic() > deadline:
            raise ServeError(504, f"request: not answered within the server's {state.limits.request_timeout_s:g} s",
                             None, "timeout")
        return result

    def _streamed(prepared: Any, answer: Any, chunks: Any, include_usage: bool, gone: threading.Event,
                  deadline: float, stop: Any, release: Any) -> Any:
        import weakref

        from fastapi.responses import StreamingResponse

        from sublearn.serve.streaming import stream_events

        events = stream_events(lambda on_delta: answer(prepared, stop, on_delta)[1], chunks(prepared),
                               include_usage, gone, deadline, state.limits.request_timeout_s, release)
        weakref.finalize(events, release)  # a stream never started (its client left first) gives its place back
        weakref.finalize(events, gone.set)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

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
        state.models.forget(name)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    @app.post("/v1/files")
    async def upload(file: UploadFile = File(...), purpose: str = Form(...)) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(state.files.create, file.filename or "upload.jsonl", purpose, file.file)

    @app.get("/v1/files")
    def files(request: Request) -> dict[str, Any]:
        listed = state.files.list()
        return _page(request, listed, 10_000, default=len(listed))

    @app.get("/v1/files/{file_id}")
    def file(file_id: str) -> dict[str, Any]:
        return state.files.get(file_id)

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        return state.files.delete(file_id)

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        from fastapi.responses import FileResponse

        return FileResponse(state.files.path(file_id), media_type="application/octet-stream")

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        body = await _json_body(request)
        return await run_in_threadpool(state.create_job, body)  # its training file is read and parsed off the loop

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request) -> dict[str, Any]:
        metadata = {k[len("metadata["):-1]: v for k, v in request.query_params.items() if k.startswith("metadata[")}
        return _page(request, state.jobs.list(metadata or None), state.limits.max_list, default=20)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return state.jobs.get(job_id)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return state.jobs.cancel(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def job_events(job_id: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
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
        return state.batches.get(batch_id)

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
