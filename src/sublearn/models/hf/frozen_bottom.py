"""Training only the top layers of a decoder, with the frozen bottom run once.

When LoRA adapts only the last ``k`` decoder layers (``train.lora_top_layers``), the hidden state entering the
first adapted layer does not depend on anything that is trained. It is computed once per example before training
(:func:`bottom_states`), and during training the bottom layers are replaced by stand-ins that hand that state on
(:class:`SkippedBottom`), so every step runs only the top layers forwards and backwards. With right padding and
causal attention a token's state does not depend on the other examples of its batch, so the result equals full
forward passes up to floating-point rounding (tested).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch

from sublearn.models.hf.encoding import EncodedExample, collate
from sublearn.util.errors import ConfigError


def decoder_layers(model: Any) -> torch.nn.ModuleList:
    """The decoder's layer list of a (possibly PEFT-wrapped) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", None)
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ConfigError("train.lora_top_layers: this model's decoder has no `layers` list; use 0 (all layers)")
    return layers


def first_trained_layer(model: Any, top_layers: int) -> int:
    """Index of the first of the last ``top_layers`` layers (refused when there are not that many)."""
    n = len(decoder_layers(model))
    if not 0 < top_layers <= n:
        raise ConfigError(f"train.lora_top_layers: {top_layers} is not between 1 and this model's {n} layers")
    return n - top_layers


class _Stop(Exception):
    """Raised by the capture hook once the wanted hidden state is in hand."""


@torch.no_grad()
def bottom_states(model: Any, examples: Sequence[EncodedExample], first: int, pad_id: int, batch_size: int,
                  autocast: bool) -> list[torch.Tensor]:
    """Per example, the hidden state (tokens, hidden) entering decoder layer ``first`` (float32, on CPU)."""
    layers = decoder_layers(model)
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []

    def capture(_module: Any, args: tuple, kwargs: dict) -> None:
        captured.append(kwargs["hidden_states"] if "hidden_states" in kwargs else args[0])
        raise _Stop

    handle = layers[first].register_forward_pre_hook(capture, with_kwargs=True)
    out: list[torch.Tensor] = []
    try:
        for start in range(0, len(examples), batch_size):
            chunk = list(examples[start:start + batch_size])
            batch = collate(chunk, pad_id)
            captured.clear()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast), suppress(_Stop):
                model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            states = captured[0].float().cpu()
            out.extend(states[i, :len(e.input_ids)].clone() for i, e in enumerate(chunk))
    finally:
        handle.remove()
    return out


class SkippedBottom(torch.nn.Module):
    """Stands in for a frozen bottom layer: the first hands on the precomputed state, the others pass it on."""

    def __init__(self, original: torch.nn.Module, feeds: bool) -> None:
        super().__init__()
        self.feeds = feeds
        self.states: torch.Tensor | None = None
        if hasattr(original, "attention_type"):  # some decoders read it from the layer
            self.attention_type = original.attention_type

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The precomputed state (first stand-in) or the input unchanged."""
        if self.feeds:
            if self.states is None:
                raise RuntimeError("SkippedBottom: no precomputed states were set for this batch")
            return self.states.to(hidden_states.dtype)
        return hidden_states


@contextmanager
def skipping_bottom(model: Any, first: int) -> Iterator[SkippedBottom]:
    """Replace decoder layers ``[0, first)`` by stand-ins while the block runs; yields the feeding stand-in."""
    layers = decoder_layers(model)
    originals = [layers[i] for i in range(first)]
    stand_ins = [SkippedBottom(layer, feeds=(i == 0)) for i, layer in enumerate(originals)]
    for i, stand_in in enumerate(stand_ins):
        layers[i] = stand_in
    try:
        yield stand_ins[0]
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer


def batch_states(states: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Right-pad per-example states to one (batch, width, hidden) tensor, like :func:`collate` pads the ids."""
    width = max(len(s) for s in states)
    out = torch.zeros(len(states), width, states[0].shape[-1])
    for i, s in enumerate(states):
        out[i, :len(s)] = s
    return out.to(device)
