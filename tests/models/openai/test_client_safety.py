"""Where the OpenAI client sends a key, and which variables a spec may name as one."""

import pytest
from pydantic import ValidationError

from sublearn.config.api import ApiConfig
from sublearn.models.openai.client import make_client
from sublearn.util.errors import ConfigError


@pytest.mark.parametrize("name", ["HOME", "AWS_SECRET_ACCESS_KEY", "PATH", "openai_api_key", "SECRET"])
def test_only_variables_named_like_api_keys_can_be_named(name):
    with pytest.raises(ValidationError, match="is not named like an API key variable"):
        ApiConfig(api_key_env=name)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "TOGETHER_API_KEY", "HF_TOKEN"])
def test_api_key_variables_are_accepted(name):
    assert ApiConfig(api_key_env=name).api_key_env == name


def test_a_key_goes_only_to_approved_hosts(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.delenv("SUBLEARN_API_HOSTS", raising=False)
    with pytest.raises(ConfigError, match=r"evil\.example\.com is not approved"):
        make_client(ApiConfig(base_url="https://evil.example.com/v1"))
    assert make_client(ApiConfig(base_url="http://127.0.0.1:9/v1")).api_key == "sk-x"
    monkeypatch.setenv("SUBLEARN_API_HOSTS", "vllm.lab.internal, Evil.Example.com")
    assert make_client(ApiConfig(base_url="https://evil.example.com/v1")).api_key == "sk-x"


def test_a_server_without_a_key_gets_none_and_bad_urls_are_named(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert make_client(ApiConfig(base_url="http://10.0.0.5:8000/v1")).api_key == "sk-no-key-required"
    with pytest.raises(ConfigError, match=r"api\.api_key_env"):
        make_client(ApiConfig())
    with pytest.raises(ConfigError, match=r"api\.base_url"):
        make_client(ApiConfig(base_url="file:///etc/passwd"))
