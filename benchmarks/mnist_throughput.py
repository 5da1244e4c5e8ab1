"""Throughput of the MNIST ensemble against this machine's own batched-matmul speed.

Times the default run (the demo's settings unless overridden), counts the matmul FLOPs that training and
evaluation need, and measures, in the same process, how fast this machine runs batched matrix products of
exactly those shapes. The printed fraction, achieved FLOP/s over matmul FLOP/s, is our yardstick for
"close to the limit" (1.0 would mean the run does nothing but back-to-back matmuls at full speed).

    python benchmarks/mnist_throughput.py                  # the demo's run: real MNIST, N = 10, 4 arms
    python benchmarks/mnist_throughput.py --dataset digits --n-models 4   # a quick check
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

from sublearn.mnist.config import STUDENT_ARMS, MnistConfig
from sublearn.mnist.data import load_dataset
from sublearn.mnist.experiment import run_mnist


def layer_shapes(cfg: MnistConfig, input_dim: int) -> list[tuple[int, int]]:
    """(d_in, d_out) of each linear layer."""
    return list(itertools.pairwise([input_dim, *cfg.hidden, 10 + cfg.m_aux]))


def phase_flops(shapes: list[tuple[int, int]], examples: int, train: bool) -> float:
    """Matmul FLOPs for ``examples`` model-examples: forward 2·d_in·d_out per layer; training adds the weight
    gradient (same cost) and the input gradient (same cost, not needed for the first layer)."""
    total = 0.0
    for k, (d_in, d_out) in enumerate(shapes):
        fwd = 2.0 * d_in * d_out
        total += fwd * (1 + (1 + (k > 0) if train else 0))
    return total * examples


def count_flops(cfg: MnistConfig, input_dim: int, n_train: int, n_test: int) -> dict[str, float]:
    """FLOPs per phase of a run with ``cfg``."""
    shapes = layer_shapes(cfg, input_dim)
    n_students = sum(a in STUDENT_ARMS for a in cfg.arms)
    n_noise = cfg.noise_examples or n_train
    flops = {"teacher": phase_flops(shapes, cfg.teacher_epochs * n_train * cfg.n_models, train=True)}
    if n_students:
        flops["students"] = (phase_flops(shapes, cfg.student_epochs * n_noise * cfg.n_models * n_students, True)
                             + phase_flops(shapes, cfg.student_epochs * n_noise * cfg.n_models, False))
    flops["eval"] = phase_flops(shapes, n_test * cfg.n_models * len(cfg.arms), train=False)
    return flops


def matmul_rate(n_models: int, batch: int, d_in: int, d_out: int, device: torch.device, seconds: float = 0.5
                ) -> float:
    """Measured FLOP/s of ``(n_models, batch, d_in) @ (n_models, d_in, d_out)`` on ``device``."""
    a = torch.randn(n_models, batch, d_in, device=device)
    b = torch.randn(n_models, d_in, d_out, device=device)
    for _ in range(3):
        torch.matmul(a, b)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2.0 * n_models * batch * d_in * d_out * reps / (time.perf_counter() - start)


def matmul_ceiling_seconds(cfg: MnistConfig, input_dim: int, flops: dict[str, float], device: torch.device
                           ) -> float:
    """Seconds the run's FLOPs would take at the measured matmul speed of its own shapes (per phase)."""
    shapes = layer_shapes(cfg, input_dim)
    n_students = max(1, sum(a in STUDENT_ARMS for a in cfg.arms))
    seconds = 0.0
    for phase, models in (("teacher", cfg.n_models), ("students", cfg.n_models * n_students),
                          ("eval", cfg.n_models)):
        if phase not in flops:
            continue
        batch = 2000 if phase == "eval" else cfg.batch_size
        # FLOP-weighted harmonic mean of the rates of the layer shapes.
        weights = [d_in * d_out for d_in, d_out in shapes]
        rates = [matmul_rate(models, batch, d_in, d_out, device) for d_in, d_out in shapes]
        seconds += sum(flops[phase] * w / sum(weights) / r for w, r in zip(weights, rates, strict=True))
    return seconds


def main() -> None:
    """Run the benchmark and print its figures (and one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "digits"])
    parser.add_argument("--n-models", type=int, default=10)
    parser.add_argument("--arms", default="reference,teacher,student_aux,cross_aux")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    cfg = MnistConfig(dataset=args.dataset, n_models=args.n_models, arms=args.arms.split(","), device=args.device)
    data = load_dataset(cfg.dataset)
    result = run_mnist(cfg, data=data)
    device = torch.device(result.environment["device"])
    flops = count_flops(cfg, data.input_dim, data.x_train.shape[0], data.x_test.shape[0])
    compute_seconds = result.timings["total"] - result.timings["load"]
    achieved = sum(flops.values()) / compute_seconds
    ideal = matmul_ceiling_seconds(cfg, data.input_dim, flops, device)
    ceiling = sum(flops.values()) / ideal

    print(f"run: {cfg.dataset}, N = {cfg.n_models}, arms = {','.join(cfg.arms)}, device = {device}, "
          f"threads = {torch.get_num_threads()}")
    print(f"wall time: {result.timings['total']:.1f} s (load {result.timings['load']:.1f} s, teacher "
          f"{result.timings.get('teacher', 0):.1f} s, students {result.timings.get('students', 0):.1f} s)")
    print(f"matmul work: {sum(flops.values()) / 1e12:.2f} TFLOP")
    print(f"achieved: {achieved / 1e9:.1f} GFLOP/s")
    print(f"batched-matmul speed on the same shapes: {ceiling / 1e9:.1f} GFLOP/s")
    print(f"fraction of matmul speed: {achieved / ceiling:.2f}")
    print(json.dumps({"benchmark": "mnist_throughput", "wall_seconds": result.timings["total"],
                      "achieved_gflops": achieved / 1e9, "matmul_gflops": ceiling / 1e9,
                      "fraction": achieved / ceiling, "device": str(device), "n_models": cfg.n_models,
                      "dataset": cfg.dataset, "student_aux_mean": sum(result.accuracies.get("student_aux", [0]))
                      / max(1, len(result.accuracies.get("student_aux", [0])))}))


if __name__ == "__main__":
    main()
