"""Batches of ``sublearn serve``: a JSONL file of chat-completion requests answered line by line by the server's
worker, each line's answer or error in the output file; a batch cut off by a restart fails with the reason."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sublearn.serve.errors import ServeError
from sublearn.serve.jobs import now
from sublearn.serve.records import Records, new_id
from sublearn.serve.served_files import ServedFiles

TERMINAL = ("completed", "failed", "cancelled", "expired")


class Batches:
    """The batch objects under ``store/batches``."""

    def __init__(self, store: Path, files: ServedFiles, stopping: threading.Event,
                 chat: Callable[[], Callable[[dict[str, Any]], dict[str, Any]] | None]) -> None:
        self.records = Records(store / "batches", "batch", "batch")
        self.files, self.stopping, self._chat = files, stopping, chat

    def fail_interrupted(self) -> None:
        """Batches cut off by a restart fail: the answers made so far are not kept."""
        for batch in self.records.all():
            if batch.get("status") not in TERMINAL:
                batch.update(status="failed", failed_at=now(), errors={"object": "list", "data": [{
                    "code": "server_restarted", "message": "the server restarted while the batch ran; create it "
                    "again", "param": None, "line": None}]})
                self.records.save(batch)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """A batch of chat completions (only ``/v1/chat/completions`` is served); the caller queues it."""
        if body.get("endpoint") != "/v1/chat/completions":
            raise ServeError(400, f"endpoint: only /v1/chat/completions is served, not {body.get('endpoint')!r}",
                             "endpoint")
        try:
            self.files.get(body.get("input_file_id"))
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
        return self.records.save(batch)

    def get(self, batch_id: Any) -> dict[str, Any]:
        """A batch object, or a 404."""
        return self.records.load(batch_id)

    def _lines(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """The input file's requests; a line that is not one becomes an error naming it."""
        lines = []
        text = self.files.content(batch["input_file_id"]).decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict) or not isinstance(row.get("body"), dict):
                        raise ValueError("needs a 'body' object")
                    lines.append(row)
                except ValueError as exc:
                    lines.append({"custom_id": None, "error": f"line {number}: {exc}"})
        return lines

    def run(self, batch_id: str) -> None:
        """Answer every line of a batch and write the output file (the worker calls this)."""
        batch = self.get(batch_id)
        lines = self._lines(batch)
        batch.update(status="in_progress", request_counts={"total": len(lines), "completed": 0, "failed": 0})
        self.records.save(batch)
        out = []
        for row in lines:
            if self.stopping.is_set():
                break
            try:
                if "error" in row:
                    raise ServeError(400, row["error"])
                handler = self._chat()
                assert handler is not None
                body = handler(row["body"])
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
        record = self.files.create(f"{batch_id}_output.jsonl", "batch_output", data)
        status = "cancelled" if self.stopping.is_set() else "completed"
        batch.update(status=status, output_file_id=record["id"], completed_at=now())
        self.records.save(batch)
