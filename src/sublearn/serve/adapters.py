"""The LoRA adapters ``sublearn serve`` answers for, named as vLLM names them: given at start
(``--lora-modules NAME=PATH``, or vLLM's JSON form) or loaded at run time (``POST /v1/load_lora_adapter`` with
``{"lora_name", "lora_path"}``, when the server was started with ``--runtime-lora``). An adapter applies to the
base named with it, else to the server's first model, as in vLLM (one base per server)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sublearn.serve.errors import ServeError


@dataclass(frozen=True)
class Adapter:
    """One served adapter: its folder and the served base it applies to."""

    name: str
    path: Path
    base: str


def parse_lora_module(text: str) -> tuple[str, str, str | None]:
    """``NAME=PATH`` or vLLM's ``{"name": ..., "path": ..., "base_model_name": ...}`` → (name, path, base)."""
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
            return str(doc["name"]), str(doc["path"]), doc.get("base_model_name")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"--lora-modules {text!r}: give NAME=PATH or JSON with name and path") from exc
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--lora-modules {text!r}: give NAME=PATH")
    return name.strip(), path.strip(), None


@dataclass
class AdapterRegistry:
    """Served adapters by name; ``runtime`` allows clients to add and remove them."""

    bases: list[str]
    runtime: bool = False
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str) -> Adapter | None:
        """The adapter served as ``name``, if any."""
        return self._adapters.get(name)

    def names(self) -> list[str]:
        """Every adapter's served name."""
        return list(self._adapters)

    def add(self, name: str, path: str, base: str | None = None, from_client: bool = False) -> Adapter:
        """Serve the adapter folder ``path`` as ``name`` (on ``base``, else the first served model)."""
        if from_client and not self.runtime:
            raise ServeError(404, "load_lora_adapter: runtime LoRA loading is off; start sublearn serve with "
                                  "--runtime-lora", None, "not_found")
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise ServeError(400, f"lora_path: {path} is not a LoRA adapter folder (no adapter_config.json)",
                             "lora_path")
        base = base or self.bases[0]
        if base not in self.bases:
            raise ServeError(400, f"base_model_name: {base!r} is not served here ({', '.join(self.bases)})",
                             "base_model_name")
        with self._lock:
            if name in self.bases or name in self._adapters:
                raise ServeError(400, f"The lora adapter '{name}' has already been loaded.", "lora_name")
            adapter = Adapter(name, folder.resolve(), base)
            self._adapters[name] = adapter
            return adapter

    def remove(self, name: str) -> Adapter:
        """Stop serving ``name``."""
        if not self.runtime:
            raise ServeError(404, "unload_lora_adapter: runtime LoRA loading is off (--runtime-lora)", None,
                             "not_found")
        with self._lock:
            adapter = self._adapters.pop(name, None)
        if adapter is None:
            raise ServeError(404, f"The lora adapter '{name}' cannot be found.", "lora_name", "not_found")
        return adapter

    def body_name(self, body: dict[str, Any]) -> str:
        """The ``lora_name`` of a load or unload request."""
        name = body.get("lora_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise ServeError(400, "lora_name: give the adapter's name (a string)", "lora_name")
        return name
