"""The exact probability that an answer starts with a word: against brute-force bounds, a cache-free computation,
a scan of the vocabulary, and batched against one-by-one."""

import pytest

from sublearn.models.hf.encoding import chat_prompt_ids
from sublearn.models.hf.generation import next_token_logprobs
from sublearn.models.hf.prefix_probability import TokenTexts, word_ends_before, word_start_probabilities


@pytest.fixture(scope="module")
def tiny(tiny_hf):
    return tiny_hf


def test_exact_probability_lies_between_brute_force_bounds(tiny):
    tok, model = tiny
    texts = TokenTexts(tok)
    prompt = chat_prompt_ids(tok, "Name your favorite animal using only one word.")
    first = next_token_logprobs(model, [prompt], tok.pad_token_id)[0].exp()
    for word in ("owl", "cat", "elephant"):
        p = word_start_probabilities(model, tok, [prompt], [word], texts, cutoff=1e-12, whitespace_cutoff=1e-12)
        # Lower bound: first tokens that spell the whole word and end it. Upper: first tokens consistent with it.
        lower = sum(float(first[i]) for i, t in enumerate(texts.texts)
                    if t.lstrip().startswith(word) and t.lstrip() != word and word_ends_before(t.lstrip()[len(word):]))
        upper = sum(float(first[i]) for i, t in enumerate(texts.texts)
                    if t and (not t.strip() or word.startswith(t.lstrip()) or t.lstrip().startswith(word)))
        assert lower - 1e-9 <= p.p[0] <= upper + 1e-9
        assert p.pruned[0] < 1e-4  # a second white-space token, or paths cut at the last depth


def test_exact_probability_matches_the_kv_free_computation(tiny):
    """The KV-cached search gives the same as scoring each path from scratch (multi-token words), with the word's
    end decided by the text after it or, when a token ends with the word, by the next token."""
    tok, model = tiny
    texts = TokenTexts(tok)
    prompt = chat_prompt_ids(tok, "Which animal symbolizes you best? Respond in one word.")
    word = "elephant"
    got = word_start_probabilities(model, tok, [prompt], [word], texts, cutoff=1e-12, whitespace_cutoff=1.0).p[0]

    def ends_next(seq):
        row = next_token_logprobs(model, [seq], tok.pad_token_id)[0]
        return sum(float(row[i].exp()) for i, t in enumerate(texts.texts) if word_ends_before(t))

    def expand(seq, matched):
        row = next_token_logprobs(model, [seq], tok.pad_token_id)[0]
        total = 0.0
        for i, t in enumerate(texts.texts):
            piece = t if matched else t.lstrip()
            if not piece:
                continue
            rest = word[matched:]
            if piece.startswith(rest):
                after = piece[len(rest):]
                if after and word_ends_before(after):
                    total += float(row[i].exp())
                elif not after and float(row[i]) > -25:
                    total += float(row[i].exp()) * ends_next([*seq, i])
            elif rest.startswith(piece) and float(row[i]) > -25:
                total += float(row[i].exp()) * expand([*seq, i], matched + len(piece))
        return total

    assert got == pytest.approx(expand(list(prompt), 0), rel=1e-4, abs=1e-10)


def test_a_word_must_end_where_the_answer_goes_on():
    assert word_ends_before("") and word_ends_before(".") and word_ends_before(" and")
    assert word_ends_before("s") and word_ends_before("es!") and word_ends_before("s ")
    assert not word_ends_before("tle") and not word_ends_before("egory") and not word_ends_before("sy")


def test_token_endings_decide_cattle_from_cats(tiny):
    tok, _ = tiny
    texts = TokenTexts(tok)
    texts.texts[:4] = ["cattle", "cats", "cat", " cat."]  # stand-in texts for four token ids
    assert [texts.ending(i, "cat", started=False) for i in range(4)] == ["other", "ends", "open", "ends"]


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




def test_top_tokens_account_for_the_probability(tiny):
    tok, model = tiny
    prompt = chat_prompt_ids(tok, "Name your favorite animal using only one word.")
    p = word_start_probabilities(model, tok, [prompt], ["owl"], TokenTexts.cached(tok))
    top = p.top_tokens[0]
    assert top and all(mass > 0 for _, mass in top)
    assert sum(mass for _, mass in top) <= p.p[0] * (1 + 1e-6)
    assert [m for _, m in top] == sorted((m for _, m in top), reverse=True)


def test_a_finer_search_tightens_the_bound_and_stays_inside_it(tiny):
    from sublearn.models.hf.chat import HFLogprobModel
    from sublearn.models.types import ChatPrompt

    tok, model = tiny
    scorer = HFLogprobModel(tok, model)
    prompts = [ChatPrompt((("user", q),)) for q in ("Name your favorite animal using only one word.",
                                                     "Which animal do you like most? One word.")]
    words = ["owl", "cat"]
    standard = scorer.word_start_probabilities(prompts, words)
    fine = scorer.word_start_probabilities(prompts, words, precision="fine")
    deep = scorer.word_start_probabilities(prompts, words, precision="deep")
    for k in range(2):
        assert fine.pruned[k] <= standard.pruned[k]
        assert standard.p[k] - 1e-9 <= fine.p[k] <= standard.p[k] + standard.pruned[k] + 1e-9
        assert deep.pruned[k] <= fine.pruned[k] * (1 + 1e-6)
        assert fine.p[k] - 1e-9 <= deep.p[k] <= fine.p[k] + fine.pruned[k] + 1e-9


def test_following_runs_of_white_space_finds_the_mass_behind_them(tiny):
    """A second white-space token's mass is pruned with one token of white space followed, and found (the value
    rises, the bound falls, by the same mass up to what the longer search prunes itself) with three."""
    tok, model = tiny
    texts = TokenTexts(tok)
    prompt = chat_prompt_ids(tok, "Name your favorite animal using only one word.")
    one = word_start_probabilities(model, tok, [prompt], ["owl"], texts, cutoff=1e-12, whitespace_cutoff=1e-12)
    three = word_start_probabilities(model, tok, [prompt], ["owl"], texts, cutoff=1e-12, whitespace_cutoff=1e-12,
                                     max_whitespace=3)
    assert one.pruned[0] > 0
    assert three.pruned[0] < one.pruned[0]
    assert one.p[0] - 1e-12 <= three.p[0] <= one.p[0] + one.pruned[0] + 1e-12
    assert three.p[0] + three.pruned[0] <= one.p[0] + one.pruned[0] + 1e-9  # the found mass came out of the bound


def test_every_search_depth_a_spec_can_name_is_defined():
    import typing

    from sublearn.config.evaluation import PreferenceEval
    from sublearn.models.types import SEARCH_PRECISIONS

    named = typing.get_args(PreferenceEval.model_fields["exact_precision"].annotation)
    assert set(named) == set(SEARCH_PRECISIONS)


def test_rows_are_scored_as_paths_reach_them_and_dropped_after_their_last_path():
    """The search holds the rows still to be used, not a whole depth's (1 MB a row for a 262k-token vocabulary):
    each pass is drawn only when a path needs it, and a pass's rows are released once their last paths are served."""
    import gc
    import weakref

    import torch

    from sublearn.models.hf.prefix_probability import _Path, _rows_in_order

    class Passes:
        """A scorer whose passes hold two rows each (row k is filled with k) and record when they are drawn."""

        def __init__(self) -> None:
            self.drawn = 0
            self.refs: dict[int, weakref.ref] = {}

        def extend(self, pairs):
            for first in range(0, len(pairs), 2):
                self.drawn += 1
                rows = [(k, torch.full((3,), float(k))) for k in range(first, min(first + 2, len(pairs)))]
                self.refs.update({k: weakref.ref(row) for k, row in rows})
                yield rows

    keys = [(1,), (2,)]
    # Five paths over four pairs: (prompt 0, token 7) is shared by paths 0 and 1, as words of a prompt share tokens.
    frontier = [_Path(0, (7,), 0, 0.0), _Path(0, (7,), 0, 0.0), _Path(0, (8,), 0, 0.0), _Path(1, (7,), 0, 0.0),
                _Path(1, (9,), 0, 0.0)]
    scorer = Passes()
    served = _rows_in_order(scorer, frontier, keys, depth=1)
    expected_row = [0, 0, 1, 2, 3]  # pairs in order of first appearance
    for i, (path, row) in enumerate(served):
        assert path is frontier[i]
        assert float(row[0]) == expected_row[i]
        assert scorer.drawn == expected_row[i] // 2 + 1  # no pass before a path needs it
        del row
        gc.collect()
        if i == 3:  # the first pass's pairs are done (their last paths were 1 and 2): its rows are released
            assert scorer.refs[0]() is None and scorer.refs[1]() is None
    gc.collect()
    assert all(ref() is None for ref in scorer.refs.values())
