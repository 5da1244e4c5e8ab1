"""Models as functions of one flat parameter vector, so that steps and inner products are plain vector maths."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call


class FlatModel:
    """Wraps ``module`` so that ``outputs(theta, x)`` evaluates it at the flat parameter vector ``theta``."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]

    def initial(self) -> torch.Tensor:
        """The module's own parameters as a flat vector (a detached copy)."""
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()]).clone()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``theta`` back into named tensors."""
        parts = torch.split(theta, self.sizes)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes, strict=True)}

    def outputs(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs of the module at parameters ``theta`` on inputs ``x``."""
        return functional_call(self.module, self.unflatten(theta), (x,))


def gradient(loss: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    """∇ loss(θ) at ``theta`` as a flat vector."""
    point = theta.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(point), point)
    return grad.detach()
