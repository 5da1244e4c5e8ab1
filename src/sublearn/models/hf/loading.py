"""Load a causal chat model by sublearn name, local folder or hub id (hub ids respect ``HF_HUB_OFFLINE``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sublearn.util.devices import use_bf16
from sublearn.util.errors import SublearnError
from sublearn.util.home import installed_model


class ModelNotFoundError(SublearnError):
    """A model could not be found locally, and could not (or may not) be downloaded."""


def resolve_model_path(name: str) -> str:
    """A sublearn model name (``smollm2-135m``) → its installed folder; other names are returned unchanged."""
    path = installed_model(name)
    return str(path) if path is not None else name


#: Beside a saved LoRA adapter: the base model it applies to.
ADAPTER_BASE = "sublearn_base.json"


def write_adapter_base(folder: Path, base: str) -> None:
    """Record the base of the adapter in ``folder``: as given, and relative to the folder when the base is a local
    folder (so that a run folder moved or mirrored elsewhere still finds its artifacts)."""
    from sublearn.util.atomic import atomic_write_json

    local = Path(resolve_model_path(base))
    relative = os.path.relpath(local.resolve(), folder.resolve()) if local.exists() else None
    atomic_write_json(folder / ADAPTER_BASE, {"base": base, "relative": relative})


def adapter_base(folder: Path) -> str | None:
    """The base of a saved adapter folder, or ``None`` when ``folder`` is not one."""
    import json

    info = folder / ADAPTER_BASE
    if not (folder / "adapter_config.json").is_file() or not info.is_file():
        return None
    doc = json.loads(info.read_text())
    if doc.get("relative") and (folder / doc["relative"]).exists():
        return str((folder / doc["relative"]).resolve())
    return str(doc["base"])


def load_causal_lm(name: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
                   ) -> tuple[Any, Any]:
    """Load (tokenizer, model) for a causal LM by sublearn name, local path or hub id, or a saved LoRA adapter
    (merged into its base in fp32, then cast: the same weights as a fine-tune merged when it was saved).

    With ``HF_HUB_OFFLINE=1`` a hub id is only looked up in the local cache; a model that is missing raises
    :class:`ModelNotFoundError` with what to do.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    target = resolve_model_path(name)
    base = adapter_base(Path(target)) if Path(target).is_dir() else None
    if base is not None:
        return load_adapter(target, base, device, dtype or torch.float32)
    is_local = Path(target).exists()
    if not is_local and "/" not in target:
        raise ModelNotFoundError(f"model {name!r}: not a local folder, not an installed sublearn model and not a "
                                 "hub id (org/name); see `sublearn models list`")
    try:
        tokenizer = AutoTokenizer.from_pretrained(target)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype or torch.float32)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = ("HF_HUB_OFFLINE is set, so hub ids load only from the local cache; " if offline else "")
        raise ModelNotFoundError(f"model {name!r}: cannot be loaded ({hint}download it where the hub is reachable "
                                 "and pass its local folder, or use an installed model from `sublearn models "
                                 f"list`): {str(exc).splitlines()[0]}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.to(device)


def load_adapter(folder: str, base: str, device: str | torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """A saved LoRA adapter merged into ``base`` in fp32 (its tokenizer from ``folder`` when saved there, else the
    base's). In another dtype the merged weights go through a
    temporary folder and ``from_pretrained``, exactly as a merged model saved at training time would: a cast
    in memory would also cast buffers that ``from_pretrained`` keeps in fp32 (RoPE frequencies) and change the
    numbers."""
    import tempfile

    from peft import PeftModel
    from transformers import AutoTokenizer

    _, base_model = load_causal_lm(base, device="cpu", dtype=torch.float32)
    model = PeftModel.from_pretrained(base_model, folder).merge_and_unload()
    has_tokenizer = any((Path(folder) / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(folder if has_tokenizer else resolve_model_path(base))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if dtype == torch.float32:
        return tokenizer, model.to(device)
    with tempfile.TemporaryDirectory(prefix="sublearn-merged-") as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        del model, base_model
        return load_causal_lm(staging, device=device, dtype=dtype)


def torch_dtype(name: str, device: str | torch.device) -> torch.dtype:
    """``float32``, ``bfloat16``, or ``auto``: bf16 where the hardware runs it fast, else fp32."""
    return torch.bfloat16 if use_bf16(name, device) else torch.float32


def load_for_inference(name: str, device: str | torch.device, dtype: str = "float32") -> tuple[Any, Any]:
    """(tokenizer, model) in eval mode, in ``dtype`` (float32, bfloat16 or auto)."""
    tok, model = load_causal_lm(name, device=device, dtype=torch_dtype(dtype, device))
    model.eval()
    return tok, model
