"""Numerics: bf16 only where the hardware runs it fast, and every manifest says which CPU computed it."""

import pytest

from sublearn.util import devices
from sublearn.util.errors import ConfigError


def test_auto_bf16_follows_the_cpu_flags(monkeypatch):
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert devices.use_bf16("auto", "cpu") is False
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert devices.use_bf16("auto", "cpu") is True
    assert devices.use_bf16("no", "cpu") is False and devices.use_bf16("yes", "cpu") is True


def test_numerics_name_the_cpu_and_its_bf16_instructions(monkeypatch):
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16", "avx512_bf16"}))
    monkeypatch.setattr(devices, "cpu_model", lambda: "Some CPU")
    record = devices.numerics("cpu", "auto", "auto")
    assert record["inference_dtype"] == "bfloat16" and record["train_autocast"] == "bfloat16"
    assert record["cpu_bf16_flags"] == ["amx_bf16", "avx512_bf16"] and record["cpu_model"] == "Some CPU"


def test_a_missing_device_is_a_config_error():
    with pytest.raises(ConfigError, match="device"):
        devices.resolve_device("tpu:9")


def test_the_cpu_bf16_setting_overrides_the_flags_and_names_itself_when_wrong(monkeypatch):
    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    assert not devices.use_bf16("auto", "cpu") and devices.use_bf16("yes", "cpu")
    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    assert devices.use_bf16("auto", "cpu") and not devices.use_bf16("no", "cpu")
    monkeypatch.setenv(devices.CPU_BF16_ENV, "maybe")
    with pytest.raises(ConfigError, match=devices.CPU_BF16_ENV):
        devices.use_bf16("auto", "cpu")
