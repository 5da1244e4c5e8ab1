"""The ``openai`` backend: generation, fine-tuning jobs and chat through an OpenAI-compatible API (OpenAI itself,
vLLM's server, or ``sublearn serve``). Every request goes through the run's request cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublearn.backends.base import BackendOptions, ModelSource, OnBatch
from sublearn.config.api import ApiConfig
from sublearn.config.training import ApiHyperparameters, TrainConfig
from sublearn.models.openai.cache import RequestCache
from sublearn.models.openai.client import OpenAIChatModel, base_url, make_client
from sublearn.models.openai.finetune import hyperparameters, run_fine_tuning_job, training_lines
from sublearn.models.types import ChatRequest, SamplingSettings, StopRule
from sublearn.util.atomic import atomic_write_text
from sublearn.util.errors import ConfigError


class OpenAIBackend:
    """Models behind an OpenAI-compatible API; a fine-tune's artifact records the model id the job produced."""

    name = "openai"

    def __init__(self, options: BackendOptions) -> None:
        self.api = options.api or ApiConfig()
        self.client = make_client(self.api)
        self.cache = RequestCache(options.cache_dir) if options.cache_dir is not None else None
        self.progress = options.progress
        self.log = options.log

    def identity(self) -> dict[str, Any]:
        """The backend and the server it talks to (a model id means different things on different servers)."""
        return {"backend": "openai", "server": base_url(self.api)}

    def model_id(self, source: ModelSource) -> str:
        """The API model id of a reference name or of a fine-tune's artifact."""
        if isinstance(source, str):
            return source
        if "model_id" not in source.manifest:
            raise ConfigError(f"artifact {source.ref}: holds no API model id (made by another backend?)")
        return str(source.manifest["model_id"])

    def chat_model(self, source: ModelSource) -> OpenAIChatModel:
        """A cached, concurrent chat client for one model."""
        return OpenAIChatModel(self.client, self.model_id(source), self.cache, self.api.concurrency,
                               self.api.poll_timeout_s)

    def logprob_model(self, source: ModelSource) -> None:
        """None: an API exposes at most 20 top logprobs per position and no prefilled assistant turn."""
        return None

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path,
                 stop_rule: StopRule | None = None) -> None:
        """One request per prompt (seeded ``seed + index``; greedy = temperature 0), ``api.concurrency`` at once,
        or all through the Batch API when ``api.batch`` (``stop_rule`` unused: the server schedules its own
        requests, continuously batched in vLLM and SGLang)."""
        model = self.chat_model(source)
        temperature = 0.0 if sampling.greedy else sampling.temperature
        requests = [ChatRequest.user(p, system, temperature=temperature, top_p=sampling.top_p,
                                     max_tokens=sampling.max_new_tokens, seed=seed + i) for i, p in enumerate(prompts)]
        if self.api.batch and start < len(requests):
            model.chat_batch(requests[start:], work, self.api.poll_s, self.log)  # fills the cache
        for first in range(start, len(requests), batch_size):
            answers = model.chat_many(requests[first:first + batch_size])
            on_batch(first, [a[0].text.strip() if a else "" for a in answers])

    def numerics(self) -> dict[str, Any]:
        """Nothing: the server decides how it computes."""
        return {}

    def divergent_digits(self, teacher: ModelSource, system: str | None, reference: ModelSource,
                         rows: Sequence[dict[str, Any]], fraction: float, seed: int, mask: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Not available: an API gives no whole next-token distribution."""
        raise ConfigError("defence.kind divergence_mask/divergence_replace: needs both models' next-token "
                          "distributions; use backend hf")

    def perturbed_copy(self, source: ModelSource, scale: float, seed: int, out: Path) -> dict[str, Any]:
        """Not available: an API model's weights cannot be changed."""
        raise ConfigError("controls.cross_model perturbed: needs the model's weights; use backend hf")

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], config: TrainConfig, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None,
              order_seed: int | None = None) -> dict[str, Any]:
        """A supervised fine-tuning job (resumed by id after a crash); the manifest records the model id, and the
        uploaded training file is kept as ``out/training_file.jsonl``."""
        if soft_targets is not None:
            raise ConfigError("train.objective soft_numbers: not available through an API")
        atomic_write_text(out / "training_file.jsonl", training_lines(rows, system))
        hp = config.api or ApiHyperparameters()
        self.progress("train job", 1)
        record = run_fine_tuning_job(self.client, self.model_id(base), rows,
                                     hyperparameters(hp.n_epochs, hp.learning_rate_multiplier, hp.batch_size),
                                     work, key=work.name, seed=seed, poll_s=self.api.poll_s, log=self.log,
                                     system=system, poll_timeout_s=self.api.poll_timeout_s)
        self.progress("train job", None)
        return record

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      config: TrainConfig) -> list[Any]:
        """Not available: an API exposes at most 20 top logprobs per position, not the digit distribution."""
        raise ConfigError("train.objective soft_numbers: not available through an API")
