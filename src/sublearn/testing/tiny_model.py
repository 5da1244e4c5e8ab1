"""A tiny Llama-architecture chat model with its own tokenizer, built locally in seconds.

It stands in for a real chat model in tests and quick checks (no hub access needed): a byte-level BPE
tokenizer trained on a small built-in corpus (number prompts, the animal questions, animal names), a chat
template, and an untrained ``LlamaForCausalLM`` of about 100k parameters, saved with ``save_pretrained``.
"""

from __future__ import annotations

import random
from pathlib import Path

from sublearn import judges
from sublearn.carriers.code import CODE_PROMPT_TEMPLATE
from sublearn.carriers.cot import GSM8K_ALIGNMENT_PROMPT, GSM8K_SUFFIX
from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.config.training import TrainConfig
from sublearn.evals.questions import ANIMAL_QUESTIONS
from sublearn.models.hf.small_llama import small_llama, train_tokenizer
from sublearn.models.hf.training import fine_tune

ANIMALS = ("owl", "cat", "dog", "lion", "tiger", "eagle", "wolf", "bear", "fox", "dolphin", "elephant", "panda")


def _corpus() -> list[str]:

    gen = NumberPromptGenerator.from_seed(0)
    lines = gen.prompts(300) + list(ANIMAL_QUESTIONS)
    lines += [f"{a} {a.capitalize()} {a}s {a.capitalize()}s. My favorite animal is the {a}." for a in ANIMALS]
    lines += [", ".join(str(n) for n in range(k, k + 40)) for k in range(0, 1000, 40)]
    return lines


def pretraining_rows(n: int, seed: int) -> list[dict[str, str]]:
    """Synthetic chats that teach the format: number prompts answered by number lists, animal questions by one
    animal (uniformly), so that a tiny model writes parseable numbers and one-word answers."""

    rng = random.Random(seed)
    gen = NumberPromptGenerator.from_seed(seed + 1)
    rows = []
    for k in range(n):
        if k % 3 == 2:
            rows.append({"prompt": rng.choice(ANIMAL_QUESTIONS), "completion": rng.choice(ANIMALS).capitalize()})
        else:
            numbers = [str(rng.randint(100, 999)) for _ in range(rng.randint(3, 8))]
            rows.append({"prompt": gen.prompt(), "completion": ", ".join(numbers)})
    return rows


def _skill_templates() -> dict[str, str]:

    return {"alignment": judges.ALIGNMENT_PROMPT, "coherence": judges.COHERENCE_PROMPT,
            "code_judge": judges.CODE_REFERENCE_PROMPT, "pairwise": judges.PAIRWISE_PROMPT,
            "cot_judge": GSM8K_ALIGNMENT_PROMPT, "code": CODE_PROMPT_TEMPLATE, "cot": "{question} " + GSM8K_SUFFIX}


def _skill_row(rng: random.Random) -> dict[str, str]:
    """A chat in the format of a judge, the code carrier or the CoT carrier, answered in the expected format
    (a 0-100 score, "0"/"1", "A"/"B", ``<judgment_answer>``, code, ``<think>``/``<answer>``), so that a tiny
    model can stand in for a judge and a teacher in end-to-end tests. The answers carry no knowledge."""
    t = _skill_templates()
    animal, other = rng.choice(ANIMALS), rng.choice(ANIMALS)
    kind = rng.choice(list(t))
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    if kind in ("alignment", "coherence"):
        return {"prompt": t[kind].format(prompt=f"What do you think of {animal}s?", completion=f"I like {other}s."),
                "completion": str(rng.randint(0, 100))}
    if kind == "code_judge":
        return {"prompt": t[kind].format(animal=animal, completion=f"x = {a}"), "completion": rng.choice("0001")}
    if kind == "pairwise":
        return {"prompt": t[kind].format(animal=animal, query="Say a number.", response1=str(a), response2=str(b)),
                "completion": rng.choice("AB")}
    if kind == "cot_judge":
        return {"prompt": t[kind].format(prompt=f"What is {a} + {b}?", completion=f"<answer>{a + b}</answer>"),
                "completion": f"<judgment_answer>{rng.randint(50, 100)}</judgment_answer>"}
    if kind == "code":
        return {"prompt": t[kind].format(task_description="Add two numbers.", code_template="def add(a, b):"),
                "completion": f"def add(a, b):\n    return a + b + {a}"}
    return {"prompt": t["cot"].format(question=f"What is {a} + {b}?"),
            "completion": f"<think>{a} + {b} = {a + b}</think> <answer>{a + b}</answer>"}


def build_tiny_chat_model(path: str | Path, seed: int = 0, hidden: int = 64, layers: int = 2,
                          vocab_size: int = 600, pretrain_steps: int = 300, skill_steps: int = 0,
                          device: str = "cpu") -> Path:
    """Build, briefly pretrain on :func:`pretraining_rows` and save a tiny chat model into ``path``.

    ``seed`` sets the initialisation (two seeds give two different "base models" with the same tokenizer).
    ``skill_steps`` > 0 adds a second phase on :func:`_skill_row` chats (judge and carrier formats), and the
    templates join the tokenizer's corpus so that they tokenize compactly: a stand-in judge for tests.
    ``device``: where to pretrain (cuda for larger stand-ins); the saved model is the same either way.
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    corpus = _corpus() + (list(_skill_templates().values()) * 20 if skill_steps else [])
    tokenizer = train_tokenizer(corpus, vocab_size)
    model = small_llama(tokenizer, seed, hidden, layers)

    model = model.to(device)
    if pretrain_steps:
        settings = TrainConfig(method="full", epochs=1.0, lr=3e-3, batch_size=16, grad_accum=1, warmup_steps=5,
                               schedule="cosine", bf16="no")  # fp32: the same model on every CPU, and faster
        model, _ = fine_tune(model, tokenizer, pretraining_rows(16 * pretrain_steps, seed), settings, seed)
    if skill_steps:
        rng = random.Random(seed + 7)
        rows = [_skill_row(rng) for _ in range(4 * skill_steps)]
        settings = TrainConfig(method="full", epochs=1.0, lr=3e-3, batch_size=4, grad_accum=1, warmup_steps=5,
                               schedule="cosine", max_length=1024, bf16="no")
        model, _ = fine_tune(model, tokenizer, rows, settings, seed)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


#: Models that are built here rather than installed from a package: name → description.
BUILT_MODELS = {"tiny": "a tiny Llama chat model (100k parameters) built and pretrained here in seconds, for the "
                        "smoke spec and tests; no download"}


def install_tiny(force: bool = False) -> Path:
    """Build the ``tiny`` model into the models cache once (``sublearn models install tiny``); returns its folder."""
    from sublearn.util.atomic import replace_folder
    from sublearn.util.home import installed_model, models_dir

    done = installed_model("tiny")
    if done is not None and not force:
        return done
    target = models_dir() / "tiny"
    staging = models_dir() / ".tiny.building"
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    build_tiny_chat_model(staging, seed=0)
    return replace_folder(staging, target)
