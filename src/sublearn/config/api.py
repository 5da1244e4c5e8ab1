"""How the ``openai`` backend and API judges reach their server."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from sublearn.util.settings import Settings

#: An API key's variable: capitals, digits and underscores, ending in _API_KEY or _TOKEN (so a spec cannot have,
#: say, $HOME or $AWS_SECRET_ACCESS_KEY sent to a server: only a variable named like an API key is ever read).
KEY_ENV_PATTERN = r"^[A-Z][A-Z0-9_]*_(API_KEY|TOKEN)$"


class ApiConfig(Settings):
    """An OpenAI-compatible server. The key is read from ``$api_key_env``, never from a file, and only sent to
    OpenAI, this machine, or hosts the user approved in ``$SUBLEARN_API_HOSTS``."""

    base_url: str | None = None  # else $OPENAI_BASE_URL, else https://api.openai.com/v1
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1, le=256)
    max_retries: int = Field(8, ge=0, le=50)
    timeout_s: float = Field(120.0, gt=0)
    batch: bool = False  # teacher generation through the Batch API
    poll_s: float = Field(30.0, gt=0)  # how often to poll jobs and batches
    poll_timeout_s: float = Field(48 * 3600.0, gt=0)  # the longest a job or batch is waited for

    @field_validator("api_key_env")
    @classmethod
    def _named_like_a_key(cls, name: str) -> str:
        if not re.match(KEY_ENV_PATTERN, name):
            raise ValueError(f"{name!r} is not named like an API key variable (capitals, ending in _API_KEY or "
                             "_TOKEN, e.g. OPENAI_API_KEY); no other variable is ever sent to a server")
        return name


class JudgeConfig(Settings):
    """The LLM judge of filters and evaluations: a local model (hf) or one behind an OpenAI-compatible API."""

    model: str
    backend: Literal["hf", "openai"] = "openai"
    api: ApiConfig | None = None


#: Stages whose model calls an inference server can take over from a local backend.
SERVED_STAGES = ("generate", "evaluate")


class InferenceServer(Settings):
    """Teacher generation and evaluations through an OpenAI-compatible server (vLLM, SGLang, the llama.cpp server,
    ``sublearn serve``) while fine-tuning stays local (``backend: hf``).

    The reference is asked for by its name on the server (``served_names``, else the spec's ``reference``). A LoRA
    fine-tune made by the run is loaded into the server as an adapter named after its artifact
    (``sublearn-teacher-<key>``), through vLLM's runtime endpoint ``POST /v1/load_lora_adapter`` (start vLLM with
    ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``; ``sublearn serve`` with ``--runtime-lora``); the
    adapter's folder must be readable by the server at the same path. Exact readouts stay local: a server gives
    at most 20 top logprobs per position.
    """

    api: ApiConfig = Field(default_factory=ApiConfig)
    stages: list[Literal["generate", "evaluate"]] = Field(default_factory=lambda: list(SERVED_STAGES), min_length=1)
    served_names: dict[str, str] = Field(default_factory=dict)  # local model name -> its name on the server
