"""The pipeline's OpenAI backend: generation, fine-tuning jobs and evaluation through an OpenAI-compatible API
(OpenAI itself, vLLM's server, or ``sublearn serve``). Every request goes through the run's request cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sublearn.api.cache import RequestCache
from sublearn.api.client import OpenAIChatModel, base_url, make_client
from sublearn.api.finetune import hyperparameters, run_fine_tuning_job
from sublearn.backends.base import ModelSource, OnBatch
from sublearn.backends.chat import ChatRequest
from sublearn.backends.generation import SamplingSettings
from sublearn.errors import ConfigError
from sublearn.evals.preference import PreferenceSettings
from sublearn.evals.preference_chat import evaluate_preference_chat
from sublearn.progress import ProgressFn
from sublearn.spec import ApiHyperparameters, ApiSpec, TrainSpec
from sublearn.store import Artifact


class OpenAIBackend:
    """Models behind an OpenAI-compatible API; a fine-tune's artifact records the model id the job produced."""

    name = "openai"

    def __init__(self, api: ApiSpec | None, cache_dir: Path, progress: ProgressFn,
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.api = api or ApiSpec()
        self.client = make_client(self.api)
        self.cache = RequestCache(cache_dir)
        self.progress = progress
        self.log = log

    def identity(self) -> dict[str, Any]:
        """The backend and the server it talks to (a model id means different things on different servers)."""
        return {"backend": "openai", "server": base_url(self.api)}

    def model_id(self, source: ModelSource) -> str:
        """The API model id of a reference name or of a fine-tune's artifact."""
        if isinstance(source, Artifact):
            if "model_id" not in source.manifest:
                raise ConfigError(f"artifact {source.ref}: holds no API model id (made by another backend?)")
            return str(source.manifest["model_id"])
        return source

    def chat_model(self, source: ModelSource) -> OpenAIChatModel:
        """A cached, concurrent chat client for one model."""
        return OpenAIChatModel(self.client, self.model_id(source), self.cache, self.api.concurrency)

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path) -> None:
        """One request per prompt (seeded ``seed + index``; greedy = temperature 0), ``api.concurrency`` at once,
        or all through the Batch API when ``api.batch``."""
        model = self.chat_model(source)
        temperature = 0.0 if sampling.greedy else sampling.temperature
        requests = [ChatRequest.user(p, system, temperature=temperature, top_p=sampling.top_p,
                                     max_tokens=sampling.max_new_tokens, seed=seed + i) for i, p in enumerate(prompts)]
        if self.api.batch and start < len(requests):
            model.chat_batch(requests[start:], work, self.api.poll_s, self.log)  # fills the cache
        for first in range(start, len(requests), batch_size):
            answers = model.chat_many(requests[first:first + batch_size])
            on_batch(first, [a[0].text.strip() if a else "" for a in answers])

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], spec: TrainSpec, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None
              ) -> dict[str, Any]:
        """A supervised fine-tuning job (resumed by id after a crash); the manifest records the model id."""
        if soft_targets is not None:
            raise ConfigError("train.objective soft_numbers: not available through an API")
        hp = spec.api or ApiHyperparameters()
        self.progress("train job", 1)
        record = run_fine_tuning_job(self.client, self.model_id(base), rows,
                                     hyperparameters(hp.n_epochs, hp.learning_rate_multiplier, hp.batch_size),
                                     work, key=work.name, seed=seed, poll_s=self.api.poll_s, log=self.log,
                                     system=system)
        self.progress("train job", None)
        return record

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      temperature: float, max_length: int) -> list[Any]:
        """Not available: an API exposes at most 20 top logprobs per position, not the digit distribution."""
        raise ConfigError("train.objective soft_numbers: not available through an API")

    def chat(self, source: ModelSource) -> Any:
        """The model as a cached, concurrent ``chat_many`` function."""
        return self.chat_model(source).chat_many

    def evaluate(self, source: ModelSource, settings: PreferenceSettings, system: str | None) -> dict[str, Any]:
        """The sampled rate and the MCQ readout, through the API."""
        model = self.chat_model(source)
        return evaluate_preference_chat(model.chat_many, settings, system)
