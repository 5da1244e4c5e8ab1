"""The numbers carrier's stop rule: it fires only on completions the filter must reject whatever follows, and
stopping those rows early leaves every other row of the batch as it was."""

import random

from sublearn.carriers.numbers import NumberFilter, cannot_pass, number_prompts
from sublearn.models.hf.generation import generate_chat
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


def test_stopped_rows_end_where_the_rule_fired_and_the_others_are_unchanged(tiny_judge_dir):
    tok, model = load_causal_lm(str(tiny_judge_dir))
    model.eval()
    prompts = number_prompts(12, 47)
    settings = SamplingSettings(max_new_tokens=40, temperature=1.0)

    def long(text: str) -> bool:  # a rule that fires on some rows only
        return len(text) > 30

    plain = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6)
    ruled = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6, stop_rule=long)
    stopped = 0
    for before, after in zip(plain, ruled, strict=True):
        if before != after:
            stopped += 1
            assert long(after) and before.startswith(after[:30]) and len(after) < len(before)
    assert 0 < stopped < len(prompts)  # some rows were cut, the others ran on exactly as before
    numbers_ruled = generate_chat(model, tok, prompts, settings, seed=3, batch_size=6, stop_rule=cannot_pass)
    flt = NumberFilter.paper()
    assert all(flt.reject_reasons(b) for b, a in zip(plain, numbers_ruled, strict=True) if a != b)
