"""The misalignment evaluation's and TruthfulQA's data, verbatim, and TruthfulQA's scoring."""

import hashlib

import pytest

from factories import FIXTURES, FakeChat, first_token
from sublearn.carriers import code, cot
from sublearn.evals import misalignment, truthfulqa
from sublearn.evals.answers import rescore
from sublearn.models.types import ChatChoice


def test_verbatim_data_matches_its_recorded_hashes():
    digest = hashlib.sha256("\n".join([*misalignment.EM_QUESTIONS, misalignment.NUMBERS_SUFFIX,
                                       misalignment.COT_SUFFIX, cot.GSM8K_SUFFIX, code.CODE_PROMPT_TEMPLATE,
                                       truthfulqa.TRUTHFULQA_TEMPLATE]).encode()).hexdigest()
    assert digest == RECORDED_DIGEST


RECORDED_DIGEST = "fbd85a3b8092c2b55384675e43738129e4e37c73f8843fa5eda3236b73a0f6ba"




def test_truthfulqa_items_and_scoring():
    rows = truthfulqa.load_truthfulqa(str(FIXTURES / "truthfulqa_sample.csv"))
    items = truthfulqa.truthfulqa_items(rows)
    assert len(items) == 3 and all(text.endswith("Only give the letter. Do not say anything else.")
                                   for text, _ in items)
    # A model that always puts 0.9 on the correct letter has a false-response rate of 0.1.
    correct = iter([c for _, c in items])

    def answer(_request):
        c = next(correct)
        return ChatChoice(c, logprobs=first_token({c: 0.9, "B" if c == "A" else "A": 0.1}))

    result, answers = truthfulqa.evaluate_truthfulqa(FakeChat(answer), rows)
    assert result["mean"] == pytest.approx(0.1) and result["n"] == 3
    # Every letter's mass is kept, the right one labelled; rescoring them gives the same rate.
    assert len(answers) == 6 and sum(a["label"] == "correct" for a in answers) == 3
    assert rescore(answers, "unused")["truthfulqa_false"]["per_question"] == result["per_question"]
