"""The backend protocol: what the pipeline needs from a model provider, and nothing about experiments.

A model is named by a :data:`ModelSource`: a reference name (hub id, local folder, sublearn model name or API
model id), or a finished fine-tune (anything with a ``ref``, a ``path`` and a ``manifest``, such as a pipeline
artifact), whose files or manifest the backend knows how to read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sublearn.config.api import ApiConfig
from sublearn.config.training import TrainConfig
from sublearn.models.types import ChatModel, LogprobModel, SamplingSettings, StopRule
from sublearn.util.progress import ProgressFn, no_progress


class TrainedModel(Protocol):
    """A finished fine-tune: its reference, folder and manifest."""

    @property
    def ref(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def manifest(self) -> dict[str, Any]: ...


ModelSource = str | TrainedModel
OnBatch = Callable[[int, list[str]], None]


def source_id(source: ModelSource) -> str:
    """How a model is named in hashes and manifests: its artifact ref, or the reference name."""
    return source if isinstance(source, str) else source.ref


def _no_log(_: str) -> None:
    return None


@dataclass(frozen=True)
class BackendOptions:
    """What a backend is made with: the device and dtype (local models), the server (API models), where API
    answers are cached, and how to report progress."""

    device: str = "auto"
    inference_dtype: str = "auto"
    kv_cache: str = "auto"
    train_bf16: str = "auto"
    api: ApiConfig | None = None
    cache_dir: Path | None = None
    run_dir: Path | None = None  # the run folder (run-wide files such as a local MLflow store)
    tags: dict[str, Any] = field(default_factory=dict)  # what trackers label a trained model's run with
    progress: ProgressFn = no_progress
    log: Callable[[str], None] = field(default=_no_log)


class Backend(Protocol):
    """Generation, fine-tuning, soft targets, and the models behind the chat and logprob protocols."""

    name: str

    def identity(self) -> dict[str, Any]:
        """What makes this backend's outputs differ from another's (goes into artifact keys); ``{}`` for hf."""
        ...

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path,
                 stop_rule: StopRule | None = None) -> None:
        """Complete ``prompts[start:]`` batch by batch, calling ``on_batch(first_index, texts)`` after each; a
        completion may end as soon as it breaks ``stop_rule`` (where the backend can stop it)."""
        ...

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], config: TrainConfig, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None,
              order_seed: int | None = None) -> dict[str, Any]:
        """Fine-tune ``base`` on ``rows`` (on soft digit targets when given), initialised from ``seed`` and shuffled
        with ``order_seed``; the result goes into ``out`` (a model folder, or a model id in the returned fields)."""
        ...

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      config: TrainConfig) -> list[Any]:
        """The model's next-digit distributions at every completion digit (soft targets), computed in the numerics
        that training on them with ``config`` uses."""
        ...

    def divergent_digits(self, teacher: ModelSource, system: str | None, reference: ModelSource,
                         rows: Sequence[dict[str, Any]], fraction: float, seed: int, mask: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``rows`` with the ``fraction`` of digit tokens where ``teacher`` diverges most from ``reference``
        replaced by random digits (``mask``: listed in each row's ``masked_tokens``, to leave the loss), and what
        changed (a defence; local models only)."""
        ...

    def perturbed_copy(self, source: ModelSource, scale: float, seed: int, out: Path) -> dict[str, Any]:
        """A copy of ``source`` with Gaussian noise of ``scale`` × each weight tensor's std added, into ``out``."""
        ...

    def lineage(self, first: ModelSource, second: ModelSource) -> dict[str, Any]:
        """The family check of two models from their weights (``score``, ``verdict``, ``reason``,
        ``relative_distance``, ``compared``); local models only."""
        ...

    def numerics(self) -> dict[str, Any]:
        """What this backend computes in, for artifact keys (``{}`` where it is not ours to choose)."""
        ...

    def chat_model(self, source: ModelSource) -> ChatModel:
        """The model answering chat requests."""
        ...

    def logprob_model(self, source: ModelSource) -> LogprobModel | None:
        """The model's exact answer probabilities, or ``None`` where the backend cannot give them."""
        ...
