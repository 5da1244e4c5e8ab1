"""``sublearn serve``: an OpenAI-compatible API over local models."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import console, user_errors

#: Addresses that only this machine reaches.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class FineTuneMethod(StrEnum):
    """How fine-tuning jobs train."""

    lora = "lora"
    full = "full"


#: The shortest API key accepted for a server other machines can reach.
MIN_REMOTE_KEY_LENGTH = 24


def weak_key_reason(key: str) -> str | None:
    """Why ``key`` is too weak to guard a server other machines reach (``None``: it is not): too short, or too
    few distinct characters to be random."""
    if len(key) < MIN_REMOTE_KEY_LENGTH:
        return f"{len(key)} characters, fewer than {MIN_REMOTE_KEY_LENGTH}"
    if len(set(key)) < 10:
        return f"only {len(set(key))} distinct characters"
    return None


@user_errors
def serve(
    models: Annotated[list[str], typer.Argument(help="Models to serve: sublearn names (smollm2-135m), local folders "
                                                "or hub ids. Each is served under the name given.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind; the default accepts local connections only.")
                    ] = "127.0.0.1",
    api_key: Annotated[str | None, typer.Option(help="Require 'Authorization: Bearer KEY' on every request. Prefer "
                                                "--api-key-env to keep it out of shell history.",
                                                show_default="no key")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Read the required key from this environment variable.",
                                                    show_default="no key")] = None,
    store: Annotated[Path | None, typer.Option(help="Folder for uploaded files, jobs and fine-tuned models.",
                                               show_default="$SUBLEARN_HOME/serve")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    ft_method: Annotated[FineTuneMethod, typer.Option(help="How fine-tuning jobs train: lora (merged afterwards) or "
                                                     "full.")] = FineTuneMethod.lora,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="The largest file an upload may be.")] = 512,
    request_timeout: Annotated[float, typer.Option(min=1, help="Seconds a chat request may take.")] = 600.0,
    lora_modules: Annotated[list[str] | None, typer.Option(
        "--lora-modules", help="Serve a LoRA adapter on the first model (as vLLM does): NAME=PATH, or vLLM's JSON "
        "'{\"name\": ..., \"path\": ..., \"base_model_name\": ...}'. Repeatable.", show_default="none")] = None,
    runtime_lora: Annotated[bool, typer.Option(
        "--runtime-lora", show_default="off",
        help="Let clients load and unload adapters by path (POST /v1/load_lora_adapter, /v1/unload_lora_adapter, "
             "as vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); sublearn run's inference_server needs it.")
                     ] = False,
    allow_remote_without_key: Annotated[bool, typer.Option(
        "--allow-remote-without-key", show_default="off",
        help="Serve other hosts than this one without an API key (anyone who reaches the port can use the "
             "models and start jobs).")] = False,
) -> None:
    """Serve local models through an OpenAI-compatible API.

    Endpoints: /v1/chat/completions (n, temperature, top_p, seed, logprobs, top_logprobs), /v1/models,
    /v1/files, /v1/fine_tuning/jobs (runs sublearn's trainer in the background, then serves the result under a
    new model id), /v1/batches, and vLLM's /v1/load_lora_adapter (with --runtime-lora). Point the `openai`
    backend, a spec's inference_server, or any OpenAI client at http://HOST:PORT/v1.
    """
    import os

    from sublearn.serve.adapters import AdapterRegistry, parse_lora_module
    from sublearn.serve.errors import ServeError
    from sublearn.serve.limits import Limits
    from sublearn.serve.runner import serve_until_stopped
    from sublearn.serve.state import ServeState
    from sublearn.util.devices import resolve_device
    from sublearn.util.errors import ConfigError
    from sublearn.util.home import serve_dir

    key = api_key
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(f"--api-key-env: ${api_key_env} is not set")
    if not key and host not in LOCAL_HOSTS and not allow_remote_without_key:
        raise ConfigError(f"--host {host}: other machines could reach the server, and it has no API key; give "
                          "--api-key-env VAR, or --allow-remote-without-key if that is what you want")
    weak = weak_key_reason(key) if key else None
    if weak and host not in LOCAL_HOSTS:
        raise ConfigError(f"--host {host}: other machines could reach the server, and its API key is weak ({weak}); "
                          "use a random key of at least 24 characters, e.g. python -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))'")
    limits = Limits(max_upload_bytes=max_upload_mb * 2**20, request_timeout_s=request_timeout)
    adapters = AdapterRegistry(list(models), runtime=runtime_lora)
    for text in lora_modules or []:
        try:
            adapters.add(*parse_lora_module(text))
        except (ValueError, ServeError) as exc:
            raise ConfigError(f"--lora-modules: {getattr(exc, 'message', exc)}") from exc
    state = ServeState(bases={m: m for m in models}, store=store or serve_dir(),
                       device=str(resolve_device(device)), ft_method=ft_method.value, limits=limits,
                       adapters=adapters)
    for model in models:  # load now, so a bad name fails at start rather than on the first request
        state.models.chat_model(model)
    console.print(f"serving {', '.join(models)} at http://{host}:{port}/v1" + (" (API key required)" if key else ""),
                  highlight=False)
    serve_until_stopped(state, key, host, port)
