"""The numbers carrier's stop rule: it fires only on completions the filter must reject whatever follows, and
stopping those rows early leaves every other row of the batch as it was."""

import random

from sublearn.carriers.numbers import NumberFilter, cannot_pass, number_prompts
from sublearn.models.hf.generation import StopWhenRejected, completion_text, generate_chat
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.types import SamplingSettings

ALPHABET = "0123456789" * 3 + ",;.[]() \n" * 2 + "ab\u00a0-"


def test_a_prefix_that_cannot_pass_has_no_passing_continuation():
    rng = random.Random(0)
    flt = NumberFilter.paper()
    fired = passed = 0
    for _ in range(20000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40)))
        ok = not flt.reject_reasons(text)
        passed += ok
        for cut in range(1, len(text) + 1):
            if cannot_pass(text[:cut]):
                fired += 1
                assert not ok, f"{text!r} passes the filter, yet its prefix {text[:cut]!r} was declared dead"
                break
    assert fired > 1000 and passed > 100  # both sides of the rule were exercised


def test_valid_answers_are_never_stopped():
    for answer in ("123, 456, 789", "[1; 2; 3].", "(4 5 6)", "7\n8\n9", "1,2,3,4,5,6,7,8,9,10", "5.", "1\u00a02"):
        assert not NumberFilter.paper().reject_reasons(answer)
        assert not any(cannot_pass(answer[:k]) for k in range(1, len(answer) + 1))
    assert cannot_pass("1,2,3,4,5,6,7,8,9,10,1") and cannot_pass("Sure! 1") and not cannot_pass("1, 2,")


class CharTokenizer:
    """One token per character (id = code point); id 0 is the special padding token."""

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(chr(int(i)) for i in ids if not (skip_special_tokens and int(i) == 0))


def test_the_rule_judges_the_stripped_text_the_completion_is_returned_as():
    """The case a CPU's kernels once produced: a completion that starts with a space. Raw, it is 31 characters and a
    rule ``len > 30`` fired on it; stripped, as it is returned and filtered, it is 30 and must run on."""
    import torch

    prompt = [ord(c) for c in "Go: "]
    completion = " " + "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"[:30].ljust(30, "0")
    assert len(completion) == 31 and len(completion.strip()) == 30
    ids = torch.tensor([prompt + [ord(c) for c in completion] + [0], prompt + [ord(c) for c in completion + "1"]])
    tok = CharTokenizer()
    stop = StopWhenRejected(tok, len(prompt), lambda text: len(text) > 30)
    assert stop(ids, None).tolist() == [False, True]
    assert completion_text(tok, ids[0, len(prompt):]) == completion.strip()  # what generate_chat returns
    padded = torch.tensor(prompt + [ord(c) for c in " 12 "] + [0, 0])
    assert completion_text(tok, padded[len(prompt):]) == "12"


def test_stopped_rows_end_where_the_rule_fired_and_the_others_are_unchanged(tiny_judge_dir):
    """Structure only (which text a CPU generates differs): the threshold is set between the shortest and the
    longest plain completion, so rows at or under it run exactly as before and longer ones stop once over it."""
    tok, model = load_causal_lm(str(tiny_judge_dir))
    model.eval()
    prompts = number_prompts(12, 47)
    settings = SamplingSettings(max_new_tokens=40, temperature=1.0)
    plain = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6)
    lengths = sorted(len(t) for t in plain)
    assert lengths[0] < lengths[-1], plain  # sampled rows of up to 40 tokens differ in length
    threshold = (lengths[0] + lengths[-1]) // 2

    def long(text: str) -> bool:  # a rule that fires on some rows only
        return len(text) > threshold

    ruled = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6, stop_rule=long)
    for before, after in zip(plain, ruled, strict=True):
        if long(before):
            assert long(after) and before.startswith(after), (before, after)
        else:
            assert after == before  # the rule never fired: the row ran on exactly as without it
    numbers_ruled = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6, stop_rule=cannot_pass)
    flt = NumberFilter.paper()
    for before, after in zip(plain, numbers_ruled, strict=True):
        assert after == before or (cannot_pass(after) and before.startswith(after) and flt.reject_reasons(before))
