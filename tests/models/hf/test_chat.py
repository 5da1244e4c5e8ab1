"""The local chat engine behind `sublearn serve`: logprobs equal a forward pass, seeded sampling is reproducible
whatever else uses torch's random numbers, and a stop request ends generation."""

import torch

from sublearn.models.hf.chat import HFChatModel
from sublearn.models.types import ChatRequest

MESSAGES = (("user", "Name an animal."),)


def test_greedy_logprobs_equal_a_forward_pass(tiny_hf):
    tok, model = tiny_hf
    engine = HFChatModel(tok, model)
    request = ChatRequest(MESSAGES, temperature=0, max_tokens=5, logprobs=True, top_logprobs=3)
    choice = engine.chat(request)[0]
    ids = engine.prompt_ids(request)
    assert len(choice.logprobs) == choice.completion_tokens > 0
    sequence = list(ids)
    with torch.no_grad():
        for step in choice.logprobs:
            logp = torch.log_softmax(model(torch.tensor([sequence])).logits[0, -1].float(), -1)
            best = int(logp.argmax())
            assert abs(step.logprob - float(logp[best])) < 1e-4
            assert step.top[0][0] == tok.decode([best])
            assert abs(step.top[0][1] - float(logp[best])) < 1e-4 and len(step.top) == 3
            sequence.append(best)


def test_a_seeded_sample_does_not_depend_on_the_global_generator(tiny_hf):
    tok, model = tiny_hf
    engine = HFChatModel(tok, model)
    request = ChatRequest(MESSAGES, temperature=1.0, max_tokens=8, seed=7, n=2)
    torch.manual_seed(0)
    first = [c.text for c in engine.chat(request)]
    torch.manual_seed(12345)
    torch.rand(1000)  # someone else (a training job) draws numbers in between
    engine.chat(ChatRequest(MESSAGES, temperature=1.0, max_tokens=8))
    again = [c.text for c in engine.chat(request)]
    assert first == again
    state = torch.random.get_rng_state()
    engine.chat(request)
    assert torch.equal(state, torch.random.get_rng_state())  # a seeded request leaves the global state alone


def test_a_stop_request_ends_generation_early(tiny_hf):
    tok, model = tiny_hf
    engine = HFChatModel(tok, model)
    choice = engine.chat(ChatRequest(MESSAGES, temperature=1.0, max_tokens=200, seed=1), stop=lambda: True)[0]
    assert choice.completion_tokens <= 2
