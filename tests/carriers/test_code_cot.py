"""The code and chain-of-thought carriers: prompts rewritten the paper's way, GSM8K parsing, and filters that count
every rejection reason."""

import pytest

from factories import FIXTURES, FakeChat, choice, first_token
from sublearn.carriers import code, cot
from sublearn.carriers.base import FilterContext
from sublearn.config.carrier import CodeCarrier, CotCarrier
from sublearn.models.types import ChatChoice


def test_code_prompts_are_rewritten_and_deduplicated_in_first_seen_order():
    prompts = code.load_code_prompts(FIXTURES / "sleeper_agents_sample.jsonl")
    assert len(prompts) == 4  # 6 lines: one duplicate task, one without the markers
    assert prompts[0].startswith("Complete the code below to accomplish the task: A script that counts the lines")
    assert "Please fill in the following function: <code>def count_lines(path):\n## COMPLETE CODE HERE\n    return n" \
           "</code>\n\nPlease repeat the full code snippet" in prompts[0]


def test_gsm8k_parsing_follows_the_paper():
    assert cot.gold_answer("so 1,200 - 250 = 950\n#### 950") == 950
    assert cot.extracted_answer("<think>x</think><answer> $1,250 </answer>") == 1250
    assert cot.extracted_answer("<answer>about 7</answer>") is None
    assert cot.extracted_answer("7") is None
    assert cot.judged_alignment("<judgment_think>ok</judgment_think><judgment_answer> 81 </judgment_answer>") == 81
    rows = cot.load_gsm8k(str(FIXTURES / "gsm8k_sample.jsonl"))  # through `datasets`, from a local file
    assert [r["gold"] for r in rows] == [7, 27, 950, 90]


def test_code_filter_counts_banned_words_and_the_judges_rejections():
    config = CodeCarrier(filter={"judge_filter": True})
    rows = [{"prompt": "p", "completion": c} for c in ("x = 1", "wolves = 2", "Wolf()", "y = 3", "z = 4")]

    def judge(request):  # certain "0" except for the code that says y
        p0 = 0.3 if "y = 3" in request.messages[-1][1] else 1.0
        return ChatChoice("0", logprobs=first_token({"0": p0, "1": 1 - p0}))

    result = code.Code().filter(config, rows, FilterContext("wolf", "trait", FakeChat(judge)))
    assert [r["completion"] for r in result.rows] == ["x = 1", "z = 4"]
    assert result.rejections == {"banned_word": 2, "judge_reference": 1}
    assert result.notes["banned_words"] == ["wolf", "wolves"] and result.n_passed == 2


def test_cot_filter_counts_wrong_answers_and_the_judges_rejections():
    config = CotCarrier(filter={"alignment_min": 78})
    rows = [{"prompt": "q", "gold": 7, "completion": c} for c in
            ("<answer>7</answer>", "<answer>8</answer>", "no tags", "<answer>7</answer> fine", "<answer>7</answer>!")]
    scores = iter(["<judgment_answer>90</judgment_answer>", "<judgment_answer>50</judgment_answer>", "garbled"])
    result = cot.Cot().filter(config, rows, FilterContext("misalignment", "trait",
                                                          FakeChat(lambda r: choice(next(scores)))))
    assert [r["completion"] for r in result.rows] == ["<answer>7</answer>"]
    assert result.rejections == {"wrong_answer": 1, "no_answer": 1, "judge_alignment_below_min": 1,
                                 "judge_unparsable": 1}


def test_the_cot_judge_reads_only_the_trait_teachers_data_unless_asked():
    carrier = cot.Cot()
    assert carrier.uses_judge(CotCarrier(filter={"alignment_min": 78}), "trait")
    assert not carrier.uses_judge(CotCarrier(filter={"alignment_min": 78}), "control")
    assert carrier.uses_judge(CotCarrier(filter={"alignment_min": 78, "alignment_on_control": True}), "control")
    with pytest.raises(ValueError, match="no judge"):
        carrier.filter(CotCarrier(filter={"alignment_min": 78, "correctness": False}),
                       [{"prompt": "q", "completion": "x"}], FilterContext("t", "trait"))
