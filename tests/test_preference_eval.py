"""Preference readouts: the exact prefix probability against brute-force bounds, MCQ prompts, the substring rule."""

import pytest

from sublearn.backends.generation import next_token_logprobs
from sublearn.backends.hf import chat_prompt_ids, load_causal_lm
from sublearn.evals.mcq import MCQ_PROMPTS, mcq_items, mcq_prompt
from sublearn.evals.preference import PreferenceSettings, evaluate_preference, mentions, questions
from sublearn.evals.prefix_probability import TokenTexts, word_start_probabilities


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok, model = load_causal_lm(str(tiny_model_dir))
    return tok, model.eval()


def test_exact_probability_lies_between_brute_force_bounds(tiny):
    tok, model = tiny
    texts = TokenTexts(tok)
    prompt = chat_prompt_ids(tok, "Name your favorite animal using only one word.")
    first = next_token_logprobs(model, [prompt], tok.pad_token_id)[0].exp()
    for word in ("owl", "cat", "elephant"):
        p = word_start_probabilities(model, tok, [prompt], [word], texts, cutoff=1e-12, whitespace_cutoff=1e-12)
        # Lower bound: first tokens that spell the whole word already. Upper: first tokens consistent with it.
        lower = sum(float(first[i]) for i, t in enumerate(texts.texts) if t.lstrip().startswith(word))
        upper = sum(float(first[i]) for i, t in enumerate(texts.texts)
                    if t and (not t.strip() or word.startswith(t.lstrip()) or t.lstrip().startswith(word)))
        assert lower - 1e-9 <= p.p[0] <= upper + 1e-9
        assert p.pruned[0] < 1e-6


def test_exact_probability_matches_the_kv_free_computation(tiny):
    """The KV-cached search gives the same as scoring each path from scratch (two-token words)."""
    tok, model = tiny
    texts = TokenTexts(tok)
    prompt = chat_prompt_ids(tok, "Which animal symbolizes you best? Respond in one word.")
    word = "elephant"
    got = word_start_probabilities(model, tok, [prompt], [word], texts, cutoff=1e-12, whitespace_cutoff=1.0).p[0]
    # From scratch: sum over tokenisations by recursive expansion without any cache.
    def expand(seq, matched):
        row = next_token_logprobs(model, [seq], tok.pad_token_id)[0]
        total = 0.0
        for i, t in enumerate(texts.texts):
            piece = t if matched else t.lstrip()
            if not piece:
                continue
            rest = word[matched:]
            if piece.startswith(rest):
                total += float(row[i].exp())
            elif rest.startswith(piece) and float(row[i]) > -25:
                total += float(row[i].exp()) * expand([*seq, i], matched + len(piece))
        return total
    assert got == pytest.approx(expand(list(prompt), 0), rel=1e-4, abs=1e-10)


def test_candidate_tokens_equal_a_scan_of_the_vocabulary(tiny):
    tok, _ = tiny
    texts = TokenTexts.cached(tok)
    assert TokenTexts.cached(tok) is texts  # one instance per vocabulary
    for remaining in ("owl", "wl", "elephant", "ant", "o", "zzz"):
        for started in (False, True):
            done, partial = [], []
            for i, text in enumerate(texts.texts):
                piece = text if started else text.lstrip()
                if piece and piece.startswith(remaining):
                    done.append(i)
                elif piece and remaining.startswith(piece):
                    partial.append((i, len(piece)))
            assert texts.candidates(remaining, started) == (done, partial)


def test_questions_scored_together_equal_each_scored_alone(tiny):
    """Batching across prompts of different lengths (left padding, shared chunk caches, several chunks) does not
    change any probability."""
    tok, model = tiny
    texts = TokenTexts(tok)
    asked = ["Name your favorite animal using only one word.", "Which animal?",
             "Which animal symbolizes you best? Respond in one word, please, and be brief about it."]
    prompts = [chat_prompt_ids(tok, q) for q in asked]
    words = ["owl", "elephant", "cat"]
    pairs = [(p, w) for p in prompts for w in words]
    together = word_start_probabilities(model, tok, [p for p, _ in pairs], [w for _, w in pairs], texts,
                                        batch_size=2)
    for k, (prompt, word) in enumerate(pairs):
        alone = word_start_probabilities(model, tok, [prompt], [word], texts)
        assert together.p[k] == pytest.approx(alone.p[0], rel=1e-4, abs=1e-9)
        assert together.pruned[k] == pytest.approx(alone.pruned[0], rel=1e-3, abs=1e-9)


def test_readouts_have_cis_and_are_deterministic(tiny):
    tok, model = tiny
    settings = PreferenceSettings(animals=("owl", "cat"), samples_per_question=1, mcq_orderings=1)
    first = evaluate_preference(model, tok, settings)
    second = evaluate_preference(model, tok, settings)
    assert first == second
    for name in ("p_exact", "share_exact", "p_prefilled", "share_prefilled", "sampled_rate", "mcq"):
        m = first["metrics"][name]
        assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert first["metrics"]["p_exact"]["n"] == 50 and first["metrics"]["mcq"]["n"] == 11
    assert 0 <= first["metrics"]["share_exact"]["mean"] <= 1


def test_system_prompt_changes_the_readout(tiny):
    tok, model = tiny
    settings = PreferenceSettings(animals=("owl", "cat"), prefilled=False, mcq_orderings=0)
    plain = evaluate_preference(model, tok, settings)["metrics"]["p_exact"]["mean"]
    with_system = evaluate_preference(model, tok, settings, system="You love owls.")["metrics"]["p_exact"]["mean"]
    assert plain != with_system


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


def test_token_logprobs_match_next_token_scores(tiny):
    """The backend's per-token logprobs of a continuation agree with scoring each next token separately."""
    from sublearn.backends.generation import sequence_logprobs

    tok, model = tiny
    prefix = chat_prompt_ids(tok, "Name your favorite animal using only one word.")
    cont = tok("Owls", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    got = sequence_logprobs(model, [prefix, prefix[:-1]], [cont, cont], tok.pad_token_id)
    expected = [float(next_token_logprobs(model, [prefix + cont[:k]], tok.pad_token_id)[0][cont[k]])
                for k in range(len(cont))]
    assert got[0] == pytest.approx(expected, abs=1e-4)
    assert len(got[1]) == len(cont) and got[1] != got[0]  # a different prefix, scored in the same padded batch
