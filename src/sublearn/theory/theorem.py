"""Theorem 1 (paper §6.1), checked numerically over many random cases.

Setting: teacher and student share an initialisation θ⁰. The teacher takes one gradient step on a trait loss
L_T: θ_T = θ⁰ + ε·Δθ_T/‖Δθ_T‖ with Δθ_T = −∇L_T(θ⁰) (ε is the length of the teacher's step). The student
imitates the teacher's outputs on inputs x ~ D_S that have nothing to do with the trait:
Δθ_S = −∇_θ E_x L_S(f_θ(x), f_{θ_T}(x)) at the student's init. The theorem: with a shared init, either
Δθ_S·Δθ_T = 0, or for small ε the student's step lowers L_T. To first order Δθ_S ≈ ε E[JᵀHJ]Δθ_T/‖Δθ_T‖
with H ⪰ 0, so the inner product is ≥ 0. With a *different* student init nothing forces the sign.

Each case records the inner product, the cosine, and whether L_T(θ_S⁰ + α·Δθ_S/‖Δθ_S‖) < L_T(θ_S⁰). Imitating
*any* random function also shrinks a different-init student's logits, which by itself lowers a cross-entropy
L_T; so each case also records L_T after the same-length step toward an untrained teacher (ε = 0; for a shared
init that step is zero), and whether the trained teacher beats that baseline.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F

from sublearn.theory.networks import NETWORKS, build_network
from sublearn.theory.params import FlatModel, gradient

N_CLASSES = 10
LOSSES = ("squared_error", "soft_cross_entropy")
INPUTS = ("noise", "real")
OUTPUTS = ("all", "aux")
DEFAULT_EPSILONS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0)


def imitation_loss(kind: str, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """L_S averaged over examples: ½‖s − t‖² on logits, or cross-entropy of softmax(t) against softmax(s)."""
    if kind == "squared_error":
        return 0.5 * ((student - teacher) ** 2).sum(-1).mean()
    if kind == "soft_cross_entropy":
        return -(F.softmax(teacher, -1) * F.log_softmax(student, -1)).sum(-1).mean()
    raise ValueError(f"unknown imitation loss {kind!r}")


@dataclass(frozen=True)
class TheoryData:
    """Trait data for the teacher (labelled digits) and the two input distributions for the student."""

    x_trait: torch.Tensor  # (B, D) float64
    y_trait: torch.Tensor  # (B,)
    x_real: torch.Tensor  # (B, D) other real images, for D_S = real
    x_noise: torch.Tensor  # (B, D) uniform noise in [-1, 1], for D_S = noise

    def student_inputs(self, kind: str) -> torch.Tensor:
        """D_S by name."""
        return self.x_noise if kind == "noise" else self.x_real


def load_theory_data(n: int = 256, seed: int = 0) -> TheoryData:
    """sklearn digits (8x8, pixels in [-1, 1]): trait data from the train split, real D_S from the test split."""
    from sublearn.mnist.data import load_digits_8x8

    digits = load_digits_8x8()
    gen = torch.Generator().manual_seed(seed)
    return TheoryData(
        x_trait=digits.x_train[:n].double(),
        y_trait=digits.y_train[:n],
        x_real=digits.x_test[:n].double(),
        x_noise=(torch.rand(n, digits.input_dim, generator=gen) * 2 - 1).double(),
    )


@dataclass
class TheoryCase:
    """One numerical check of the theorem."""

    network: str
    loss: str
    inputs: str
    outputs: str
    init: str  # "shared" or "different"
    seed: int
    epsilon: float
    inner_product: float
    cosine: float
    trait_loss_before: float
    trait_loss_after: float
    trait_loss_after_untrained_teacher: float

    @property
    def loss_decreased(self) -> bool:
        """Whether the student's small step lowered the teacher's trait loss."""
        return self.trait_loss_after < self.trait_loss_before

    @property
    def beats_untrained_teacher(self) -> bool:
        """Whether L_T ends lower than after the same step toward the untrained teacher (trait-specific part)."""
        return self.trait_loss_after < self.trait_loss_after_untrained_teacher

    def as_dict(self) -> dict[str, object]:
        """JSON form, with ``loss_decreased`` and ``beats_untrained_teacher``."""
        return {**asdict(self), "loss_decreased": self.loss_decreased,
                "beats_untrained_teacher": self.beats_untrained_teacher}


def trait_loss_fn(model: FlatModel, data: TheoryData) -> Callable[[torch.Tensor], torch.Tensor]:
    """L_T(θ): cross-entropy of the 10 class logits on the labelled trait data."""
    return lambda theta: F.cross_entropy(model.outputs(theta, data.x_trait)[:, :N_CLASSES], data.y_trait)


def student_gradient(model: FlatModel, theta_student: torch.Tensor, theta_teacher: torch.Tensor,
                     x: torch.Tensor, loss: str, outputs: str) -> torch.Tensor:
    """Δθ_S = −∇_θ E_x L_S(f_θ(x), f_{θ_T}(x)) at ``theta_student`` (outputs: all logits or the aux ones)."""
    cols = slice(None) if outputs == "all" else slice(N_CLASSES, None)
    with torch.no_grad():
        target = model.outputs(theta_teacher, x)[:, cols]
    return -gradient(lambda th: imitation_loss(loss, model.outputs(th, x)[:, cols], target), theta_student)


def check_cases(network: str, loss: str, inputs: str, outputs: str, seed: int, epsilons: tuple[float, ...],
                data: TheoryData, m_aux: int = 3, student_step: float = 1e-4) -> list[TheoryCase]:
    """All cases of one (network, loss, inputs, outputs, seed): every ε, shared and different init."""
    d_in = data.x_trait.shape[1]
    model = FlatModel(build_network(network, d_in, N_CLASSES + m_aux, seed))
    theta0 = model.initial()
    theta_other = FlatModel(build_network(network, d_in, N_CLASSES + m_aux, seed + 10_000)).initial()
    trait_loss = trait_loss_fn(model, data)
    delta_t = -gradient(trait_loss, theta0)
    unit_t = delta_t / delta_t.norm()
    x = data.student_inputs(inputs)

    def small_step(theta_s0: torch.Tensor, delta_s: torch.Tensor) -> torch.Tensor:
        # A gradient at round-off level (imitating yourself) is no direction: take no step.
        if float(delta_s.norm()) <= 1e-12 * max(1.0, float(theta_s0.norm())):
            return theta_s0
        return theta_s0 + student_step * delta_s / delta_s.norm()

    baseline = {}
    for init, theta_s0 in (("shared", theta0), ("different", theta_other)):
        delta_0 = student_gradient(model, theta_s0, theta0, x, loss, outputs)  # toward the untrained teacher
        with torch.no_grad():
            baseline[init] = float(trait_loss(small_step(theta_s0, delta_0)))
    cases = []
    for eps in epsilons:
        theta_teacher = theta0 + eps * unit_t
        for init, theta_s0 in (("shared", theta0), ("different", theta_other)):
            delta_s = student_gradient(model, theta_s0, theta_teacher, x, loss, outputs)
            inner = float(delta_s @ delta_t)
            cos = inner / float(delta_s.norm() * delta_t.norm() + 1e-300)
            with torch.no_grad():
                before, after = float(trait_loss(theta_s0)), float(trait_loss(small_step(theta_s0, delta_s)))
            cases.append(TheoryCase(network, loss, inputs, outputs, init, seed, eps, inner, cos, before, after,
                                    baseline[init]))
    return cases


def run_theory(seeds: int = 3, epsilons: tuple[float, ...] = DEFAULT_EPSILONS,
               networks: tuple[str, ...] = tuple(NETWORKS), progress: Callable[[int, int], None] | None = None
               ) -> list[TheoryCase]:
    """Every combination of network × loss × inputs × outputs × seed, each over all ε and both inits."""
    data = load_theory_data()
    grid = list(itertools.product(networks, LOSSES, INPUTS, OUTPUTS, range(seeds)))
    cases: list[TheoryCase] = []
    for k, (net, loss, inputs, outputs, seed) in enumerate(grid):
        cases += check_cases(net, loss, inputs, outputs, seed, epsilons, data)
        if progress:
            progress(k + 1, len(grid))
    return cases
