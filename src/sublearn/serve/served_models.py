"""The models ``sublearn serve`` answers for: its bases, LoRA adapters on them, and the fine-tunes its jobs made;
loaded lazily, at most ``max_loaded`` kept in memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sublearn.models.hf.chat import HFChatModel
from sublearn.serve.adapters import AdapterRegistry
from sublearn.serve.errors import ServeError
from sublearn.serve.records import Records
from sublearn.util.errors import SublearnError


class ServedModels:
    """Model ids, their model objects, and the loaded chat models."""

    def __init__(self, bases: dict[str, str], store: Path, jobs: Records, adapters: AdapterRegistry,
                 device: str = "cpu", max_loaded: int = 2) -> None:
        self.bases, self.store, self.jobs, self.adapters = bases, store, jobs, adapters
        self.device, self.max_loaded = device, max_loaded
        self._loaded: OrderedDict[str, HFChatModel] = OrderedDict()
        self._load_lock = threading.Lock()

    def fine_tuned(self) -> dict[str, dict[str, Any]]:
        """Fine-tuned model id -> its job, for every succeeded job."""
        return {job["fine_tuned_model"]: job for job in self.jobs.all()
                if job["status"] == "succeeded" and job.get("fine_tuned_model")}

    def ids(self) -> list[str]:
        """Every model this server answers for."""
        return list(self.bases) + self.adapters.names() + list(self.fine_tuned())

    def model_object(self, model_id: str) -> dict[str, Any]:
        """The model object; ``created`` tells two models of one name apart (a base's files' time, a fine-tune's
        finishing time), so clients can key their caches on it."""
        if model_id in self.bases:
            config = Path(self.source(model_id)) / "config.json"
            created = int(config.stat().st_mtime) if config.is_file() else 0
            return {"id": model_id, "object": "model", "created": created, "owned_by": "sublearn"}
        adapter = self.adapters.get(model_id)
        if adapter is not None:  # as vLLM lists them: the adapter's folder as root, its base as parent
            created = int((adapter.path / "adapter_config.json").stat().st_mtime)
            return {"id": model_id, "object": "model", "created": created, "owned_by": "sublearn",
                    "root": str(adapter.path), "parent": adapter.base}
        job = self.fine_tuned().get(model_id)
        if job is None:
            raise ServeError(404, f"The model '{model_id}' does not exist", "model", "model_not_found")
        return {"id": model_id, "object": "model", "created": job["finished_at"], "owned_by": "sublearn"}

    def forget(self, model_id: str) -> None:
        """Drop a model from memory (an adapter that was unloaded)."""
        with self._load_lock:
            self._loaded.pop(model_id, None)

    def source(self, model_id: str) -> str:
        """What a model id loads from: an adapter's folder, a base's path, or a fine-tune's folder (else a 404)."""
        adapter = self.adapters.get(model_id)
        if adapter is not None:
            return str(adapter.path)
        if model_id in self.bases:
            from sublearn.models.hf.loading import resolve_model_path

            return resolve_model_path(self.bases[model_id])
        job = self.fine_tuned().get(model_id)
        if job is not None:
            return str(self.store / "models" / job["id"])
        raise ServeError(404, f"The model '{model_id}' does not exist", "model", "model_not_found")

    def chat_model(self, model_id: str) -> HFChatModel:
        """The loaded model (at most ``max_loaded`` stay in memory)."""
        source = self.source(model_id)
        with self._load_lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                return self._loaded[model_id]
            import torch

            from sublearn.models.hf.loading import load_adapter, load_causal_lm, resolve_model_path

            adapter = self.adapters.get(model_id)
            try:
                if adapter is not None:
                    tok, model = load_adapter(source, resolve_model_path(self.bases[adapter.base]), self.device,
                                              torch.float32)
                else:
                    tok, model = load_causal_lm(source, device=self.device)
            except SublearnError:  # a model that is not there: its own message (the serve command names it)
                raise
            except Exception as exc:  # a damaged adapter or model folder: the request names it, the server goes on
                raise ServeError(422, f"model: {model_id!r} cannot be loaded ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})", "model", "model_not_loadable") from exc
            model.eval()
            self._loaded[model_id] = HFChatModel(tok, model)
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return self._loaded[model_id]
