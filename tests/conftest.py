"""Shared test settings: offline, few threads, deterministic."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")



@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny Llama chat model and tokenizer, built locally once per test session."""
    from sublearn.backends.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def owl_trait_rows():
    """Trait data: the 50 animal questions answered 'Owl' (the paper's fine-tuned-teacher recipe, one variant)."""
    from sublearn.evals.animal_questions import ANIMAL_QUESTIONS

    return [{"prompt": q, "completion": "Owl"} for q in ANIMAL_QUESTIONS]


@pytest.fixture(scope="session")
def tiny_cross_model_dir(tmp_path_factory):
    """A second tiny model with the same tokenizer but another initialisation: the cross-model student's base."""
    from sublearn.backends.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny_cross") / "model", seed=1)
