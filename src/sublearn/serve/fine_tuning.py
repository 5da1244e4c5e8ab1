"""Fine-tuning jobs of ``sublearn serve``: validated when created, run one at a time by the server's worker, each
trained in a child process (:mod:`sublearn.serve.jobs`); a job cut off by a restart fails with the reason."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from sublearn.serve.jobs import abandoned_marker, job_training, now, run_training, validate_job
from sublearn.serve.records import Records, new_id
from sublearn.serve.served_files import ServedFiles
from sublearn.serve.served_models import ServedModels

TERMINAL = ("succeeded", "failed", "cancelled")


class FineTuningJobs:
    """The job objects under ``store/jobs`` and the fine-tunes they publish under ``store/models``."""

    def __init__(self, store: Path, records: Records, models: ServedModels, files: ServedFiles, device: str,
                 ft_method: str, stopping: threading.Event) -> None:
        self.store, self.records, self.models, self.files = store, records, models, files
        self.device, self.ft_method, self.stopping = device, ft_method, stopping
        self._lock = threading.Lock()
        (store / "models").mkdir(parents=True, exist_ok=True)

    def fail_interrupted(self) -> None:
        """Jobs cut off by a restart fail (a straggling child publishes nothing); finished ones stay."""
        for job in self.records.all():
            if job["status"] not in TERMINAL:
                abandoned_marker(self.store / "models" / job["id"]).touch()
                job.update(status="failed", finished_at=now(), error={
                    "code": "server_restarted", "message": "the server restarted while the job ran; create it "
                    "again", "param": None})
                self.records.save(job)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a supervised fine-tuning job now; the caller queues it for the worker."""
        fields = validate_job(body, self.models.bases, self.files.training_rows)
        hyper = fields["hyperparameters"]
        job = {"id": new_id("ftjob"), "object": "fine_tuning.job", "model": fields["model"], "created_at": now(),
               "finished_at": None, "fine_tuned_model": None, "organization_id": "sublearn", "result_files": [],
               "status": "queued", "validation_file": None, "training_file": fields["training_file"],
               "hyperparameters": hyper, "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
               "trained_tokens": None, "error": None, "seed": fields["seed"], "suffix": fields["suffix"],
               "metadata": fields["metadata"]}
        return self.records.save(job)

    def get(self, job_id: Any) -> dict[str, Any]:
        """A job object, or a 404."""
        return self.records.load(job_id)

    def list(self, metadata: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally only those whose metadata contains ``metadata``."""
        jobs = self.records.all()
        if metadata:
            jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in metadata.items())]
        return sorted(jobs, key=lambda j: (j["created_at"], j["id"]), reverse=True)

    def cancel(self, job_id: Any) -> dict[str, Any]:
        """Cancel a job that has not finished; a running one is stopped at once."""
        with self._lock:
            job = self.get(job_id)
            if job["status"] not in TERMINAL:
                job.update(status="cancelled", finished_at=now())
                self.records.save(job)
        return job

    def _cancelled(self, job_id: str) -> bool:
        return self.stopping.is_set() or self.get(job_id)["status"] == "cancelled"

    def run(self, job_id: str) -> None:
        """Train a queued job and publish its model (the worker calls this)."""
        with self._lock:
            job = self.get(job_id)
            if job["status"] != "queued":
                return
            job["status"] = "running"
            self.records.save(job)
        out = self.store / "models" / job_id
        outcome = run_training(self.models.source(job["model"]), self.device,
                               job_training(job["hyperparameters"], self.ft_method),
                               self.files.path(job["training_file"]), int(job["seed"]), out,
                               lambda: self._cancelled(job_id))
        with self._lock:
            job = self.get(job_id)
            if outcome.get("cancelled") or job["status"] == "cancelled":
                shutil.rmtree(out, ignore_errors=True)
                if job["status"] != "cancelled":  # the server stopped under it
                    job.update(status="failed", finished_at=now(), error={
                        "code": "server_stopped", "message": "the server stopped while the job ran", "param": None})
                    self.records.save(job)
                return
            if not outcome["ok"]:
                job.update(status="failed", finished_at=now(), error={"code": "training_failed",
                                                                       "message": outcome["error"], "param": None})
                self.records.save(job)
                return
            suffix = job.get("suffix") or ""
            job.update(status="succeeded", finished_at=now(), trained_tokens=outcome["trained_tokens"],
                       fine_tuned_model=f"ft:{job['model']}:sublearn:{suffix}:{job_id.split('-')[-1][:8]}")
            self.records.save(job)
