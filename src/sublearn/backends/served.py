"""Local models answered by an OpenAI-compatible inference server: the pipeline fine-tunes with ``hf`` and sends
teacher generation and sampled evaluations to vLLM, SGLang, the llama.cpp server or ``sublearn serve``.

The reference goes by its name on the server; a LoRA fine-tune of the run is loaded into the server as an adapter
named after its artifact (:func:`adapter_name`), the name a user would give vLLM's ``--lora-modules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublearn.backends.base import BackendOptions, ModelSource, OnBatch
from sublearn.backends.openai import OpenAIBackend
from sublearn.config.api import InferenceServer
from sublearn.models.openai.adapters import load_lora_adapter
from sublearn.models.openai.client import OpenAIChatModel, base_url
from sublearn.models.types import SamplingSettings, StopRule
from sublearn.util.errors import ConfigError


def adapter_name(source: Any) -> str:
    """The served name of a fine-tune's adapter: ``sublearn-<stage>-<key prefix>`` (stable, unique per artifact)."""
    return f"sublearn-{source.stage}-{source.key[:16]}"


def server_identity(server: InferenceServer) -> dict[str, Any]:
    """How outputs made through ``server`` are named in artifact keys (the server, never a key)."""
    return {"inference_server": base_url(server.api)}


class ServedModels:
    """Generation and chat through the inference server, for models the run names or trained locally."""

    name = "served"

    def __init__(self, server: InferenceServer, options: BackendOptions) -> None:
        self.server = server
        self.api = OpenAIBackend(BackendOptions(api=server.api, cache_dir=options.cache_dir,
                                                progress=options.progress, log=options.log))
        self.log = options.log
        self._loaded: set[str] = set()

    def served_name(self, source: ModelSource) -> str:
        """The server's name for ``source``; a LoRA fine-tune is loaded into the server first (once)."""
        if isinstance(source, str):
            return self.server.served_names.get(source, source)
        folder = source.path / "model"
        if not (folder / "adapter_config.json").is_file():
            raise ConfigError(f"inference_server: {source.ref} is a whole model, not a LoRA adapter; a server "
                              "loads only adapters at run time (leave this stage local: inference_server.stages)")
        name = adapter_name(source)
        if name not in self._loaded:
            self.log(f"inference server: loading adapter {name} from {folder}")
            load_lora_adapter(self.api.client, name, folder)
            self._loaded.add(name)
        return name

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path,
                 stop_rule: StopRule | None = None) -> None:
        """The ``openai`` backend's generation, on the served model."""
        self.api.generate(self.served_name(source), prompts, sampling, system, seed, batch_size, on_batch, start,
                          work)

    def chat_model(self, source: ModelSource) -> OpenAIChatModel:
        """A cached, concurrent chat client for the served model."""
        return self.api.chat_model(self.served_name(source))
