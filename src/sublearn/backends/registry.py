"""Backends by name: ``hf`` (local transformers) and ``openai`` (any OpenAI-compatible API)."""

from __future__ import annotations

from typing import Any

from sublearn.backends.base import Backend, BackendOptions
from sublearn.config.api import JudgeConfig
from sublearn.models.types import ChatModel
from sublearn.util.errors import ConfigError

BACKEND_NAMES = ("hf", "openai")
#: Backends that end a completion when the carrier's stop rule fires (a server schedules its own requests).
STOP_RULE_BACKENDS = ("hf",)


def make_backend(name: str, options: BackendOptions) -> Backend:
    """The backend called ``name``, made with ``options``."""
    if name == "hf":
        from sublearn.backends.hf import HFBackend

        return HFBackend(options)
    if name == "openai":
        from sublearn.backends.openai import OpenAIBackend

        return OpenAIBackend(options)
    raise ConfigError(f"backend: {name!r} is not one of {', '.join(BACKEND_NAMES)}")


def backend_identity(name: str, options: BackendOptions) -> dict[str, Any]:
    """What distinguishes this backend's outputs in artifact keys, without making it (no key or model needed)."""
    if name == "openai":
        from sublearn.models.openai.client import base_url

        return {"backend": "openai", "server": base_url(options.api)}
    return {}


def backend_numerics(name: str, options: BackendOptions) -> dict[str, Any]:
    """What a backend computes in on this machine (its inference dtype, whether training autocasts), without making
    it; ``{}`` for API backends, whose server decides."""
    if name != "hf":
        return {}
    from sublearn.util.devices import numerics, resolve_device

    return numerics(resolve_device(options.device), options.inference_dtype, options.train_bf16, options.kv_cache)


def judge_identity(judge: JudgeConfig) -> dict[str, Any]:
    """How a judge is named in artifact keys: model, backend and server (never a key)."""
    return {"model": judge.model, "backend": judge.backend,
            **{k: v for k, v in backend_identity(judge.backend, BackendOptions(api=judge.api)).items()
               if k != "backend"}}


def judge_model(judge: JudgeConfig, options: BackendOptions) -> ChatModel:
    """The judge as a chat model, made by its own backend (with the run's cache and device)."""
    backend = make_backend(judge.backend, BackendOptions(device=options.device,
                                                         inference_dtype=options.inference_dtype, api=judge.api,
                                                         cache_dir=options.cache_dir, progress=options.progress,
                                                         log=options.log))
    return backend.chat_model(judge.model)
