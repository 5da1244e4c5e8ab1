"""What ``sublearn serve`` holds, by resource: its models (:mod:`~sublearn.serve.served_models`), uploaded files
(:mod:`~sublearn.serve.served_files`), fine-tuning jobs (:mod:`~sublearn.serve.fine_tuning`) and batches
(:mod:`~sublearn.serve.batches`), and the one worker thread that runs jobs and batches in turn.

Everything lives under one store folder, written atomically, so a restarted server still knows its files, jobs and
fine-tuned models.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sublearn.serve.adapters import AdapterRegistry
from sublearn.serve.admission import Admission
from sublearn.serve.batches import Batches
from sublearn.serve.fine_tuning import FineTuningJobs
from sublearn.serve.jobs import now
from sublearn.serve.limits import Limits
from sublearn.serve.records import Records
from sublearn.serve.served_files import ServedFiles
from sublearn.serve.served_models import ServedModels


@dataclass
class ServeState:
    """The server's resources under ``store``: ``models``, ``files``, ``jobs`` and ``batches``."""

    bases: dict[str, str]  # served id -> what to load (sublearn name, folder or hub id)
    store: Path
    device: str = "cpu"
    ft_method: str = "lora"
    max_loaded: int = 2
    limits: Limits = field(default_factory=Limits)
    adapters: AdapterRegistry | None = None  # LoRA adapters on the bases (vLLM's --lora-modules)
    chat_handler: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # set by the app (for batches)
    stopping: threading.Event = field(default_factory=threading.Event)  # the server shuts down: stop all work
    _queue: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.adapters is None:
            self.adapters = AdapterRegistry(list(self.bases))
        self.admission = Admission(self.limits.max_queued_per_model)  # chat requests per model (then 429)
        job_records = Records(self.store / "jobs", "ftjob", "fine-tuning job")
        self.models = ServedModels(self.bases, self.store, job_records, self.adapters, self.device, self.max_loaded)
        self.files = ServedFiles(self.store, self.limits)
        self.jobs = FineTuningJobs(self.store, job_records, self.models, self.files, self.device, self.ft_method,
                                   self.stopping)
        self.batches = Batches(self.store, self.files, self.stopping, lambda: self.chat_handler)
        self.jobs.fail_interrupted()
        self.batches.fail_interrupted()

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a fine-tuning job and queue it for the worker."""
        job = self.jobs.create(body)
        self._submit("job", job["id"])
        return job

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a batch and queue it for the worker."""
        batch = self.batches.create(body)
        self._submit("batch", batch["id"])
        return batch

    def _submit(self, kind: str, record_id: str) -> None:
        self._queue.put((kind, record_id))
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sublearn-serve-worker", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            kind, record_id = self._queue.get()
            try:
                self.jobs.run(record_id) if kind == "job" else self.batches.run(record_id)
            except Exception as exc:  # the job or batch fails with the reason; the server goes on
                records = self.jobs.records if kind == "job" else self.batches.records
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
