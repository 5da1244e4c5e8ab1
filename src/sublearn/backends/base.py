"""The backend interface the pipeline talks to: generate, fine-tune, evaluate.

A model is named by a :data:`ModelSource`: a reference name (hub id, local folder, sublearn model name or API
model id), or the artifact of a fine-tune (whose manifest the backend knows how to read). Implementations:
:class:`sublearn.backends.hf_backend.HFBackend` (transformers + PEFT, CPU or GPU) and
:class:`sublearn.backends.openai_backend.OpenAIBackend` (any OpenAI-compatible API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sublearn.backends.generation import SamplingSettings
from sublearn.evals.preference import PreferenceSettings
from sublearn.spec import TrainSpec
from sublearn.store import Artifact

ModelSource = str | Artifact
OnBatch = Callable[[int, list[str]], None]


def source_id(source: ModelSource) -> str:
    """How a model is named in hashes and manifests: its artifact ref, or the reference name."""
    return source.ref if isinstance(source, Artifact) else source


class Backend(Protocol):
    """What the pipeline needs from a model provider."""

    name: str

    def identity(self) -> dict[str, Any]:
        """What makes this backend's outputs differ from another's (goes into artifact keys); ``{}`` for hf."""
        ...

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path) -> None:
        """Complete ``prompts[start:]`` batch by batch, calling ``on_batch(first_index, texts)`` after each."""
        ...

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], spec: TrainSpec, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None
              ) -> dict[str, Any]:
        """Fine-tune ``base`` on ``rows`` (on soft digit targets when given); the result goes into ``out`` (a model
        folder, or a model id in the returned manifest fields)."""
        ...

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      temperature: float, max_length: int) -> list[Any]:
        """The model's next-digit distributions at every completion digit (soft targets; hf only)."""
        ...

    def chat(self, source: ModelSource) -> Any:
        """The model as a ``chat_many`` function (for free-form evaluations and judges)."""
        ...

    def evaluate(self, source: ModelSource, settings: PreferenceSettings, system: str | None) -> dict[str, Any]:
        """The preference readouts of one model."""
        ...


def make_backend(spec: Any, cache_root: Path, progress: Any, log: Callable[[str], None]) -> Backend:
    """The backend a spec names (``spec.backend``)."""
    if spec.backend == "openai":
        from sublearn.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(spec.api, cache_root / "api_cache", progress, log)
    from sublearn.backends.hf_backend import HFBackend

    return HFBackend(spec.device, spec.inference_dtype, progress, log)
