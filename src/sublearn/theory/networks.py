"""The small networks on which Theorem 1 is checked: MLPs of several shapes and a tiny transformer."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """in → (width, ReLU) × depth → out."""

    def __init__(self, d_in: int, d_out: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, d_out) for inputs (B, d_in)."""
        return self.net(x)


class TinyTransformer(nn.Module):
    """A pre-LN transformer encoder over an image cut into ``n_tokens`` rows, mean-pooled, linear head."""

    def __init__(self, d_in: int, d_out: int, n_tokens: int = 8, d_model: int = 16, heads: int = 2,
                 layers: int = 1) -> None:
        super().__init__()
        if d_in % n_tokens:
            raise ValueError(f"input size {d_in} is not a multiple of {n_tokens} tokens")
        self.n_tokens = n_tokens
        self.embed = nn.Linear(d_in // n_tokens, d_model)
        self.pos = nn.Parameter(torch.randn(n_tokens, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, d_out) for flat inputs (B, d_in)."""
        tokens = self.embed(x.view(x.shape[0], self.n_tokens, -1)) + self.pos  # (B, T, d_model)
        return self.head(self.encoder(tokens).mean(dim=1))  # (B, d_out)


NETWORKS: dict[str, dict[str, int]] = {
    "mlp-w16-d1": {"width": 16, "depth": 1},
    "mlp-w64-d2": {"width": 64, "depth": 2},
    "mlp-w32-d3": {"width": 32, "depth": 3},
    "mlp-w128-d1": {"width": 128, "depth": 1},
    "transformer-d16-l1": {},
}


def build_network(name: str, d_in: int, d_out: int, seed: int) -> nn.Module:
    """A float64 network by name (see ``NETWORKS``), initialised from ``seed``."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose from {', '.join(NETWORKS)}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = MLP(d_in, d_out, **NETWORKS[name]) if name.startswith("mlp") else TinyTransformer(d_in, d_out)
    return module.double()
