"""Training local, generation and sampled evaluations through an inference server: `sublearn serve` stands in for
vLLM, with LoRA adapters loaded at run time under vLLM's endpoint and naming."""

import json

import pytest
import yaml

from factories import LIGHT_EVAL, LIGHT_TRAIN, NO_CONTROLS, spec_doc
from sublearn.config.grid import expand_grid
from sublearn.models.hf.chat import HFChatModel
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.types import ChatRequest
from sublearn.pipeline.grid import run_grid
from sublearn.serve.adapters import AdapterRegistry
from sublearn.serve.app import create_app
from sublearn.serve.runner import start_in_thread
from sublearn.serve.state import ServeState
from sublearn.util.errors import ConfigError


class Counting:
    """ASGI middleware that counts requests per path."""

    def __init__(self, app):
        self.app, self.counts = app, {}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.counts[scope["path"]] = self.counts.get(scope["path"], 0) + 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory):
    state = ServeState(bases={"tiny-served": str(tiny_model_dir)}, store=tmp_path_factory.mktemp("engine"),
                       adapters=AdapterRegistry(["tiny-served"], runtime=True))
    counting = Counting(create_app(state))
    running = start_in_thread(counting)
    yield {"url": running.url, "state": state, "counts": counting.counts}
    running.stop()


def _doc(tiny_model_dir, url, **over):
    sections = dict(name="served-owl",
                    trait={"kind": "fine_tuned", "target": "owl", "questions": "half",
                           "teacher_training": {**LIGHT_TRAIN, "method": "lora", "lr": 3e-3}},
                    carrier={"n_prompts": 16, "batch_size": 8, "max_new_tokens": 16, "filter": {"max_examples": 8}},
                    train=LIGHT_TRAIN, eval={**LIGHT_EVAL, "questions": "held_out", "max_new_tokens": 4},
                    controls={**NO_CONTROLS, "placebo": True},
                    inference_server={"api": {"base_url": url, "concurrency": 2},
                                      "served_names": {str(tiny_model_dir): "tiny-served"}})
    return spec_doc(tiny_model_dir, **{**sections, **over})


def test_teacher_data_and_sampled_answers_come_from_the_server_training_stays_local(engine, tiny_model_dir,
                                                                                      tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cells = expand_grid(_doc(tiny_model_dir, engine["url"]))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    artifacts = tmp_path / "artifacts"
    generated = [json.loads(p.read_text()) for p in artifacts.glob("generate/*/manifest.json")]
    assert len(generated) == 2 and all(m["config"]["inference_server"] == engine["url"] for m in generated)
    # Both teachers were trained here and loaded into the server as adapters, under their artifacts' names.
    teachers = sorted(p.parent for p in artifacts.glob("teacher/*/manifest.json"))
    names = set(engine["state"].adapters.names())
    for folder in teachers:
        assert f"sublearn-teacher-{folder.name[:16]}" in names
        assert (folder / "model" / "adapter_config.json").is_file()
    assert any(n.startswith("sublearn-train-") for n in names)  # students evaluated through the server
    assert engine["counts"]["/v1/load_lora_adapter"] == len(names)
    assert engine["counts"]["/v1/chat/completions"] >= 2 * 16  # every teacher prompt went to the server
    evaluated = [json.loads(p.read_text()) for p in artifacts.glob("evaluate/*/manifest.json")]
    assert evaluated and all(m["config"]["inference_server"] == engine["url"] for m in evaluated)
    # exact readouts computed locally beside the sampled ones
    assert all({"p_exact", "sampled_rate"} <= set(m["metrics"]) for m in evaluated)
    # The served adapter is the fine-tune itself: greedy answers equal the local model's.
    name = f"sublearn-teacher-{teachers[0].name[:16]}"
    request = ChatRequest.user("Name your favourite animal.", temperature=0, max_tokens=8)
    served = engine["state"].models.chat_model(name).chat(request)[0].text
    tok, model = load_causal_lm(str(teachers[0] / "model"))
    assert served == HFChatModel(tok, model.eval()).chat(request)[0].text


def test_a_server_refuses_adapters_unless_runtime_loading_is_on(tiny_model_dir, tmp_path):
    registry = AdapterRegistry(["tiny"])
    with pytest.raises(Exception, match="--runtime-lora"):
        registry.add("x", str(tmp_path), from_client=True)


def test_stages_that_need_whole_models_are_refused_with_the_field(tiny_model_dir):
    doc = _doc(tiny_model_dir, "http://127.0.0.1:1/v1", train={**LIGHT_TRAIN, "method": "full"})
    with pytest.raises(ConfigError, match=r"train\.method full"):
        expand_grid(yaml.safe_load(yaml.safe_dump(doc)))
    doc = _doc(tiny_model_dir, "http://127.0.0.1:1/v1", backend="openai",
               eval={**LIGHT_EVAL, "questions": "held_out", "exact": False})
    with pytest.raises(ConfigError, match="only with backend hf"):
        expand_grid(doc)
