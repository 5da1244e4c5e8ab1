"""Chat completions through the official ``openai`` client: cached, concurrent, retried, or through the Batch API.

Retries with exponential backoff on 429, 5xx, timeouts and dropped connections are the ``openai`` client's own
(``max_retries``); this module adds the request cache, a concurrency limit, and the Batch API round trip.
The API key is read from the environment (``api.api_key_env``) and only ever handed to the client.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sublearn.config.api import ApiConfig
from sublearn.models.openai.cache import RequestCache, request_key
from sublearn.models.types import ChatChoice, ChatRequest, TokenLogprob
from sublearn.util.atomic import atomic_write_json, atomic_write_text
from sublearn.util.errors import ConfigError, SublearnError
from sublearn.util.jsonl import read_json

OPENAI_URL = "https://api.openai.com/v1"
#: Handed to the client when a local server needs no key (the client refuses an empty one).
NO_KEY = "sk-no-key-required"


class ApiError(SublearnError):
    """The API refused or failed a request after its retries, or a job or batch failed."""


def base_url(api: ApiConfig | None) -> str:
    """The server: ``api.base_url``, else ``$OPENAI_BASE_URL``, else OpenAI's."""
    given = api.base_url if api is not None else None
    return (given or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")


#: Hosts a key may always be sent to: OpenAI's and this machine's. Others need the user's approval in
#: ``$SUBLEARN_API_HOSTS`` (comma-separated host names).
TRUSTED_HOSTS = ("api.openai.com", "localhost", "127.0.0.1", "::1")
APPROVED_HOSTS_ENV = "SUBLEARN_API_HOSTS"


def approved_hosts() -> set[str]:
    """The hosts an API key may be sent to."""
    extra = {h.strip().lower() for h in os.environ.get(APPROVED_HOSTS_ENV, "").split(",") if h.strip()}
    return set(TRUSTED_HOSTS) | extra


def make_client(api: ApiConfig | None) -> Any:
    """An ``openai.OpenAI`` client for ``api`` (key from ``$api.api_key_env``; retries and timeout from the spec).
    A key is only ever sent to OpenAI, this machine, or a host in ``$SUBLEARN_API_HOSTS``."""
    import openai

    api = api or ApiConfig()
    url = base_url(api)
    host = (urlsplit(url).hostname or "").lower()
    if urlsplit(url).scheme not in ("http", "https") or not host:
        raise ConfigError(f"api.base_url: {url!r} is not an http(s) URL")
    key = os.environ.get(api.api_key_env, "")
    if key and host not in approved_hosts():
        raise ConfigError(f"api.base_url: {host} is not approved to receive ${api.api_key_env}; approve it with "
                          f"{APPROVED_HOSTS_ENV}={host} (comma-separated hosts), or unset the key for a server "
                          "that needs none")
    if not key:
        if url == OPENAI_URL:
            raise ConfigError(f"api.api_key_env: ${api.api_key_env} is not set (the OpenAI API key); for a local "
                              "server set api.base_url or $OPENAI_BASE_URL")
        key = NO_KEY
    return openai.OpenAI(api_key=key, base_url=url, max_retries=api.max_retries, timeout=api.timeout_s)


def request_body(model: str, request: ChatRequest) -> dict[str, Any]:
    """The chat-completions JSON body of ``request`` for ``model``."""
    body: dict[str, Any] = {"model": model, "messages": request.message_dicts(), "n": request.n,
                            "temperature": request.temperature, "top_p": request.top_p,
                            "max_tokens": request.max_tokens}
    if request.seed is not None:
        body["seed"] = request.seed
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    return body


def parse_choices(response: dict[str, Any]) -> list[ChatChoice]:
    """ChatChoices from a chat-completions response (as a dict)."""
    choices = []
    for c in sorted(response["choices"], key=lambda c: c.get("index", 0)):
        logprobs = None
        content = (c.get("logprobs") or {}).get("content")
        if content is not None:
            logprobs = tuple(TokenLogprob(t["token"], float(t["logprob"]),
                                          tuple((a["token"], float(a["logprob"])) for a in t.get("top_logprobs") or []))
                             for t in content)
        text = (c.get("message") or {}).get("content") or ""
        choices.append(ChatChoice(text=text, finish_reason=c.get("finish_reason") or "stop", logprobs=logprobs,
                                  completion_tokens=len(content) if content is not None else 0))
    return choices


class OpenAIChatModel:
    """One model behind an OpenAI-compatible API, answering :class:`ChatRequest` s with a cache.

    ``chat_many`` runs up to ``concurrency`` requests at once; ``chat_batch`` goes through the Batch API and
    can resume a submitted batch after a crash (its id is kept in ``work``).
    """

    def __init__(self, client: Any, model: str, cache: RequestCache | None = None, concurrency: int = 8,
                 poll_timeout_s: float = 48 * 3600.0) -> None:
        self.client = client
        self.model = model
        self.cache = cache
        self.concurrency = concurrency
        self.poll_timeout_s = poll_timeout_s
        self.endpoint = str(client.base_url).rstrip("/") + "/chat/completions"
        self._fingerprint: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What the server says of the model behind the name (its creation time and owner), so that a cached
        answer of one model is never served for another model given the same name later."""
        if self._fingerprint is None:
            try:
                found = self.client.models.retrieve(self.model)
                self._fingerprint = {"id": found.id, "created": found.created, "owned_by": found.owned_by}
            except Exception:  # a server without the models endpoint: the name is all there is
                self._fingerprint = {"id": self.model}
        return self._fingerprint

    def _key(self, body: dict[str, Any]) -> str:
        return request_key(self.endpoint, {**body, "model_fingerprint": self.fingerprint})

    def chat(self, request: ChatRequest) -> list[ChatChoice]:
        """The choices for one request (from the cache when it was answered before)."""
        body = request_body(self.model, request)
        key = self._key(body)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return parse_choices(cached)
        import openai

        try:
            response = self.client.chat.completions.create(**body).model_dump(mode="json")
        except openai.APIError as exc:
            raise ApiError(f"model {self.model!r}: chat completion failed after retries: {exc}") from exc
        if self.cache is not None:
            self.cache.put(key, body, response)
        return parse_choices(response)

    def chat_many(self, requests: Sequence[ChatRequest], on_done: Callable[[], None] | None = None
                  ) -> list[list[ChatChoice]]:
        """Choices for every request, in order, ``concurrency`` at a time."""
        def one(request: ChatRequest) -> list[ChatChoice]:
            choices = self.chat(request)
            if on_done:
                on_done()
            return choices

        if self.concurrency <= 1 or len(requests) <= 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, requests))

    def chat_batch(self, requests: Sequence[ChatRequest], work: Path, poll_s: float = 30.0,
                   log: Callable[[str], None] = lambda _: None) -> list[list[ChatChoice]]:
        """Choices for every request through the Batch API; what the cache has is not sent again.

        The batch id is saved in ``work/batch.json`` before waiting, so a rerun after a crash polls the same batch
        instead of paying for a second one. Requests the batch failed are sent one by one at the end.
        """
        if self.cache is None:
            raise ConfigError("api.batch: the Batch API needs the request cache")
        bodies = [request_body(self.model, r) for r in requests]
        todo = {self._key(b): b for b in bodies if self.cache.get(self._key(b)) is None}
        if todo:
            state_file = work / "batch.json"
            state = read_json(state_file, "delete it to start the batch again", missing_ok=True) or {}
            if not state.get("batch_id"):
                lines = [json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions", "body": b})
                         for k, b in todo.items()]
                input_path = atomic_write_text(work / "batch_input.jsonl", "\n".join(lines) + "\n")
                with input_path.open("rb") as handle:
                    upload = self.client.files.create(file=handle, purpose="batch")
                batch = self.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                   completion_window="24h")
                state = {"batch_id": batch.id, "input_file_id": upload.id, "n_requests": len(todo)}
                atomic_write_json(state_file, state)
                log(f"batch {batch.id}: {len(todo)} requests submitted")
            batch = self._wait_batch(state["batch_id"], poll_s)
            saved = 0
            if batch.output_file_id:  # a completed batch, or what an expired or cancelled one finished
                text = self.client.files.content(batch.output_file_id).text
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    response = row.get("response") or {}
                    if row.get("custom_id") in todo and response.get("status_code") == 200:
                        self.cache.put(row["custom_id"], todo[row["custom_id"]], response["body"])
                        saved += 1
            state_file.unlink(missing_ok=True)  # a rerun submits a new batch for what is still missing
            if batch.status != "completed":
                log(f"batch {batch.id}: {batch.status} ({batch.errors}); kept {saved} answers, sending the other "
                    f"{len(todo) - saved} one by one")
        return self.chat_many(requests)

    def _wait_batch(self, batch_id: str, poll_s: float) -> Any:
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            batch = self.client.batches.retrieve(batch_id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                return batch
            if time.monotonic() > deadline:
                raise ApiError(f"batch {batch_id}: still {batch.status!r} after {self.poll_timeout_s:g} s "
                               "(api.poll_timeout_s); rerun to keep waiting for it")
            time.sleep(poll_s)
