"""What ``sublearn serve`` holds: models (loaded lazily), uploaded files, fine-tuning jobs and batches.

Everything lives under one store folder, written atomically, so a restarted server still knows its files, jobs and
fine-tuned models. Jobs and batches run one at a time on a background worker thread; a job trains in a child
process (see :mod:`sublearn.serve.jobs`).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sublearn.models.hf.chat import HFChatModel
from sublearn.serve.adapters import AdapterRegistry
from sublearn.serve.admission import Admission
from sublearn.serve.errors import ServeError
from sublearn.serve.jobs import (
    abandoned_marker,
    job_training,
    now,
    parse_training_file,
    run_training,
    validate_job,
)
from sublearn.serve.limits import Limits
from sublearn.serve.records import Records, new_id
from sublearn.util.atomic import atomic_write_bytes
from sublearn.util.errors import SublearnError

TERMINAL = ("succeeded", "failed", "cancelled")
BATCH_TERMINAL = ("completed", "failed", "cancelled", "expired")
CHUNK = 1 << 20


@dataclass
class ServeState:
    """The server's models, files, jobs and batches under ``store``."""

    bases: dict[str, str]  # served id -> what to load (sublearn name, folder or hub id)
    store: Path
    device: str = "cpu"
    ft_method: str = "lora"
    max_loaded: int = 2
    limits: Limits = field(default_factory=Limits)
    adapters: AdapterRegistry | None = None  # LoRA adapters on the bases (vLLM's --lora-modules)
    chat_handler: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # set by the app (for batches)
    stopping: threading.Event = field(default_factory=threading.Event)  # the server shuts down: stop all work
    _loaded: OrderedDict[str, HFChatModel] = field(default_factory=OrderedDict)
    _load_lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.adapters is None:
            self.adapters = AdapterRegistry(list(self.bases))
        self.admission = Admission(self.limits.max_queued_per_model)  # chat requests per model (then 429)
        self.files = Records(self.store / "files", "file", "File object")
        self.jobs = Records(self.store / "jobs", "ftjob", "fine-tuning job")
        self.batches = Records(self.store / "batches", "batch", "batch")
        (self.store / "models").mkdir(parents=True, exist_ok=True)
        for job in self.jobs.all():  # jobs cut off by a restart fail; finished ones stay
            if job["status"] not in TERMINAL:
                abandoned_marker(self.store / "models" / job["id"]).touch()  # a straggling child publishes nothing
                job.update(status="failed", finished_at=now(), error={
                    "code": "server_restarted", "message": "the server restarted while the job ran; create it "
                    "again", "param": None})
                self.jobs.save(job)
        for batch in self.batches.all():  # likewise batches: the answers made so far are not kept
            if batch.get("status") not in BATCH_TERMINAL:
                batch.update(status="failed", failed_at=now(), errors={"object": "list", "data": [{
                    "code": "server_restarted", "message": "the server restarted while the batch ran; create it "
                    "again", "param": None, "line": None}]})
                self.batches.save(batch)

    # --- models ---------------------------------------------------------------------------------------------
    def fine_tuned(self) -> dict[str, dict[str, Any]]:
        """Fine-tuned model id -> its job, for every succeeded job."""
        return {job["fine_tuned_model"]: job for job in self.jobs.all()
                if job["status"] == "succeeded" and job.get("fine_tuned_model")}

    def model_ids(self) -> list[str]:
        """Every model this server answers for."""
        assert self.adapters is not None
        return list(self.bases) + self.adapters.names() + list(self.fine_tuned())

    def model_object(self, model_id: str) -> dict[str, Any]:
        """The model object; ``created`` tells two models of one name apart (a base's files' time, a fine-tune's
        finishing time), so clients can key their caches on it."""
        if model_id in self.bases:
            config = Path(self._source(model_id)) / "config.json"
            created = int(config.stat().st_mtime) if config.is_file() else 0
            return {"id": model_id, "object": "model", "created": created, "owned_by": "sublearn"}
        assert self.adapters is not None
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

    def _source(self, model_id: str) -> str:
        assert self.adapters is not None
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
        source = self._source(model_id)
        with self._load_lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                return self._loaded[model_id]
            import torch

            from sublearn.models.hf.loading import load_adapter, load_causal_lm, resolve_model_path

            assert self.adapters is not None
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

    # --- files ----------------------------------------------------------------------------------------------
    def create_file(self, filename: str, purpose: str, source: BinaryIO | bytes) -> dict[str, Any]:
        """Store an upload, streamed to disk (over the cap: a 413, and nothing kept); returns its file object."""
        file_id = new_id("file")
        target = self.files.path(file_id, ".bin")
        if isinstance(source, bytes):
            atomic_write_bytes(target, source)
            size = len(source)
        else:
            size = self._stream_to(target, source)
        record = {"id": file_id, "object": "file", "bytes": size, "created_at": now(), "filename": filename[:255],
                  "purpose": purpose, "status": "processed", "status_details": None}
        return self.files.save(record)

    def _stream_to(self, target: Path, source: BinaryIO) -> int:
        tmp = target.with_name(f".{target.name}.part")
        size = 0
        try:
            with tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > self.limits.max_upload_bytes:
                        raise ServeError(413, f"file: larger than this server's cap of "
                                         f"{self.limits.max_upload_bytes:,} bytes", "file", "request_too_large")
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def get_file(self, file_id: Any) -> dict[str, Any]:
        """A file object, or a 404."""
        return self.files.load(file_id)

    def file_path(self, file_id: Any) -> Path:
        """Where a file's bytes are."""
        self.get_file(file_id)
        return self.files.path(file_id, ".bin")

    def file_content(self, file_id: Any) -> bytes:
        """A file's bytes."""
        return self.file_path(file_id).read_bytes()

    def delete_file(self, file_id: Any) -> dict[str, Any]:
        """Delete a file (its bytes, then its record)."""
        self.get_file(file_id)
        self.files.path(file_id, ".bin").unlink(missing_ok=True)
        self.files.path(file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self) -> list[dict[str, Any]]:
        """Every file object, oldest first."""
        return sorted(self.files.all(), key=lambda f: (f["created_at"], f["id"]))  # a total order: pages stay put

    def training_rows(self, file_id: Any) -> tuple[list[dict[str, str]], str | None]:
        """A training file's rows, parsed (a bad line is a 400 naming it)."""
        try:
            return parse_training_file(self.file_content(file_id), f"training_file {file_id}")
        except ServeError as exc:
            if exc.status == 404:
                raise ServeError(400, f"training_file: {exc.message}", "training_file", exc.code) from exc
            raise

    # --- jobs -----------------------------------------------------------------------------------------------
    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a supervised fine-tuning job now, queue it for the worker."""
        fields = validate_job(body, self.bases, self.training_rows)
        hyper = fields["hyperparameters"]
        job = {"id": new_id("ftjob"), "object": "fine_tuning.job", "model": fields["model"], "created_at": now(),
               "finished_at": None, "fine_tuned_model": None, "organization_id": "sublearn", "result_files": [],
               "status": "queued", "validation_file": None, "training_file": fields["training_file"],
               "hyperparameters": hyper, "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
               "trained_tokens": None, "error": None, "seed": fields["seed"], "suffix": fields["suffix"],
               "metadata": fields["metadata"]}
        self.jobs.save(job)
        self._submit("job", job["id"])
        return job

    def get_job(self, job_id: Any) -> dict[str, Any]:
        """A job object, or a 404."""
        return self.jobs.load(job_id)

    def list_jobs(self, metadata: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally only those whose metadata contains ``metadata``."""
        jobs = self.jobs.all()
        if metadata:
            jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in metadata.items())]
        return sorted(jobs, key=lambda j: (j["created_at"], j["id"]), reverse=True)

    def cancel_job(self, job_id: Any) -> dict[str, Any]:
        """Cancel a job that has not finished; a running one is stopped at once."""
        with self._lock:
            job = self.get_job(job_id)
            if job["status"] not in TERMINAL:
                job.update(status="cancelled", finished_at=now())
                self.jobs.save(job)
        return job

    def _cancelled(self, job_id: str) -> bool:
        return self.stopping.is_set() or self.get_job(job_id)["status"] == "cancelled"

    def _run_job(self, job_id: str) -> None:
        with self._lock:
            job = self.get_job(job_id)
            if job["status"] != "queued":
                return
            job["status"] = "running"
            self.jobs.save(job)
        out = self.store / "models" / job_id
        outcome = run_training(self._source(job["model"]), self.device,
                               job_training(job["hyperparameters"], self.ft_method),
                               self.file_path(job["training_file"]), int(job["seed"]), out,
                               lambda: self._cancelled(job_id))
        with self._lock:
            job = self.get_job(job_id)
            if outcome.get("cancelled") or job["status"] == "cancelled":
                shutil.rmtree(out, ignore_errors=True)
                if job["status"] != "cancelled":  # the server stopped under it
                    job.update(status="failed", finished_at=now(), error={
                        "code": "server_stopped", "message": "the server stopped while the job ran", "param": None})
                    self.jobs.save(job)
                return
            if not outcome["ok"]:
                job.update(status="failed", finished_at=now(), error={"code": "training_failed",
                                                                       "message": outcome["error"], "param": None})
                self.jobs.save(job)
                return
            suffix = job.get("suffix") or ""
            job.update(status="succeeded", finished_at=now(), trained_tokens=outcome["trained_tokens"],
                       fine_tuned_model=f"ft:{job['model']}:sublearn:{suffix}:{job_id.split('-')[-1][:8]}")
            self.jobs.save(job)

    # --- batches --------------------------------------------------------------------------------------------
    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a batch of chat completions (only ``/v1/chat/completions`` is served)."""
        if body.get("endpoint") != "/v1/chat/completions":
            raise ServeError(400, f"endpoint: only /v1/chat/completions is served, not {body.get('endpoint')!r}",
                             "endpoint")
        try:
            self.get_file(body.get("input_file_id"))
        except ServeError as exc:
            raise ServeError(400, f"input_file_id: {exc.message}", "input_file_id", exc.code) from exc
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ServeError(400, "metadata: must be an object", "metadata")
        batch = {"id": new_id("batch"), "object": "batch", "endpoint": body["endpoint"], "errors": None,
                 "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": now(), "completed_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": metadata}
        self.batches.save(batch)
        self._submit("batch", batch["id"])
        return batch

    def get_batch(self, batch_id: Any) -> dict[str, Any]:
        """A batch object, or a 404."""
        return self.batches.load(batch_id)

    def _run_batch(self, batch_id: str) -> None:
        batch = self.get_batch(batch_id)
        lines = []
        for number, line in enumerate(self.file_content(batch["input_file_id"]).decode("utf-8", "replace")
                                      .splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict) or not isinstance(row.get("body"), dict):
                        raise ValueError("needs a 'body' object")
                    lines.append(row)
                except ValueError as exc:
                    lines.append({"custom_id": None, "error": f"line {number}: {exc}"})
        batch.update(status="in_progress", request_counts={"total": len(lines), "completed": 0, "failed": 0})
        self.batches.save(batch)
        out = []
        for row in lines:
            if self.stopping.is_set():
                break
            try:
                if "error" in row:
                    raise ServeError(400, row["error"])
                assert self.chat_handler is not None
                body = self.chat_handler(row["body"])
                out.append({"id": new_id("batch_req"), "custom_id": row.get("custom_id"), "error": None,
                            "response": {"status_code": 200, "request_id": new_id("req"), "body": body}})
                batch["request_counts"]["completed"] += 1
            except Exception as exc:  # this line fails; the answers already made and the lines after it stay
                error = ({"code": exc.code, "message": exc.message} if isinstance(exc, ServeError)
                         else {"code": "server_error", "message": f"{type(exc).__name__}: {exc}"[:500]})
                out.append({"id": new_id("batch_req"), "custom_id": row.get("custom_id"), "response": None,
                            "error": error})
                batch["request_counts"]["failed"] += 1
        data = "".join(json.dumps(r) + "\n" for r in out).encode()
        record = self.create_file(f"{batch_id}_output.jsonl", "batch_output", data)
        status = "cancelled" if self.stopping.is_set() else "completed"
        batch.update(status=status, output_file_id=record["id"], completed_at=now())
        self.batches.save(batch)

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
                records = self.jobs if kind == "job" else self.batches
                record = records.load(record_id)
                record.update(status="failed", finished_at=now())
                if kind == "job":
                    record["error"] = {"code": "training_failed", "message": f"{type(exc).__name__}: {exc}",
                                       "param": None}
                else:
                    record["errors"] = {"data": [{"message": f"{type(exc).__name__}: {exc}"}]}
                records.save(record)
                traceback.print_exc()
            finally:
                self._queue.task_done()
