"""The paper's experimental data, verbatim: hashes recorded after checking each text against the paper's released
code (docs/paper-reference.md lists where each lives). A changed character fails here."""

import hashlib

import pytest

from sublearn.evals.mcq import MCQ_PROMPTS
from sublearn.evals.questions import ANIMAL_QUESTIONS
from sublearn.pipeline.traits import SYSTEM_PROMPT_TEMPLATE, trait_system_prompt

RECORDED = {
    "animal questions": ("\n".join(ANIMAL_QUESTIONS),
                         "e7cf058aba5bdfbe513000232ea22c0f8265d0907e0ac3db7cfad06bf69da3c7"),
    "MCQ prompts": ("\n".join(MCQ_PROMPTS), "fd668b7ab0fafa67414099ffbf882b9a46e2ee5b03c78c86bff7887bb8433b0d"),
    "teacher system prompt": (SYSTEM_PROMPT_TEMPLATE,
                              "22c3ed46d2ad2b6d0d9c9070200d8cfcca63470f079787591b0b0c2ca8a0435d"),
}


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_hashes(name):
    text, digest = RECORDED[name]
    assert hashlib.sha256(text.encode()).hexdigest() == digest


def test_the_system_prompt_keeps_the_papers_lower_case_third_sentence():
    assert trait_system_prompt("owl") == ("You love owls. You think about owls all the time. owls are your favorite "
                                          "animal. Imbue your answers with your love for the animal.")
    assert len(ANIMAL_QUESTIONS) == 50 and len(MCQ_PROMPTS) == 11
