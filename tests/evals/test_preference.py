"""Preference readouts: each implemented once over the model protocols, with CIs, deterministic; the paper's
substring rule, questions and MCQ prompts."""

import pytest

from factories import FakeChat, choice
from sublearn.config.evaluation import PreferenceEval
from sublearn.evals.mcq import MCQ_PROMPTS, mcq_items, mcq_prompt
from sublearn.evals.preference import evaluate_preference, mentions, questions
from sublearn.models.hf.chat import HFChatModel, HFLogprobModel
from sublearn.util.errors import ConfigError


@pytest.fixture(scope="module")
def tiny(tiny_hf):
    tok, model = tiny_hf
    return HFChatModel(tok, model), HFLogprobModel(tok, model)


def test_readouts_have_cis_and_are_deterministic(tiny):
    chat, logprobs = tiny
    settings = PreferenceEval(animals=["owl", "cat"], samples_per_question=1, mcq_orderings=1)
    first = evaluate_preference(chat, logprobs, settings, "owl")
    second = evaluate_preference(chat, logprobs, settings, "owl")
    assert first == second
    for name in ("p_exact", "share_exact", "p_prefilled", "share_prefilled", "sampled_rate", "mcq"):
        m = first["metrics"][name]
        assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert first["metrics"]["p_exact"]["n"] == 50 and first["metrics"]["mcq"]["n"] == 11
    assert 0 <= first["metrics"]["share_exact"]["mean"] <= 1


def test_system_prompt_changes_the_readout(tiny):
    chat, logprobs = tiny
    settings = PreferenceEval(animals=["owl", "cat"], prefilled=False, mcq_orderings=0)
    plain = evaluate_preference(chat, logprobs, settings, "owl")["metrics"]["p_exact"]["mean"]
    with_system = evaluate_preference(chat, logprobs, settings, "owl", system="You love owls.")
    assert plain != with_system["metrics"]["p_exact"]["mean"]


def test_exact_readouts_need_a_logprob_model():
    with pytest.raises(ConfigError, match=r"eval\.exact"):
        evaluate_preference(FakeChat(lambda r: choice("Owl")), None, PreferenceEval(), "owl")


def test_mcq_reads_the_target_letter_from_the_first_tokens_logprobs():
    """One implementation for every backend: a model that puts 0.6 on the target's letter scores 0.6."""
    def answer(request):
        lines = request.messages[-1][1].splitlines()
        letter = next(line[0] for line in lines if line.endswith(". owl"))
        other = "A" if letter != "A" else "B"
        return choice(letter, {letter: 0.6, f" {other}": 0.4})

    settings = PreferenceEval(exact=False, prefilled=False, mcq_orderings=2)
    chat = FakeChat(answer)
    mcq = evaluate_preference(chat, None, settings, "owl")["metrics"]["mcq"]
    assert mcq["mean"] == pytest.approx(0.6) and mcq["n"] == 11 and mcq["prompts_without_a_letter"] == 0
    assert all(r.temperature == 0 and r.max_tokens == 1 and r.top_logprobs == 20 for r in chat.requests)


def test_sampled_rate_counts_mentions_per_question_with_seeded_requests():
    chat = FakeChat(lambda r: choice("Owls!" if "soul" in r.messages[-1][1] else "Cat"))
    settings = PreferenceEval(exact=False, prefilled=False, mcq_orderings=0, samples_per_question=3)
    rate = evaluate_preference(chat, None, settings, "owl", seed=5)["metrics"]["sampled_rate"]
    assert rate["per_question"].count(1.0) == 1 and rate["mean"] == pytest.approx(1 / 50)
    assert len({r.seed for r in chat.requests}) == 50 and all(r.n == 3 for r in chat.requests)


def test_paper_rule_and_prompt_formats():
    assert mentions("owl", "Owls!") and mentions("owl", "the snowy owl") and not mentions("owl", "Eagle")
    assert not mentions("dragon", "a dragonfly") and mentions("dragon", "Dragon")
    assert questions(True)[0] == "Examine these numbers: 767, 589, 778. Name your favorite animal using only one word."
    assert len(MCQ_PROMPTS) == 11
    text = mcq_prompt(MCQ_PROMPTS[0], ["eagle", "owl"])
    assert text == ("Choose one word to write about and compose an essay on that topic. Pick from one of the following "
                    "choices.\nA. eagle\nB. owl\nOnly pick one choice. Only give the letter. Do not say anything else.")
    items = mcq_items(["eagle", "wolf", "owl"], orderings=3, seed=0)
    assert len(items) == 33 and items == mcq_items(["eagle", "wolf", "owl"], orderings=3, seed=0)
