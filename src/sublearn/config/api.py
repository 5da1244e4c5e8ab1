"""How the ``openai`` backend and API judges reach their server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sublearn.config.base import Settings


class ApiConfig(Settings):
    """An OpenAI-compatible server. The key is read from ``$api_key_env``, never from a file."""

    base_url: str | None = None  # else $OPENAI_BASE_URL, else https://api.openai.com/v1
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(8, ge=0)
    timeout_s: float = Field(120.0, gt=0)
    batch: bool = False  # teacher generation through the Batch API
    poll_s: float = Field(30.0, gt=0)  # how often to poll jobs and batches


class JudgeConfig(Settings):
    """The LLM judge of filters and evaluations: a local model (hf) or one behind an OpenAI-compatible API."""

    model: str
    backend: Literal["hf", "openai"] = "openai"
    api: ApiConfig | None = None
