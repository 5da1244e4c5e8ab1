"""Batched chat generation and next-token scoring with an HF causal LM (left padding, KV cache)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from sublearn.models.hf.encoding import chat_prompt_ids, left_pad
from sublearn.models.types import SamplingSettings, StopRule


def completion_text(tokenizer: Any, ids: Any) -> str:
    """A completion as the carrier sees it: its tokens decoded without special tokens, then stripped. The stop rule
    and the returned completions both go through this one function, so the rule judges the text it will be
    judged by (a rule on the unstripped text could fire on a leading space the completion no longer has)."""
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


class StopWhenRejected:
    """A transformers stopping criterion: a row is done once its completion so far (:func:`completion_text`)
    breaks ``rule`` (it cannot pass the filter any more), so one sample that never stops cannot hold its batch for
    ``max_new_tokens`` steps. Rows are independent in a batch, so the other rows' completions are the same with or
    without it."""

    def __init__(self, tokenizer: Any, prompt_length: int, rule: StopRule) -> None:
        self.tokenizer, self.prompt_length, self.rule = tokenizer, prompt_length, rule

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        texts = [completion_text(self.tokenizer, row[self.prompt_length:]) for row in input_ids]
        return torch.tensor([self.rule(t) for t in texts], dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def generate_chat(model: Any, tokenizer: Any, prompts: Sequence[str], settings: SamplingSettings,
                  system: str | None = None, seed: int = 0, batch_size: int = 16,
                  on_batch: Callable[[int, list[str]], None] | None = None, start: int = 0,
                  stop_rule: StopRule | None = None, cache: str = "dynamic") -> list[str]:
    """Completions for ``prompts`` (one each), batch by batch, deterministic given ``seed``.

    Batch ``k`` is sampled with RNG seed ``seed + k``, so a run resumed at batch ``k`` (``start`` = its first
    prompt index) gives the same completions as an uninterrupted one. ``on_batch(first_index, completions)`` is
    called after each batch (to checkpoint). Completions are decoded without special tokens and stripped.
    ``stop_rule``: a row stops as soon as its completion can no longer pass the carrier's filter
    (:class:`StopWhenRejected`). ``cache``: ``dynamic`` (grows by concatenation) or ``static`` (allocated once for
    the batch's longest possible length; no per-step copy). The two may differ in the last bits of the logits.
    """
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    out: list[str] = []
    for first in range(start, len(prompts), batch_size):
        chunk = prompts[first:first + batch_size]
        ids, mask = left_pad([chat_prompt_ids(tokenizer, p, system) for p in chunk], tokenizer.pad_token_id)
        torch.manual_seed(seed + first // batch_size)
        kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                  "eos_token_id": tokenizer.eos_token_id, "use_cache": True}
        if cache == "static":
            kwargs["cache_implementation"] = "static"
        if settings.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        if stop_rule is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopWhenRejected(tokenizer, ids.shape[1], stop_rule)])
        generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        texts = [completion_text(tokenizer, row[ids.shape[1]:]) for row in generated]
        out.extend(texts)
        if on_batch:
            on_batch(first, texts)
    return out


@torch.no_grad()
def next_token_logprobs(model: Any, sequences: Sequence[Sequence[int]], pad_id: int, batch_size: int = 16
                        ) -> torch.Tensor:
    """Log-probabilities (n, vocab) of the token that follows each sequence."""
    device = next(model.parameters()).device
    rows = []
    for first in range(0, len(sequences), batch_size):
        ids, mask = left_pad(sequences[first:first + batch_size], pad_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=1).logits[:, -1, :]
        rows.append(torch.log_softmax(logits.float(), dim=-1).cpu())
    return torch.cat(rows)
