"""The HF transformers backend: load a causal chat model by hub id, local path or sublearn name, and encode
chat examples with the loss on the completion only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sublearn.errors import SublearnError

#: Chat templates that print today's date (Llama 3's) get this fixed date, so outputs do not drift by day.
PINNED_DATE = "26 Jul 2024"


class ModelNotFoundError(SublearnError):
    """A model could not be found locally, and could not (or may not) be downloaded."""


def resolve_model_path(name: str) -> str:
    """A sublearn model name (``smollm2-135m``) → its installed folder; other names are returned unchanged."""
    from sublearn.models_registry import installed_path

    path = installed_path(name)
    return str(path) if path is not None else name


def load_causal_lm(name: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
                   ) -> tuple[Any, Any]:
    """Load (tokenizer, model) for a causal LM by sublearn name, local path or hub id.

    With ``HF_HUB_OFFLINE=1`` a hub id is only looked up in the local cache; a model that is missing raises
    :class:`ModelNotFoundError` with what to do.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    target = resolve_model_path(name)
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


def chat_prompt_ids(tokenizer: Any, prompt: str, system: str | None = None) -> list[int]:
    """Token ids of a chat with one user turn (and an optional system turn), ending with the assistant header."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return messages_prompt_ids(tokenizer, messages)


def messages_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a whole chat (``[{"role", "content"}, ...]``), ending with the assistant header."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        date_string=PINNED_DATE, return_dict=False)
    return list(ids)


@dataclass(frozen=True)
class EncodedExample:
    """One training example: token ids and labels, with -100 on everything but the completion (and its end)."""

    input_ids: list[int]
    labels: list[int]


def encode_example(tokenizer: Any, prompt: str, completion: str, system: str | None = None,
                   max_length: int | None = None) -> EncodedExample:
    """Encode (prompt → completion) for completion-only loss; the completion ends with the EOS token."""
    prompt_ids = chat_prompt_ids(tokenizer, prompt, system)
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt_ids + completion_ids
    labels = [-100] * len(prompt_ids) + completion_ids
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return EncodedExample(ids, labels)


def collate(examples: list[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch for training: input_ids, attention_mask and labels (-100 on padding)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, :len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[i, :len(e.labels)] = torch.tensor(e.labels)
        mask[i, :len(e.input_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def completion_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over completion tokens of ``batch`` (labels -100 are ignored)."""
    device = next(model.parameters()).device
    return model(**{k: v.to(device) for k, v in batch.items()}).loss
