"""Devices and numerics: ``auto`` picks CUDA when there is one, and bf16 only where the hardware runs it fast (a
CUDA device that supports it, or a CPU with native bf16 instructions); asking for CUDA without it is an error."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

import torch

from sublearn import __version__
from sublearn.util.errors import ConfigError

#: CPU flags of native bf16 arithmetic (without them, bf16 matmul on a CPU is emulated and several times slower).
FAST_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; other names are checked against what exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device: {name!r} is not a device (auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but torch sees no CUDA device (use --device cpu)")
    return device


@functools.cache
def _cpuinfo_lines() -> tuple[str, ...]:
    """The lines of /proc/cpuinfo (none where it does not exist), read once per process."""
    try:
        return tuple(Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return ()


def _cpuinfo_field(*names: str) -> str | None:
    """The value of the first /proc/cpuinfo line that starts with one of ``names``."""
    line = next((ln for ln in _cpuinfo_lines() if ln.startswith(names)), None)
    return line.split(":", 1)[-1].strip() if line is not None else None


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    return frozenset((_cpuinfo_field("flags", "Features") or "").split())


def cpu_model() -> str | None:
    """The CPU's model name (None where /proc/cpuinfo does not say)."""
    return _cpuinfo_field("model name", "Model")


#: Set to ``0`` or ``1`` to say whether this CPU counts as having native bf16 (what ``auto`` picks), e.g. to run
#: the test suite in both numerics on one machine; unset or ``auto``: read from the CPU's flags.
CPU_BF16_ENV = "SUBLEARN_CPU_BF16"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (or what ``SUBLEARN_CPU_BF16`` says)."""
    setting = os.environ.get(CPU_BF16_ENV, "auto").strip().lower()
    if setting in ("0", "1"):
        return setting == "1"
    if setting != "auto":
        raise ConfigError(f"{CPU_BF16_ENV}: {setting!r} is not 0, 1 or auto")
    return any(flag in cpu_flags() for flag in FAST_BF16_FLAGS)


def use_bf16(setting: str, device: str | torch.device) -> bool:
    """``yes``/``no``, or ``auto``: bf16 where it is fast (a CUDA device that supports it, or a CPU with native
    bf16)."""
    if setting in ("yes", "bfloat16"):
        return True
    if setting in ("no", "float32"):
        return False
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_fast_bf16()


def base_weight_dtype(setting: str, device: str | torch.device, method: str) -> str:
    """The dtype a LoRA fine-tune holds its frozen base in: ``auto`` is bf16 on a CUDA device that supports it
    (half the memory: a 7B base in 15 GB, not 30) and fp32 elsewhere; the adapters stay fp32. A full fine-tune
    trains the base itself, in fp32."""
    if method != "lora":
        return "float32"
    if setting != "auto":
        return setting
    device = torch.device(device)
    return "bfloat16" if device.type == "cuda" and use_bf16("auto", device) else "float32"


def kv_cache_kind(setting: str, device: str | torch.device) -> str:
    """``static`` or ``dynamic``; ``auto`` is dynamic. A static cache saves copying the growing cache at every
    step, which paid off on SmolLM2 in bf16 on CPU (319 against 299 tok/s, benchmarks/generation_throughput.py)
    but not in fp32 (equal) nor for tiny models (slower), and on accelerators it would hold every row at its
    longest length (and transformers would compile the model), so it is opt-in."""
    return "dynamic" if setting == "auto" else setting


def numerics(device: str | torch.device, inference_dtype: str, train_bf16: str, kv_cache: str = "auto"
             ) -> dict[str, Any]:
    """What this machine computes in: the inference dtype, whether training autocasts to bf16, and why (the CPU's
    model and bf16 instructions: bf16 results differ between CPUs with different bf16 kernels, e.g. AMX or not),
    and the KV cache of teacher generation."""
    device = torch.device(device)
    return {"device": device.type, "inference_dtype": "bfloat16" if use_bf16(inference_dtype, device) else "float32",
            "kv_cache": kv_cache_kind(kv_cache, device),
            "train_autocast": "bfloat16" if use_bf16(train_bf16, device) else None,
            "cpu_native_bf16": cpu_has_fast_bf16() if device.type == "cpu" else None,
            "cpu_bf16_flags": sorted(f for f in cpu_flags() if f in FAST_BF16_FLAGS) if device.type == "cpu" else None,
            "cpu_model": cpu_model() if device.type == "cpu" else None,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def environment(device: str | torch.device) -> dict[str, Any]:
    """Where a result was computed: versions, device, threads and, on a CPU, its model and kernel capability (fp32
    training differs in its last digits between CPUs' kernels, so the same seed gives the same result on the same
    CPU model)."""
    device = torch.device(device)
    return {"sublearn": __version__, "torch": torch.__version__, "device": str(device),
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "cpu_model": cpu_model() if device.type == "cpu" else None,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
