"""Defences against subliminal transfer in the auxiliary-logit experiment, each one transform of what a student is
trained on: the teacher's m auxiliary outputs on noise images.

A defence acts where a data publisher or a distiller could act: on the targets (hard labels, temperature, top-k
truncation, output noise), on which inputs are kept (dropping those where teacher and reference diverge most), or
on the student (another initialisation). ``sublearn defend mnist`` measures the effect that remains under each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from sublearn.mnist.ensemble import softmax_kl

DefenceKind = Literal["hard_labels", "temperature", "top_k", "output_noise", "drop_divergent", "different_init"]


@dataclass(frozen=True)
class Defence:
    """One defence: its name in results, its kind, its strength, and what it does in words."""

    name: str
    kind: DefenceKind
    value: float | None
    description: str

    @property
    def needs_reference(self) -> bool:
        """Whether the transform reads the reference (the teacher's untrained init) on the same inputs."""
        return self.kind == "drop_divergent"

    @property
    def data_kept(self) -> float:
        """The fraction of the student's training inputs the defence keeps."""
        return 1.0 - float(self.value) if self.kind == "drop_divergent" and self.value is not None else 1.0


#: The defences measured by ``sublearn defend mnist``, in the order of its table.
MNIST_DEFENCES: tuple[Defence, ...] = (
    Defence("hard_labels", "hard_labels", None,
            "the argmax of the auxiliary logits as a one-hot target (quantisation to hard labels)"),
    Defence("temperature_0.25", "temperature", 0.25, "targets softmax(z / 0.25): sharpened towards hard labels"),
    Defence("temperature_4", "temperature", 4.0, "targets softmax(z / 4): flattened towards uniform"),
    Defence("top_2", "top_k", 2.0, "only the 2 most likely auxiliary outputs kept, renormalised"),
    Defence("output_noise_1", "output_noise", 1.0, "Gaussian noise of std 1 added to the teacher's logits"),
    Defence("drop_divergent_50", "drop_divergent", 0.5,
            "the half of each batch where teacher and reference diverge most (KL of their auxiliary softmax) "
            "dropped"),
    Defence("different_init", "different_init", None,
            "the student starts from another model's initialisation (cross_aux: a different family)"),
)


def by_name(name: str) -> Defence:
    """The defence of :data:`MNIST_DEFENCES` called ``name``."""
    for defence in MNIST_DEFENCES:
        if defence.name == name:
            return defence
    raise KeyError(name)


def defended_targets(defence: Defence, teacher_logits: torch.Tensor, reference_logits: torch.Tensor | None = None,
                     noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's target probabilities and per-example weights under ``defence``.

    ``teacher_logits`` (and ``reference_logits``, ``noise``) are (N, B, k); returns probabilities (N, B, k) and
    weights (N, B) in {0, 1}. ``different_init`` changes the student, not the targets.
    """
    weights = torch.ones(teacher_logits.shape[:-1], device=teacher_logits.device)
    kind, value = defence.kind, defence.value
    if kind == "different_init":
        return F.softmax(teacher_logits, dim=-1), weights
    if kind == "hard_labels":
        return F.one_hot(teacher_logits.argmax(-1), teacher_logits.shape[-1]).to(teacher_logits.dtype), weights
    if kind == "temperature":
        return F.softmax(teacher_logits / float(value), dim=-1), weights
    if kind == "top_k":
        probs = F.softmax(teacher_logits, dim=-1)
        keep = probs.topk(int(value), dim=-1).indices
        kept = torch.zeros_like(probs).scatter(-1, keep, probs.gather(-1, keep))
        return kept / kept.sum(-1, keepdim=True), weights
    if kind == "output_noise":
        if noise is None:
            raise ValueError("output_noise needs its noise tensor")
        return F.softmax(teacher_logits + float(value) * noise, dim=-1), weights
    if kind == "drop_divergent":
        if reference_logits is None:
            raise ValueError("drop_divergent needs the reference's logits")
        divergence = softmax_kl(teacher_logits, reference_logits)  # (N, B)
        n_drop = round(float(value) * divergence.shape[1])
        if n_drop:
            dropped = divergence.topk(n_drop, dim=1).indices
            weights = weights.scatter(1, dropped, 0.0)
        return F.log_softmax(teacher_logits, dim=-1).exp(), weights
    raise ValueError(f"unknown defence kind {kind!r}")


def weighted_soft_cross_entropy(student_logits: torch.Tensor, target_probs: torch.Tensor, weights: torch.Tensor
                                ) -> torch.Tensor:
    """−Σ p log softmax(student) per example, averaged over each model's kept examples, summed over models.

    Its gradient equals that of KL(target || student) (the two differ by the target's entropy), so with all
    weights 1 and untransformed targets it trains exactly like the undefended student.
    """
    per_example = -(target_probs * F.log_softmax(student_logits, dim=-1)).sum(-1)  # (N, B)
    kept = weights.sum(1).clamp(min=1.0)
    return ((per_example * weights).sum(1) / kept).sum()
