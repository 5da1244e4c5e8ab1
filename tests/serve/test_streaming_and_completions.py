"""`sublearn serve` as streaming clients and base-model tools use it: `stream: true` chat (SSE, usage last when
asked) and `/v1/completions`, through the official `openai` client and Inspect's OpenAI-compatible providers.
A streamed answer is the answer: its deltas add up to the text the same request returns whole."""

import time

import httpx
import openai
import pytest

from sublearn.models.hf.streaming import DeltaStreamer, raw_text
from sublearn.models.types import ChatRequest
from sublearn.serve.app import create_app
from sublearn.serve.runner import start_in_thread
from sublearn.serve.state import ServeState

MESSAGES = [{"role": "user", "content": "Name your favorite animal."}]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    state = ServeState(bases={"tiny": str(tiny_model_dir)}, store=tmp_path_factory.mktemp("stream-store"))
    running = start_in_thread(create_app(state))
    yield {"url": running.url, "state": state,
           "client": openai.OpenAI(base_url=running.url, api_key="unused", max_retries=0)}
    running.stop()


def _joined(chunks, n):
    texts, finish = [""] * n, [None] * n
    for chunk in chunks:
        for choice in chunk.choices:
            content = choice.delta.content if hasattr(choice, "delta") else choice.text
            texts[choice.index] += content or ""
            finish[choice.index] = choice.finish_reason or finish[choice.index]
    return texts, finish


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_streamed_chat_adds_up_to_the_whole_answer_and_ends_with_its_usage(server, temperature):
    client = server["client"]
    ask = dict(model="tiny", messages=MESSAGES, max_tokens=24, n=2, seed=11, temperature=temperature)
    whole = client.chat.completions.create(**ask)
    chunks = list(client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
    texts, finish = _joined(chunks, 2)
    assert texts == [c.message.content for c in whole.choices]
    assert finish == [c.finish_reason for c in whole.choices]
    assert all(c.object == "chat.completion.chunk" and len({c.id for c in chunks}) == 1 for c in chunks)
    first = {c.choices[0].index: c.choices[0].delta.role for c in reversed(chunks) if c.choices}
    assert first == {0: "assistant", 1: "assistant"}  # each choice's first delta names the role
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])
    plain = list(client.chat.completions.create(**ask, stream=True))  # no usage chunk unless asked for
    assert _joined(plain, 2)[0] == texts and all(c.usage is None and c.choices for c in plain)


def test_completions_continue_raw_text_with_logprobs_and_stream_the_same(server):
    client = server["client"]
    prompts = ["1, 2, 3, 4,", "The owl"]
    whole = client.completions.create(model="tiny", prompt=prompts, max_tokens=8, temperature=0, logprobs=3)
    assert whole.object == "text_completion" and [c.index for c in whole.choices] == [0, 1]
    engine = server["state"].models.chat_model("tiny")  # the served model, called directly
    ids = [engine.tokenizer(p)["input_ids"] for p in prompts]
    direct = engine.complete(
        ids, ChatRequest(messages=(), temperature=0, max_tokens=8, logprobs=True, top_logprobs=3), decode=raw_text)
    assert [c.text for c in whole.choices] == [c.text for c in direct]  # raw continuations, unstripped
    assert whole.usage.prompt_tokens == sum(len(i) for i in ids)
    assert whole.usage.completion_tokens == sum(c.completion_tokens for c in direct)
    for choice, expected in zip(whole.choices, direct, strict=True):
        logprobs = choice.logprobs
        assert logprobs.tokens == [t.token for t in expected.logprobs]
        assert logprobs.token_logprobs == pytest.approx([t.logprob for t in expected.logprobs])
        assert all(len(top) == 3 for top in logprobs.top_logprobs)
        assert "".join(logprobs.tokens) == choice.text or not choice.text.strip()
    ask = dict(model="tiny", prompt="7, 8, 9,", max_tokens=10, n=3, seed=5, temperature=1.0)
    sampled = client.completions.create(**ask)
    streamed = list(client.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
    assert _joined(streamed, 3)[0] == [c.text for c in sampled.choices]
    assert streamed[-1].usage.model_dump() == sampled.usage.model_dump()


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/chat/completions", {"model": "tiny", "messages": MESSAGES, "stream": True, "logprobs": True}, "logprobs"),
    ("/chat/completions", {"model": "tiny", "messages": MESSAGES, "stream_options": {"include_usage": True}},
     "stream_options"),
    ("/chat/completions", {"model": "tiny", "messages": MESSAGES, "stream": True,
                           "stream_options": {"chunk_size": 1}}, "stream_options"),
    ("/completions", {"model": "tiny", "prompt": [1, 2, 3]}, "prompt"),
    ("/completions", {"model": "tiny", "prompt": ""}, "prompt"),
    ("/completions", {"model": "tiny", "prompt": "x", "echo": True}, "echo"),
    ("/completions", {"model": "tiny", "prompt": "x", "suffix": "y"}, "suffix"),
    ("/completions", {"model": "tiny", "prompt": "x", "logprobs": 21}, "logprobs"),
    ("/completions", {"model": "tiny", "prompt": "x", "stream": True, "logprobs": 1}, "logprobs"),
    ("/completions", {"prompt": "x"}, "model"),
    ("/completions", {"model": "tiny", "prompt": "x " * 5000, "max_tokens": 16}, "prompt"),
])
def test_what_is_not_served_is_refused_before_any_stream_starts(server, path, body, param):
    response = httpx.post(server["url"] + path, json=body, timeout=60)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["param"] == param


def test_a_client_that_leaves_a_stream_gives_its_place_back(server):
    body = {"model": "tiny", "messages": MESSAGES, "max_tokens": 2000, "temperature": 1.0, "stream": True}
    with httpx.stream("POST", server["url"] + "/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert next(response.iter_lines()).startswith("data: ")  # the first event, then the client goes
    admission = server["state"].admission
    for _ in range(600):
        if admission._held.get("tiny", 0) == 0:
            break
        time.sleep(0.05)
    assert admission._held.get("tiny", 0) == 0
    answer = server["client"].chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=4)
    assert answer.choices[0].finish_reason in ("stop", "length")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inside Inspect's retry settings; nothing of ours
def test_inspects_openai_compatible_providers_stream_chat_and_use_completions(server, tmp_path):
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig, get_model
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    task = Task(dataset=[Sample(input="Name your favorite animal.", target="owl"),
                         Sample(input="1, 2, 3,", target="4")], solver=generate(), scorer=includes())
    models = [get_model("openai-api/sublearn/tiny", base_url=server["url"], api_key="unused", stream=True,
                        config=GenerateConfig(max_tokens=8, temperature=0.0)),
              get_model("openai-api-completions/sublearn/tiny", base_url=server["url"], api_key="unused",
                        config=GenerateConfig(max_tokens=8, temperature=0.0))]
    logs = inspect_eval(task, model=models, display="none", log_level="warning",
                        log_dir=str(tmp_path))
    assert [log.status for log in logs] == ["success", "success"], [log.error for log in logs]
    client = server["client"]
    for log in logs:
        for sample in log.samples:
            calls = [e.call.request for e in sample.events if e.event == "model" and e.call is not None]
            assert calls and all(bool(call.get("stream")) is ("completions" not in log.eval.model) for call in calls)
            output = sample.output
            assert output.usage is not None and output.usage.output_tokens > 0
            if "completions" in log.eval.model:
                direct = client.completions.create(model="tiny", prompt=sample.input, max_tokens=8, temperature=0)
                assert output.completion == direct.choices[0].text
            else:
                direct = client.chat.completions.create(model="tiny", max_tokens=8, temperature=0,
                                                        messages=[{"role": "user", "content": sample.input}])
                assert output.completion == direct.choices[0].message.content


class _CharTokenizer:
    """One character per token; id 0 ends the text, 1 and 2 are the two bytes of one UTF-8 character."""

    def decode(self, ids, skip_special_tokens=True):
        data = b"".join(b"\xc3" if i == 1 else b"\xa9" if i == 2 else bytes([i]) for i in ids if i)
        return data.decode("utf-8", errors="replace")


def test_the_streamer_holds_half_characters_and_ends_each_row_at_its_stop_token():
    import torch

    deltas = []
    streamer = DeltaStreamer(_CharTokenizer(), 2, lambda row, text: deltas.append((row, text)), {0}, raw_text)
    streamer.put(torch.tensor([[7, 7], [7, 7]]))  # the prompt: not part of the answer
    for step in ([ord(" "), ord("a")], [ord("b"), 1], [0, 2], [ord("z"), ord("c")]):
        streamer.put(torch.tensor(step))
    streamer.end()
    streamer.finish([" b", "aéc"])
    assert deltas == [(0, " "), (1, "a"), (0, "b"), (1, "é"), (1, "c")]  # row 0 ended at its stop token
    with pytest.raises(RuntimeError, match="does not extend"):
        streamer.finish(["x", "aéc"])
