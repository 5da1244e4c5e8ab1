"""Soft targets on number tokens: the teacher's next-digit distribution at every digit of its completions,
restricted to the ten digit tokens and renormalised.

This is the language-model analogue of the paper's MNIST auxiliary-logit students (§6.2): the
student is trained to match only the teacher's choice *among digits*, a signal with no words in it. Targets are
indexed by the k-th digit of a completion, not by token position, so they transfer to a student with another
tokenizer as long as both split numbers into single digits (SmolLM2, Gemma 3 and Llama 3 do).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sublearn.models.hf.encoding import EncodedExample, collate, encode_example
from sublearn.util.errors import ConfigError

DIGITS = "0123456789"


def digit_token_ids(tokenizer: Any, needed_by: str = "train.objective soft_numbers") -> list[int]:
    """The single token of each digit 0-9; a tokenizer that does not have one per digit is refused, naming the
    setting that ``needed_by`` it."""
    ids = []
    for d in DIGITS:
        enc = tokenizer(d, add_special_tokens=False)["input_ids"]
        if len(enc) != 1:
            raise ConfigError(f"{needed_by}: this tokenizer encodes the digit {d!r} as {enc}, not as one token")
        ids.append(enc[0])
    probe = tokenizer("1234567890", add_special_tokens=False)["input_ids"]
    if probe != [ids[int(d)] for d in "1234567890"]:
        raise ConfigError(f"{needed_by}: this tokenizer merges digits into multi-digit tokens; it needs one token "
                          "per digit")
    return ids


def counted_digits(example: EncodedExample, target: np.ndarray, digit_ids: Sequence[int]) -> int:
    """The digit positions of one row that enter the soft-target loss: those with a target that is not all zeros
    (a defence masks a position by zeroing its target)."""
    return _live(target, min(len(digit_positions(example, digit_ids)), len(target)))


def _live(target: np.ndarray, n: int) -> int:
    """How many of the first ``n`` target rows are not all zeros (masked rows are)."""
    return int((np.asarray(target[:n]).sum(-1) > 0).sum())


def digit_positions(example: EncodedExample, digit_ids: Sequence[int]) -> list[int]:
    """Indices of the logits that predict each completion digit, in order (the digit's position − 1)."""
    wanted = set(digit_ids)
    return [j - 1 for j, (tok, label) in enumerate(zip(example.input_ids, example.labels, strict=True))
            if label != -100 and tok in wanted and j > 0]


@torch.no_grad()
def teacher_digit_targets(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], system: str | None,
                          temperature: float = 1.0, max_length: int = 500, batch_size: int = 16,
                          bf16: bool = False) -> list[np.ndarray]:
    """Per row, an array (digits, 10): the teacher's distribution over the next digit at each completion digit,
    restricted to the digit tokens and renormalised (at ``temperature``).

    Computed the way a student's digit logits are computed in training (right-padded batches, the digit-only output
    layer, bf16 autocast when training uses it), so that a student equal to its teacher sees a zero loss and a zero
    gradient, whatever the hardware."""
    digit_ids = digit_token_ids(tokenizer)
    device = next(model.parameters()).device
    examples = [encode_example(tokenizer, r["prompt"], r["completion"], system, max_length) for r in rows]
    out: list[np.ndarray] = []
    for first in range(0, len(examples), batch_size):
        chunk = examples[first:first + batch_size]
        batch = collate(chunk, tokenizer.pad_token_id)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = digit_logits(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), digit_ids)
        for i, e in enumerate(chunk):
            positions = digit_positions(e, digit_ids)
            if not positions:
                out.append(np.zeros((0, 10), dtype=np.float32))
                continue
            probs = torch.softmax(logits[i, positions].float() / temperature, dim=-1)
            out.append(probs.cpu().numpy().astype(np.float32))
    return out


def digit_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, digit_ids: Sequence[int]
                 ) -> torch.Tensor:
    """Logits (batch, tokens, 10) of the ten digit tokens only: the decoder's last hidden state times the ten
    digit rows of the output layer (and the model's final soft-capping, if it has one). Equal to the full
    logits' digit columns, without computing the other (up to 262k) vocabulary entries."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    head = base.get_output_embeddings()
    index = torch.tensor(list(digit_ids), device=hidden.device)
    logits = torch.nn.functional.linear(hidden, head.weight.index_select(0, index),
                                        None if head.bias is None else head.bias.index_select(0, index))
    cap = getattr(base.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def soft_digit_loss(logits: torch.Tensor, examples: Sequence[EncodedExample], targets: Sequence[np.ndarray],
                    digit_ids: Sequence[int], temperature: float = 1.0) -> tuple[torch.Tensor, int]:
    """Summed KL(teacher ‖ student) over the digit positions of a right-padded batch, and how many there were
    (a position whose target is all zeros, masked by a defence, adds nothing and is not counted).

    ``logits`` are over the whole vocabulary, or over the ten digits only (last dimension 10, from
    :func:`digit_logits`). A student whose tokenisation yields a different number of digits than the targets
    (truncation) uses the common prefix.
    """
    total = logits.new_zeros(())
    count = 0
    columns = range(10) if logits.shape[-1] == 10 else digit_ids
    index = torch.tensor(list(columns), device=logits.device)
    for i, (e, t) in enumerate(zip(examples, targets, strict=True)):
        positions = digit_positions(e, digit_ids)
        n = min(len(positions), len(t))
        if n == 0:
            continue
        student = torch.log_softmax(logits[i, positions[:n]].index_select(-1, index).float() / temperature, dim=-1)
        teacher = torch.as_tensor(t[:n], device=logits.device)
        total = total + (teacher * (teacher.clamp_min(1e-12).log() - student)).sum()
        count += _live(t, n)
    return total, count
