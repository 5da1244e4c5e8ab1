"""What ``sublearn serve`` holds: models (loaded lazily), uploaded files, fine-tuning jobs and batches.

Everything lives under one store folder, written atomically, so a restarted server still knows its files, jobs
and fine-tuned models. Jobs and batches run one at a time on a background worker thread.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sublearn.config.training import TEACHER_TRAINING, TrainConfig
from sublearn.models.hf.chat import HFChatModel
from sublearn.util.atomic import atomic_write_bytes, atomic_write_json

#: What ``auto`` means for a job on this server: the teacher recipe's LoRA, with these epochs and batch size.
AUTO_EPOCHS = 3
AUTO_BATCH = 8


class ServeError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``param`` the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@dataclass
class ServeState:
    """The server's models, files, jobs and batches under ``store``."""

    bases: dict[str, str]  # served id -> what to load (sublearn name, folder or hub id)
    store: Path
    device: str = "cpu"
    ft_method: str = "lora"
    max_loaded: int = 2
    chat_handler: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # set by the app (for batches)
    _loaded: OrderedDict[str, HFChatModel] = field(default_factory=OrderedDict)
    _load_lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for sub in ("files", "jobs", "batches", "models"):
            (self.store / sub).mkdir(parents=True, exist_ok=True)
        for path in (self.store / "jobs").glob("*.json"):  # jobs cut off by a restart fail; finished ones stay
            job = json.loads(path.read_text())
            if job["status"] not in ("succeeded", "failed", "cancelled"):
                job.update(status="failed", error={"code": "server_restarted", "message": "the server restarted "
                                                   "while the job ran; create it again", "param": None})
                atomic_write_json(path, job)

    # --- models ---------------------------------------------------------------------------------------------
    def fine_tuned(self) -> dict[str, Path]:
        """Fine-tuned model id -> its folder, for every succeeded job."""
        out = {}
        for path in sorted((self.store / "jobs").glob("*.json")):
            job = json.loads(path.read_text())
            if job["status"] == "succeeded" and job.get("fine_tuned_model"):
                out[job["fine_tuned_model"]] = self.store / "models" / job["id"]
        return out

    def model_ids(self) -> list[str]:
        """Every model this server answers for."""
        return list(self.bases) + list(self.fine_tuned())

    def _source(self, model_id: str) -> str:
        if model_id in self.bases:
            return self.bases[model_id]
        tuned = self.fine_tuned()
        if model_id in tuned:
            return str(tuned[model_id])
        raise ServeError(404, f"The model '{model_id}' does not exist", "model", "model_not_found")

    def chat_model(self, model_id: str) -> HFChatModel:
        """The loaded model (at most ``max_loaded`` stay in memory)."""
        source = self._source(model_id)
        with self._load_lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                return self._loaded[model_id]
            from sublearn.models.hf.loading import load_causal_lm

            tok, model = load_causal_lm(source, device=self.device)
            model.eval()
            self._loaded[model_id] = HFChatModel(tok, model)
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return self._loaded[model_id]

    # --- files ----------------------------------------------------------------------------------------------
    def create_file(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        """Store an upload; returns its file object."""
        file_id = _new_id("file")
        atomic_write_bytes(self.store / "files" / f"{file_id}.bin", data)
        record = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                  "filename": filename, "purpose": purpose, "status": "processed", "status_details": None}
        atomic_write_json(self.store / "files" / f"{file_id}.json", record)
        return record

    def get_file(self, file_id: str) -> dict[str, Any]:
        """A file object, or a 404."""
        path = self.store / "files" / f"{file_id}.json"
        if not path.is_file():
            raise ServeError(404, f"No such File object: {file_id}", "id", "file_not_found")
        return json.loads(path.read_text())

    def file_content(self, file_id: str) -> bytes:
        """A file's bytes."""
        self.get_file(file_id)
        return (self.store / "files" / f"{file_id}.bin").read_bytes()

    def list_files(self) -> list[dict[str, Any]]:
        """Every file object, oldest first."""
        return sorted((json.loads(p.read_text()) for p in (self.store / "files").glob("*.json")),
                      key=lambda f: f["created_at"])

    # --- jobs -----------------------------------------------------------------------------------------------
    def _save(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        atomic_write_json(self.store / kind / f"{record['id']}.json", record)
        return record

    def _load(self, kind: str, record_id: str, what: str) -> dict[str, Any]:
        path = self.store / kind / f"{record_id}.json"
        if not path.is_file():
            raise ServeError(404, f"No such {what}: {record_id}", "id")
        return json.loads(path.read_text())

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a supervised fine-tuning job (validated now, run on the worker)."""
        model = body.get("model")
        if model not in self.bases:
            raise ServeError(400, f"model: '{model}' cannot be fine-tuned here (base models: {list(self.bases)})",
                             "model", "model_not_available")
        self.get_file(str(body.get("training_file")))
        method = body.get("method") or {"type": "supervised", "supervised": {
            "hyperparameters": body.get("hyperparameters") or {}}}
        if method.get("type", "supervised") != "supervised":
            raise ServeError(400, f"method.type: only 'supervised' is served, not {method.get('type')!r}",
                             "method.type")
        hyper = {"n_epochs": "auto", "learning_rate_multiplier": "auto", "batch_size": "auto",
                 **((method.get("supervised") or {}).get("hyperparameters") or {})}
        job = {"id": _new_id("ftjob"), "object": "fine_tuning.job", "model": model, "created_at": int(time.time()),
               "finished_at": None, "fine_tuned_model": None, "organization_id": "sublearn", "result_files": [],
               "status": "queued", "validation_file": None, "training_file": body["training_file"],
               "hyperparameters": hyper, "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
               "trained_tokens": None, "error": None, "seed": body.get("seed") or 0, "suffix": body.get("suffix"),
               "metadata": body.get("metadata")}
        self._save("jobs", job)
        self._submit("job", job["id"])
        return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        """A job object, or a 404."""
        return self._load("jobs", job_id, "fine-tuning job")

    def list_jobs(self, metadata: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally only those whose metadata contains ``metadata``."""
        jobs = [json.loads(p.read_text()) for p in (self.store / "jobs").glob("*.json")]
        if metadata:
            jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in metadata.items())]
        return sorted(jobs, key=lambda j: j["created_at"], reverse=True)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a job that has not finished (a running one stops at the end of its training)."""
        with self._lock:
            job = self.get_job(job_id)
            if job["status"] in ("queued", "validating_files", "running"):
                job.update(status="cancelled", finished_at=int(time.time()))
                self._save("jobs", job)
        return job

    def _run_job(self, job_id: str) -> None:
        import torch

        from sublearn.models.hf.loading import load_causal_lm
        from sublearn.models.hf.training import fine_tune, save_model

        job = self.get_job(job_id)
        if job["status"] == "cancelled":
            return
        job["status"] = "running"
        self._save("jobs", job)
        rows, system = _training_rows(self.file_content(job["training_file"]))
        hp = job["hyperparameters"]
        settings = job_training(hp, self.ft_method)
        seed = int(job["seed"] or 0)
        tok, model = load_causal_lm(self.bases[job["model"]], device=self.device)
        torch.manual_seed(seed)
        model, log = fine_tune(model, tok, rows, settings, seed, system=system)
        save_model(model, tok, self.store / "models" / job_id)
        with self._lock:
            job = self.get_job(job_id)
            if job["status"] == "cancelled":
                return
            suffix = job.get("suffix") or ""
            job.update(status="succeeded", finished_at=int(time.time()), trained_tokens=log.get("tokens"),
                       fine_tuned_model=f"ft:{job['model']}:sublearn:{suffix}:{job_id.split('-')[-1][:8]}")
            self._save("jobs", job)

    # --- batches --------------------------------------------------------------------------------------------
    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a batch of chat completions (only ``/v1/chat/completions`` is served)."""
        if body.get("endpoint") != "/v1/chat/completions":
            raise ServeError(400, f"endpoint: only /v1/chat/completions is served, not {body.get('endpoint')!r}",
                             "endpoint")
        self.get_file(str(body.get("input_file_id")))
        batch = {"id": _new_id("batch"), "object": "batch", "endpoint": body["endpoint"], "errors": None,
                 "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": int(time.time()), "completed_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata")}
        self._save("batches", batch)
        self._submit("batch", batch["id"])
        return batch

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        """A batch object, or a 404."""
        return self._load("batches", batch_id, "batch")

    def _run_batch(self, batch_id: str) -> None:
        batch = self.get_batch(batch_id)
        lines = [json.loads(line) for line in self.file_content(batch["input_file_id"]).decode().splitlines()
                 if line.strip()]
        batch.update(status="in_progress", request_counts={"total": len(lines), "completed": 0, "failed": 0})
        self._save("batches", batch)
        out = []
        for row in lines:
            try:
                assert self.chat_handler is not None
                body = self.chat_handler(row["body"])
                out.append({"id": _new_id("batch_req"), "custom_id": row["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": _new_id("req"), "body": body}})
                batch["request_counts"]["completed"] += 1
            except ServeError as exc:
                out.append({"id": _new_id("batch_req"), "custom_id": row.get("custom_id"), "response": None,
                            "error": {"code": exc.code, "message": exc.message}})
                batch["request_counts"]["failed"] += 1
        data = "".join(json.dumps(r) + "\n" for r in out).encode()
        record = self.create_file(f"{batch_id}_output.jsonl", "batch_output", data)
        batch.update(status="completed", output_file_id=record["id"], completed_at=int(time.time()))
        self._save("batches", batch)

    # --- the worker -----------------------------------------------------------------------------------------
    def _submit(self, kind: str, record_id: str) -> None:
        self._queue.put((kind, record_id))
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sublearn-serve-worker", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            kind, record_id = self._queue.get()
            try:
                self._run_job(record_id) if kind == "job" else self._run_batch(record_id)
            except Exception as exc:  # the job or batch fails with the reason; the server goes on
                store = "jobs" if kind == "job" else "batches"
                record = self._load(store, record_id, kind)
                record.update(status="failed", finished_at=int(time.time()))
                if kind == "job":
                    record["error"] = {"code": "training_failed", "message": f"{type(exc).__name__}: {exc}",
                                       "param": None}
                else:
                    record["errors"] = {"data": [{"message": f"{type(exc).__name__}: {exc}"}]}
                self._save(store, record)
                traceback.print_exc()
            finally:
                self._queue.task_done()


def job_training(hyperparameters: dict[str, Any], method: str) -> TrainConfig:
    """The training config of a job: the teacher recipe with the job's epochs, learning-rate multiplier (of the
    recipe's lr) and batch size ('auto': this server's defaults), no warmup."""
    hp = hyperparameters
    multiplier = 1.0 if hp["learning_rate_multiplier"] == "auto" else float(hp["learning_rate_multiplier"])
    return TEACHER_TRAINING.model_copy(update={
        "method": method, "epochs": float(AUTO_EPOCHS if hp["n_epochs"] == "auto" else hp["n_epochs"]),
        "lr": TEACHER_TRAINING.lr * multiplier, "warmup_steps": 0, "grad_accum": 1,
        "batch_size": AUTO_BATCH if hp["batch_size"] == "auto" else int(hp["batch_size"])})


def _training_rows(data: bytes) -> tuple[list[dict[str, str]], str | None]:
    """(prompt, completion) rows and the shared system prompt of a chat-format training file."""
    from sublearn.util.chatdata import chat_rows

    return chat_rows(data.decode("utf-8").splitlines(), "training file")
