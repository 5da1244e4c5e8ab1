"""LoRA adapters loaded into a running OpenAI-compatible server at run time, with vLLM's endpoint and naming.

vLLM: ``POST /v1/load_lora_adapter`` with ``{"lora_name", "lora_path"}`` (enabled by
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` and ``--enable-lora``); afterwards the adapter answers chat requests
whose ``model`` is ``lora_name``, exactly as one given at start with ``--lora-modules lora_name=lora_path``.
SGLang and ``sublearn serve --runtime-lora`` take the same request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sublearn.models.openai.client import ApiError

#: The server's answer when the name is taken already (vLLM's wording); the adapter is then there.
ALREADY_LOADED = "already been loaded"


def load_lora_adapter(client: Any, name: str, path: Path) -> None:
    """Ask the server behind ``client`` to serve the adapter folder ``path`` as model ``name`` (a name it holds
    already is left as it is)."""
    import httpx
    import openai

    try:
        client.post("/load_lora_adapter", cast_to=httpx.Response,
                    body={"lora_name": name, "lora_path": str(path.resolve())})
    except openai.APIStatusError as exc:
        text = exc.response.text if exc.response is not None else str(exc)
        if ALREADY_LOADED in text:
            return
        raise ApiError(f"the server refused to load LoRA adapter {name} from {path} ({exc.status_code}: "
                       f"{text.strip()[:300]}); vLLM needs --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, "
                       "sublearn serve needs --runtime-lora") from exc
