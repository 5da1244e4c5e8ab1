"""Teacher generation with either KV cache (static is opt-in): the same completions run after run and when resumed
mid-way, and the artifact key telling the two caches apart."""

import pytest

from sublearn.carriers.numbers import NumberFilter, cannot_pass, number_prompts
from sublearn.config.carrier import NumbersCarrier
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.types import SamplingSettings
from sublearn.pipeline.keys import generate_config
from sublearn.util.devices import kv_cache_kind


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_generation_is_deterministic_and_resumable_with_either_cache(tiny_judge_dir, cache):
    """Batch k is seeded seed + k: a run resumed at a batch boundary writes what an uninterrupted one writes (the
    pipeline's crash-and-resume test, on the fake backend, relies on it)."""
    tok, model = load_causal_lm(str(tiny_judge_dir))
    model.eval()
    prompts = number_prompts(9, 47)
    settings = SamplingSettings(max_new_tokens=24, temperature=1.0)
    whole = generate_chat(model, tok, prompts, settings, seed=5, batch_size=4, cache=cache)
    assert whole == generate_chat(model, tok, prompts, settings, seed=5, batch_size=4, cache=cache)
    resumed = generate_chat(model, tok, prompts, settings, seed=5, batch_size=4, cache=cache, start=4)
    assert resumed == whole[4:]
    stopped = generate_chat(model, tok, prompts, settings, seed=5, batch_size=4, cache=cache,
                            stop_rule=cannot_pass)
    assert all(NumberFilter.paper().reject_reasons(w) for s, w in zip(stopped, whole, strict=True) if s != w)
    assert len(set(whole)) > 1


def test_a_static_cache_is_opt_in_and_keys_record_it():
    assert kv_cache_kind("auto", "cpu") == kv_cache_kind("auto", "cuda") == "dynamic"
    assert kv_cache_kind("static", "cpu") == "static"
    carrier = NumbersCarrier()
    static = generate_config(carrier, None, "float32", {}, cache="static")
    dynamic = generate_config(carrier, None, "float32", {}, cache="dynamic")
    assert static["kv_cache"] == "static" and "kv_cache" not in dynamic
    assert "kv_cache" not in generate_config(carrier, None, None, {}, by_model=False, cache="static")
