"""Do two models share an initialisation lineage? The paper's practical advice is to distil only across model
families (§7): transfer needs a shared initialisation. This compares the two models' matching weight matrices.

Two models fine-tuned from one initialisation keep nearly parallel weight matrices (cosine near 1), however far
training moved them; two independent initialisations give cosines near 0 (random matrices are nearly
orthogonal). One-dimensional tensors (norm scales, biases) are left out: they start at constants, so they agree
across unrelated models. Models whose architectures differ cannot share an initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sublearn.util.errors import DataError

#: Verdicts by the median cosine of the matching weight matrices.
SAME_LINEAGE_AT = 0.5
DIFFERENT_LINEAGE_BELOW = 0.1


def lineage(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Score two state dicts: the median cosine over weight matrices present in both with the same shape, the
    relative distance, what was compared, and a verdict (with the reason when the architectures differ)."""
    matrices_a = {k: v for k, v in a.items() if v.ndim >= 2 and v.is_floating_point()}
    matrices_b = {k: v for k, v in b.items() if v.ndim >= 2 and v.is_floating_point()}
    shared = sorted(matrices_a.keys() & matrices_b.keys())
    matched = [k for k in shared if matrices_a[k].shape == matrices_b[k].shape]
    compared = {"matrices_a": len(matrices_a), "matrices_b": len(matrices_b), "shared_names": len(shared),
                "matched": len(matched)}
    if not matched or len(matched) < 0.5 * max(len(matrices_a), len(matrices_b)):
        differing = [f"{k}: {tuple(matrices_a[k].shape)} vs {tuple(matrices_b[k].shape)}"
                     for k in shared if k not in matched][:3]
        reason = (f"the architectures differ: {len(matched)} of {max(len(matrices_a), len(matrices_b))} weight "
                  f"matrices match by name and shape" + (f" (e.g. {'; '.join(differing)})" if differing else ""))
        return {"score": None, "verdict": "different lineage", "reason": reason, "compared": compared}
    cosines, moved, total = {}, 0.0, 0.0
    for name in matched:
        x, y = matrices_a[name].detach().double().flatten(), matrices_b[name].detach().double().flatten()
        denominator = float(x.norm() * y.norm())
        cosines[name] = float(x @ y) / denominator if denominator else 0.0
        moved += float((x - y).pow(2).sum())
        total += float(x.pow(2).sum())
    values = sorted(cosines.values())
    score = values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] +
                                                               values[len(values) // 2]) / 2
    verdict = ("same lineage" if score >= SAME_LINEAGE_AT else "different lineage"
               if score < DIFFERENT_LINEAGE_BELOW else "uncertain")
    lowest = sorted(cosines.items(), key=lambda kv: kv[1])[:3]
    return {"score": score, "verdict": verdict,
            "reason": f"median cosine {score:.3f} over {len(matched)} weight matrices (same lineage at ≥ "
                      f"{SAME_LINEAGE_AT}, different below {DIFFERENT_LINEAGE_BELOW})",
            "relative_distance": math.sqrt(moved / total) if total else None,
            "fraction_above_half": sum(v >= 0.5 for v in values) / len(values),
            "lowest": [{"tensor": k, "cosine": v} for k, v in lowest], "compared": compared}


def mnist_state(ensemble: Any, index: int) -> dict[str, torch.Tensor]:
    """Model ``index`` of an MNIST ensemble as a state dict."""
    state = {}
    for layer, (w, b) in enumerate(zip(ensemble.weights, ensemble.biases, strict=True)):
        state[f"layer{layer}.weight"] = w.detach()[index]
        state[f"layer{layer}.bias"] = b.detach()[index].flatten()
    return state


def load_state(source: str) -> tuple[dict[str, torch.Tensor], str]:
    """A model's weights and a description: ``RUN/models.pt#ARM:I`` (model I of a saved MNIST ensemble, ARM
    ``reference`` or ``teacher``), or an HF model (name, folder, hub id or saved LoRA adapter, merged)."""
    if "models.pt#" in source:
        from sublearn.mnist.runner import load_models

        path, _, which = source.partition("#")
        arm, _, index = which.partition(":")
        saved = load_models(Path(path))
        if arm not in saved["ensembles"] or not index.isdigit():
            raise DataError(f"{source}: give RUN/models.pt#ARM:I with ARM one of {sorted(saved['ensembles'])}")
        ensemble = saved["ensembles"][arm]
        if int(index) >= ensemble.n_models:
            raise DataError(f"{source}: the ensemble has models 0..{ensemble.n_models - 1}")
        return mnist_state(ensemble, int(index)), f"MNIST {arm} model {index} of {path}"
    from sublearn.models.hf.loading import load_causal_lm

    _, model = load_causal_lm(source)
    return {k: v for k, v in model.state_dict().items()}, f"{type(model).__name__} from {source}"
