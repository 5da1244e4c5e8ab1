"""Supervised fine-tuning jobs through the API: upload, create, poll, and resume by job id after a crash.

The training file's lines are the paper's ``{"messages": [user, assistant]}`` (§2). Progress is
kept in ``work/job.json`` (file id, then job id) before each wait, and the job carries a ``sublearn_key``
metadata tag, so a rerun finds its job instead of paying for a second one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sublearn.models.openai.client import ApiError
from sublearn.util.atomic import atomic_write_json, atomic_write_text
from sublearn.util.jsonl import read_json

TERMINAL = ("succeeded", "failed", "cancelled")


def training_lines(rows: Sequence[dict[str, str]], system: str | None = None) -> str:
    """The JSONL training file of (prompt, completion) rows."""
    lines = []
    for row in rows:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def hyperparameters(n_epochs: int | str, learning_rate_multiplier: float | str, batch_size: int | str
                    ) -> dict[str, Any]:
    """The job's hyperparameters ('auto' lets the server choose)."""
    return {"n_epochs": n_epochs, "learning_rate_multiplier": learning_rate_multiplier, "batch_size": batch_size}


def run_fine_tuning_job(client: Any, base_model: str, rows: Sequence[dict[str, str]], hyper: dict[str, Any],
                        work: Path, key: str, seed: int | None = None, suffix: str | None = None,
                        poll_s: float = 30.0, log: Callable[[str], None] = lambda _: None,
                        system: str | None = None, poll_timeout_s: float = 48 * 3600.0) -> dict[str, Any]:
    """Fine-tune ``base_model`` on ``rows``; returns the job's record with ``model_id`` (the fine-tuned model).

    ``key`` identifies this training run (the artifact key): it tags the job so that a crash between creating the
    job and saving its id cannot lead to a duplicate job.
    """
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "job.json"
    state: dict[str, Any] = read_json(state_file, "delete it to start the job again", missing_ok=True) or {}
    if not state.get("job_id"):
        existing = _find_job(client, key)
        if existing is not None:
            state["job_id"] = existing
            log(f"fine-tuning: resuming job {existing}")
    if not state.get("job_id"):
        if not state.get("file_id"):
            path = atomic_write_text(work / "train.jsonl", training_lines(rows, system))
            with path.open("rb") as handle:
                state["file_id"] = client.files.create(file=handle, purpose="fine-tune").id
            atomic_write_json(state_file, state)
        method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        optional = {k: v for k, v in (("seed", seed), ("suffix", suffix)) if v is not None}
        job = client.fine_tuning.jobs.create(model=base_model, training_file=state["file_id"], method=method,
                                             metadata={"sublearn_key": key}, **optional)
        state["job_id"] = job.id
        atomic_write_json(state_file, state)
        log(f"fine-tuning: job {job.id} created on {base_model} ({len(rows)} examples)")
    job = _wait(client, state["job_id"], poll_s, poll_timeout_s)
    if job.status != "succeeded" or not job.fine_tuned_model:
        state.pop("job_id", None)  # so that a rerun creates a new job (the uploaded file is reused)
        atomic_write_json(state_file, state)
        raise ApiError(f"fine-tuning job {job.id}: {job.status} ({getattr(job.error, 'message', None) or 'no model'})"
                       "; rerun to retry with a new job")
    return {"model_id": job.fine_tuned_model, "job_id": job.id, "base_model": base_model,
            "training_file": job.training_file, "trained_tokens": job.trained_tokens, "examples": len(rows),
            "hyperparameters": _plain(job.hyperparameters) if job.hyperparameters else hyper}


def _plain(obj: Any) -> Any:
    return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj


def _find_job(client: Any, key: str) -> str | None:
    """A live or succeeded job tagged with ``key`` (the newest), if the server lists one."""
    try:
        jobs = client.fine_tuning.jobs.list(limit=100, metadata={"sublearn_key": key})
    except Exception:  # a server without metadata filtering: fall back to scanning
        jobs = client.fine_tuning.jobs.list(limit=100)
    for job in jobs.data:
        if (job.metadata or {}).get("sublearn_key") == key and job.status not in ("failed", "cancelled"):
            return job.id
    return None


def _wait(client: Any, job_id: str, poll_s: float, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise ApiError(f"fine-tuning job {job_id}: still {job.status!r} after {timeout_s:g} s "
                           "(api.poll_timeout_s); rerun to keep waiting for it")
        time.sleep(poll_s)
