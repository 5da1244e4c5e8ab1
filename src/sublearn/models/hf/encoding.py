"""Chat encoding for causal LMs: prompt ids from the chat template, examples with the loss on the completion only,
padding for training (right) and for generation and scoring (left)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

#: Chat templates that print today's date (Llama 3's) get this fixed date, so outputs do not drift by day.
PINNED_DATE = "26 Jul 2024"


def messages_prompt_ids(tokenizer: Any, messages: Sequence[dict[str, str]] | Sequence[tuple[str, str]]) -> list[int]:
    """Token ids of a whole chat (``[{"role", "content"}, ...]`` or (role, content) pairs), ending with the
    assistant header."""
    dicts = [m if isinstance(m, dict) else {"role": m[0], "content": m[1]} for m in messages]
    ids = tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=True,
                                        date_string=PINNED_DATE, return_dict=False)
    return list(ids)


def chat_prompt_ids(tokenizer: Any, prompt: str, system: str | None = None) -> list[int]:
    """Token ids of a chat with one user turn (and an optional system turn), ending with the assistant header."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return messages_prompt_ids(tokenizer, messages)


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of plain text (no special tokens), e.g. an assistant prefill."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


@dataclass(frozen=True)
class EncodedExample:
    """One training example: token ids and labels, with -100 on everything but the completion (and its end)."""

    input_ids: list[int]
    labels: list[int]


def encode_example(tokenizer: Any, prompt: str, completion: str, system: str | None = None,
                   max_length: int | None = None, masked: Sequence[int] = ()) -> EncodedExample:
    """Encode (prompt → completion) for completion-only loss; the completion ends with the EOS token. ``masked``:
    indices of completion tokens left out of the loss as well (a defence)."""
    prompt_ids = chat_prompt_ids(tokenizer, prompt, system)
    completion_ids = [*text_ids(tokenizer, completion), tokenizer.eos_token_id]
    ids = prompt_ids + completion_ids
    dropped = set(masked)
    labels = [-100] * len(prompt_ids) + [-100 if k in dropped else t for k, t in enumerate(completion_ids)]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return EncodedExample(ids, labels)


def collate(examples: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
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


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for left-padded sequences, as generation and last-position scoring need."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        if seq:
            ids[i, width - len(seq):] = torch.tensor(list(seq))
            mask[i, width - len(seq):] = 1
    return ids, mask


def completion_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over completion tokens of ``batch`` (labels -100 are ignored)."""
    device = next(model.parameters()).device
    return model(**{k: v.to(device) for k, v in batch.items()}).loss
