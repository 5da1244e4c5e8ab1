"""Fine-tuning jobs: every field validated when the job is created, and training in a child process, so that a
cancel stops it at once and its random numbers never mix with the server's."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from sublearn.config.training import TEACHER_TRAINING, TrainConfig
from sublearn.serve.errors import ServeError
from sublearn.util.chatdata import chat_rows
from sublearn.util.errors import DataError

#: What ``auto`` means for a job on this server: the teacher recipe's LoRA, with these epochs and batch size.
AUTO_EPOCHS = 3
AUTO_BATCH = 8
#: The ranges a job's hyperparameters must fall in.
RANGES = {"n_epochs": (1, 100), "batch_size": (1, 1024), "learning_rate_multiplier": (1e-6, 1000.0)}
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{0,64}$")


def _bad(message: str, param: str) -> ServeError:
    return ServeError(400, message, param, "invalid_request_error")


def validate_hyperparameters(raw: Any, where: str) -> dict[str, Any]:
    """``n_epochs``, ``learning_rate_multiplier`` and ``batch_size``, each ``auto`` or a number in its range."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _bad(f"{where}: must be an object", where)
    unknown = set(raw) - set(RANGES)
    if unknown:
        raise _bad(f"{where}.{sorted(unknown)[0]}: not a hyperparameter this server knows", where)
    out: dict[str, Any] = {}
    for name, (low, high) in RANGES.items():
        value = raw.get(name, "auto")
        integer = name != "learning_rate_multiplier"
        ok = value == "auto" or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and (not integer or float(value).is_integer()) and low <= value <= high)
        if not ok:
            kind = "an integer" if integer else "a number"
            raise _bad(f"{where}.{name}: must be 'auto' or {kind} in [{low}, {high}], got {value!r}",
                       f"{where}.{name}")
        out[name] = int(value) if integer and value != "auto" else value
    return out


def validate_job(body: dict[str, Any], bases: dict[str, str], training_rows: Any) -> dict[str, Any]:
    """The job's fields, checked now (a bad one is a 400 naming it), ``training_rows(file_id)`` reading the file."""
    model = body.get("model")
    if not isinstance(model, str) or model not in bases:
        raise ServeError(400, f"model: {model!r} cannot be fine-tuned here (base models: {list(bases)})", "model",
                         "model_not_available")
    method = body.get("method")
    if method is None:
        method = {"type": "supervised", "supervised": {"hyperparameters": body.get("hyperparameters")}}
    if not isinstance(method, dict):
        raise _bad(f"method: must be an object like {{'type': 'supervised', ...}}, got {method!r}", "method")
    if method.get("type", "supervised") != "supervised":
        raise _bad(f"method.type: only 'supervised' is served, not {method.get('type')!r}", "method.type")
    supervised = method.get("supervised") or {}
    if not isinstance(supervised, dict):
        raise _bad("method.supervised: must be an object", "method.supervised")
    hyper = validate_hyperparameters(supervised.get("hyperparameters"), "method.supervised.hyperparameters")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31):
        raise _bad(f"seed: must be an integer in [0, 2^31), got {seed!r}", "seed")
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not _SUFFIX.match(suffix)):
        raise _bad("suffix: at most 64 letters, digits, '_' or '-'", "suffix")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16 or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in metadata.items())):
        raise _bad("metadata: at most 16 string keys and values", "metadata")
    n_rows = len(training_rows(body.get("training_file"))[0])
    return {"model": model, "training_file": body["training_file"], "hyperparameters": hyper,
            "seed": seed or 0, "suffix": suffix, "metadata": metadata, "n_examples": n_rows}


def parse_training_file(data: bytes, where: str) -> tuple[list[dict[str, str]], str | None]:
    """(prompt, completion) rows and the shared system prompt of a chat training file; a bad one is a 400 that
    names the line."""
    try:
        return chat_rows(data.decode("utf-8").splitlines(), where)
    except UnicodeDecodeError as exc:
        raise _bad(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})", "training_file") from exc
    except DataError as exc:
        raise _bad(str(exc), "training_file") from exc


def job_training(hyperparameters: dict[str, Any], method: str) -> TrainConfig:
    """The training config of a job: the teacher recipe with the job's epochs, learning-rate multiplier (of the
    recipe's lr) and batch size ('auto': this server's defaults), no warmup."""
    hp = hyperparameters
    multiplier = 1.0 if hp["learning_rate_multiplier"] == "auto" else float(hp["learning_rate_multiplier"])
    return TEACHER_TRAINING.model_copy(update={
        "method": method, "epochs": float(AUTO_EPOCHS if hp["n_epochs"] == "auto" else hp["n_epochs"]),
        "lr": TEACHER_TRAINING.lr * multiplier, "warmup_steps": 0, "grad_accum": 1,
        "batch_size": AUTO_BATCH if hp["batch_size"] == "auto" else int(hp["batch_size"])})


def abandoned_marker(out: Path) -> Path:
    """The file that tells a training child its job was stopped or failed: it must not publish a model."""
    return out.parent / f".{out.name}.abandoned"


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (the server, or the forkserver that dies with it), so
    that no training outlives the server that would record it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _train_in_child(base: str, device: str, training: dict[str, Any], data_file: str, seed: int, out: str,
                    result: str) -> None:
    """The child process: fine-tune ``base`` on the training file and save the model, unless the job was abandoned
    meanwhile (then nothing is published); the outcome goes to ``result`` (JSON)."""
    _die_with_parent()
    try:
        import torch

        from sublearn.models.hf.loading import load_causal_lm
        from sublearn.models.hf.training import fine_tune, save_model
        from sublearn.util.atomic import replace_folder

        rows, system = parse_training_file(Path(data_file).read_bytes(), "training file")
        tok, model = load_causal_lm(base, device=device)
        torch.manual_seed(seed)
        model, log = fine_tune(model, tok, rows, TrainConfig(**training), seed, system=system)
        staging = Path(out).with_name(f".{Path(out).name}.saving")
        save_model(model, tok, staging)
        if abandoned_marker(Path(out)).exists():  # stopped or failed while it trained: publish nothing
            shutil.rmtree(staging, ignore_errors=True)
            outcome = {"ok": False, "cancelled": True}
        else:
            replace_folder(staging, Path(out))  # the served folder appears complete, or not at all
            outcome = {"ok": True, "trained_tokens": int(sum(s["tokens"] for s in log["step_log"]))}
    except BaseException as exc:  # the parent reads the reason; the child exits either way
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-4000:]}
    Path(result).write_text(json.dumps(outcome))


#: What the training children's forkserver imports once, so that each child starts without importing torch again.
CHILD_PRELOAD = ["sublearn.serve.jobs", "sublearn.models.hf.loading", "sublearn.models.hf.training"]


def _child_context() -> Any:
    """Where training children come from: a forkserver that has imported the training stack once (a child forks
    from it in milliseconds instead of importing torch for seconds; it never holds the server's threads or CUDA
    state), or ``spawn`` where forkserver does not exist."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(CHILD_PRELOAD)
    return context


def run_training(base: str, device: str, training: TrainConfig, data_file: Path, seed: int, out: Path,
                 should_stop: Any, poll_s: float = 0.2) -> dict[str, Any]:
    """Train in a child process; ``should_stop()`` (a cancel, a server shutting down) ends the child at once.
    Returns ``{"ok": ...}``, with ``cancelled`` when it was stopped."""
    result = out.parent / f".{out.name}.result.json"
    result.unlink(missing_ok=True)
    abandoned_marker(out).unlink(missing_ok=True)
    child = _child_context().Process(
        target=_train_in_child, args=(base, device, training.model_dump(), str(data_file), seed, str(out),
                                      str(result)), daemon=True)
    child.start()
    while child.is_alive():
        if should_stop():
            abandoned_marker(out).touch()  # should the child be past its last step, it still publishes nothing
            child.terminate()
            child.join(10)
            return {"ok": False, "cancelled": True}
        child.join(poll_s)
    try:
        outcome = json.loads(result.read_text())
    except (OSError, ValueError):
        outcome = {"ok": False, "error": f"the training process ended with exit code {child.exitcode}"}
    result.unlink(missing_ok=True)
    return outcome


def now() -> int:
    """Seconds since the epoch, as the API's timestamps."""
    return int(time.time())
