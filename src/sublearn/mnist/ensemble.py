"""N independent MLPs trained together as one vectorised ensemble.

Every parameter carries a leading model axis N, so one batched matrix product evaluates all N models:
``x (N, B, d_in) @ W (N, d_in, d_out) + b (N, 1, d_out)``. Gradients of a loss summed over models are the
per-model gradients, and Adam is elementwise, so training the ensemble is exactly training N models side by
side (a test checks this against N separate runs).

Shapes: N models, B examples per model, D input pixels, K = 10 + m outputs (10 class logits, then m
auxiliary logits that are never trained on labels).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_CLASSES = 10


def model_generator(seed: int, stream: int, device: torch.device | str = "cpu", index: int | None = None
                    ) -> torch.Generator:
    """An independent torch RNG for one model and one purpose (``stream``: init, shuffling, noise, ...), and
    optionally one item of it (``index``: e.g. one batch of a fixed noise set)."""
    words = np.random.SeedSequence([seed, stream] if index is None else [seed, stream, index]
                                   ).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(words[0]) << 32 | int(words[1]))
    return gen


class EnsembleMLP(nn.Module):
    """N MLPs D → H1 → ... → K with ReLU, stored as stacked parameters."""

    def __init__(self, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(w) for w in weights])  # each (N, d_in, d_out)
        self.biases = nn.ParameterList([nn.Parameter(b) for b in biases])  # each (N, 1, d_out)

    @classmethod
    def initialise(cls, seeds: Sequence[int], sizes: Sequence[int], device: torch.device | str = "cpu"
                   ) -> EnsembleMLP:
        """One model per seed; W ~ Normal(0, 1/sqrt(d_in)), b = 0 (the paper's ``MultiLinear``)."""
        layers_w: list[list[torch.Tensor]] = [[] for _ in range(len(sizes) - 1)]
        for seed in seeds:
            gen = model_generator(seed, stream=0, device=device)
            for layer, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
                w = torch.randn(d_in, d_out, generator=gen, device=device) * d_in**-0.5  # (D_in, D_out)
                layers_w[layer].append(w)
        weights = [torch.stack(ws) for ws in layers_w]  # (N, d_in, d_out)
        biases = [torch.zeros(len(seeds), 1, w.shape[-1], device=device) for w in weights]  # (N, 1, d_out)
        return cls(weights, biases)

    @property
    def n_models(self) -> int:
        """Number of models N in the ensemble."""
        return int(self.weights[0].shape[0])

    @property
    def sizes(self) -> list[int]:
        """Layer widths, input first."""
        return [int(self.weights[0].shape[1])] + [int(w.shape[2]) for w in self.weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, B, K) for inputs (N, B, D), or for one batch (B, D) shared by all models."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.matmul(h, w) + b  # (N, B, d_out); a (B, d_in) input broadcasts over N
            if i < last:
                h = F.relu(h)
        return h

    def select(self, index: Sequence[int] | torch.Tensor) -> EnsembleMLP:
        """A new ensemble holding copies of the models at ``index`` (repeats allowed)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.weights[0].device)
        return EnsembleMLP([w.detach()[idx].clone() for w in self.weights],
                           [b.detach()[idx].clone() for b in self.biases])

    @staticmethod
    def concat(parts: Sequence[EnsembleMLP]) -> EnsembleMLP:
        """Stack several ensembles of the same architecture into one along the model axis."""
        return EnsembleMLP(
            [torch.cat([p.weights[i].detach() for p in parts]).clone() for i in range(len(parts[0].weights))],
            [torch.cat([p.biases[i].detach() for p in parts]).clone() for i in range(len(parts[0].biases))],
        )

    def split(self, n_parts: int) -> list[EnsembleMLP]:
        """Inverse of :meth:`concat` for equal parts."""
        n = self.n_models // n_parts
        return [self.select(range(k * n, (k + 1) * n)) for k in range(n_parts)]

    def perturbed(self, std: float, seeds: Sequence[int]) -> EnsembleMLP:
        """A copy whose weights get independent Normal(0, std) noise, one RNG per model (biases too)."""
        out = self.select(range(self.n_models))
        if std <= 0:
            return out
        with torch.no_grad():
            for k, seed in enumerate(seeds):
                gen = model_generator(seed, stream=3, device=out.weights[0].device)
                for p in [*out.weights, *out.biases]:
                    p[k] += std * torch.randn(p[k].shape, generator=gen, device=p.device)
        return out


def derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A uniformly random permutation of 0..n-1 with no fixed point (rejection sampling; needs n >= 2)."""
    if n < 2:
        raise ValueError("a derangement needs at least 2 models")
    while True:
        perm = torch.randperm(n, generator=gen, device=gen.device)
        if not bool((perm == torch.arange(n, device=perm.device)).any()):
            return perm


def softmax_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) || softmax(student)) over the last axis, per position: (..., k) -> (...)."""
    log_p_s = F.log_softmax(student_logits, dim=-1)
    log_p_t = F.log_softmax(teacher_logits, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of the softmax over the last axis, averaged per example, summed over models.

    Inputs are (N, B, k). Each model's loss is the mean over its B examples of the per-example KL, so a
    model's gradient depends neither on N nor on the batch size (the paper's code divided by N only).
    """
    return softmax_kl(teacher_logits, student_logits).mean(dim=1).sum()  # (N, B) -> one scalar


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the 10 class logits; mean per model over its examples, summed over models."""
    n, b, _ = logits.shape
    ce = F.cross_entropy(logits[..., :N_CLASSES].reshape(n * b, N_CLASSES), labels.reshape(n * b),
                         reduction="none")  # (N*B,)
    return ce.view(n, b).mean(dim=1).sum()


@torch.no_grad()
def accuracy(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """Per-model test accuracy (N,), from the argmax of the 10 class logits on shared inputs (B, D)."""
    correct = torch.zeros(model.n_models, device=x.device)
    for start in range(0, x.shape[0], chunk):
        logits = model(x[start:start + chunk])  # (N, b, K)
        pred = logits[..., :N_CLASSES].argmax(-1)  # (N, b)
        correct += (pred == y[start:start + chunk]).float().sum(dim=1)
    return correct / x.shape[0]
