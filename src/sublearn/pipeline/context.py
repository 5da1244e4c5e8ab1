"""What every stage of a cell works with: the spec, the artifact store, the backend (made on first use), the
judges, and progress reporting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sublearn.backends.base import Backend, BackendOptions
from sublearn.backends.registry import (
    backend_identity,
    backend_numerics,
    judge_identity,
    judge_model,
    make_backend,
)
from sublearn.backends.served import ServedModels, server_identity
from sublearn.config.api import JudgeConfig
from sublearn.config.experiment import ExperimentSpec
from sublearn.config.training import TrainConfig
from sublearn.design.seeds import stream_seed
from sublearn.models.types import ChatModel
from sublearn.pipeline.store import ArtifactStore
from sublearn.util.progress import ProgressFn, no_progress

Log = Callable[[str], None]


def _no_log(_: str) -> None:
    return None


@dataclass
class CellContext:
    """One cell's spec and store, and the backend and judges its stages use (made when first needed, so that a
    dry run needs neither a model nor an API key)."""

    spec: ExperimentSpec
    store: ArtifactStore
    progress: ProgressFn = no_progress
    log: Log = _no_log
    backend_override: Backend | None = None
    _backend: Backend | None = field(default=None, init=False, repr=False)
    _served: ServedModels | None = field(default=None, init=False, repr=False)
    _judges: dict[str, ChatModel] = field(default_factory=dict, init=False, repr=False)
    _numerics: dict[str, Any] | None = field(default=None, init=False, repr=False)

    @property
    def options(self) -> BackendOptions:
        """How this cell's backends are made."""
        s = self.spec
        return BackendOptions(device=s.device, inference_dtype=s.inference_dtype, kv_cache=s.kv_cache,
                              train_bf16=s.train.bf16, api=s.api,
                              cache_dir=self.store.root / "api_cache", run_dir=self.store.root,
                              tags={"spec": s.name, "cell": s.cell_id(), "seed": s.seed},
                              progress=self.progress, log=self.log)

    @property
    def backend(self) -> Backend:
        """The spec's backend (made once)."""
        if self._backend is None:
            self._backend = self.backend_override or make_backend(self.spec.backend, self.options)
        return self._backend

    @property
    def identity(self) -> dict[str, Any]:
        """What distinguishes this backend's outputs in artifact keys."""
        if self.backend_override is not None:
            return self.backend_override.identity()
        return backend_identity(self.spec.backend, self.options)

    def served(self, stage: str) -> bool:
        """Whether ``stage``'s model calls go to the spec's inference server."""
        server = self.spec.inference_server
        return server is not None and stage in server.stages

    def inference(self, stage: str) -> Backend | ServedModels:
        """What generates and chats for ``stage``: the inference server when it takes the stage, else the backend."""
        if not self.served(stage):
            return self.backend
        if self._served is None:
            assert self.spec.inference_server is not None
            self._served = ServedModels(self.spec.inference_server, self.options)
        return self._served

    def stage_identity(self, stage: str) -> dict[str, Any]:
        """What distinguishes ``stage``'s outputs in artifact keys: the backend's, and the inference server when it
        takes the stage."""
        if not self.served(stage):
            return self.identity
        assert self.spec.inference_server is not None
        return {**self.identity, **server_identity(self.spec.inference_server)}

    @property
    def numerics(self) -> dict[str, Any]:
        """The dtypes this machine computes in (bf16 only where it is fast); part of the keys of what they change."""
        if self._numerics is None:
            self._numerics = (self.backend_override.numerics() if self.backend_override is not None
                              else backend_numerics(self.spec.backend, self.options))
        return self._numerics

    def inference_dtype(self) -> str | None:
        """The resolved dtype of generation and evaluation (``None`` for API backends)."""
        return self.numerics.get("inference_dtype")

    def kv_cache(self) -> str | None:
        """The resolved KV cache of local teacher generation (``None`` for API backends)."""
        return self.numerics.get("kv_cache")

    def autocast(self, config: TrainConfig) -> str | None:
        """The resolved autocast of training with ``config`` (``None``: fp32, or an API backend)."""
        if not self.numerics:
            return None
        from sublearn.util.devices import use_bf16

        return "bfloat16" if use_bf16(config.bf16, self.numerics["device"]) else None

    def base_weights(self, config: TrainConfig) -> str | None:
        """``bfloat16`` when a fine-tune with ``config`` holds its base in bf16 here, else ``None`` (fp32, or an
        API backend); part of the keys of what it changes."""
        if not self.numerics:
            return None
        from sublearn.util.devices import base_weight_dtype

        dtype = base_weight_dtype(config.base_dtype, self.numerics["device"], config.method)
        return dtype if dtype != "float32" else None

    def seed(self, role: str, salt: int = 0) -> int:
        """This replicate's seed for ``role`` (:mod:`sublearn.design.seeds`)."""
        return stream_seed(self.spec.seed, role, salt)

    def judge_config(self, filters: bool = False) -> JudgeConfig:
        """The judge of the filters (``filter_judge`` when given) or of the evaluations."""
        judge = (self.spec.filter_judge or self.spec.judge) if filters else self.spec.judge
        if judge is None:
            raise ValueError("judge: the spec names none")
        return judge

    def judge_identity(self, filters: bool = False) -> dict[str, Any]:
        """How the judge is named in artifact keys."""
        return judge_identity(self.judge_config(filters))

    def judge(self, filters: bool = False) -> ChatModel:
        """The judge as a chat model (a local model, or an API model with the run's cache)."""
        config = self.judge_config(filters)
        key = config.model_dump_json()
        if key not in self._judges:
            self._judges[key] = judge_model(config, self.options)
        return self._judges[key]
