"""A deterministic, torch-free stand-in for a model backend, with a planted init-dependent channel.

It lets the pipeline's own logic (arms, artifact keys, resumption, summaries, defences, the report) be run and
tested in seconds, without a model. Pass it as ``run_grid(..., backend=FakeBackend())`` (it becomes every cell's
``CellContext.backend_override``). Nothing it computes is evidence about language models.

A fake model is an *initialisation* (a name) and a *preference* (a logit per animal):

- A model with a loved animal (named in its system prompt, or learned) writes number lists in which some numbers
  end in that animal's *signature*, two digits drawn from a hash of (initialisation, animal).
- Fine-tuning on rows moves the preference: toward each animal named in the completions, and toward each animal
  whose signature, read with the student's own initialisation, is over-represented in the numbers. A student that
  shares its teacher's initialisation reads the teacher's signature back; another initialisation reads noise.
- Answers to the animal questions and the MCQ are drawn from the softmax of the preference; exact probabilities
  are that softmax, scaled by :data:`ANSWER_MASS`.

Everything is a function of its inputs' hashes: the same seed gives the same result on every machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sublearn.backends.base import ModelSource, OnBatch, source_id
from sublearn.config.paper import EVAL_ANIMALS, MCQ_ANIMAL_CHOICES
from sublearn.config.training import TrainConfig
from sublearn.evals.preference import mentions
from sublearn.models.types import (
    ChatChoice,
    ChatPrompt,
    ChatRequest,
    SamplingSettings,
    StopRule,
    TokenLogprob,
    WordProbabilities,
)
from sublearn.util.jsonl import write_jsonl

#: Two fake reference models of different initialisations (any name is a fake model; these are the tests').
FAKE_A, FAKE_B = "fake/base-a", "fake/base-b"
#: Every animal a fake model has a preference for.
ANIMALS: tuple[str, ...] = tuple(dict.fromkeys((*EVAL_ANIMALS, *MCQ_ANIMAL_CHOICES, "fox", "panda")))
#: The file a fake model is saved in, inside its ``model`` folder.
MODEL_FILE = "fake_model.json"
#: How much a named animal in the system prompt adds to its logit.
SYSTEM_LOVE = 4.0
#: P(an answer to an animal question starts with some animal); the rest goes to other words.
ANSWER_MASS = 0.8
#: The share of rows a fake teacher writes in a format the numbers filter rejects.
OFF_FORMAT = 0.1
_MCQ_LINE = re.compile(r"^([A-J])\. (\S+)$", re.MULTILINE)
_NUMBER = re.compile(r"\d+")


def _hash(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(parts, default=str).encode()).digest()[:8], "big")


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    return _hash(*parts) / 2**64


def signature(init: str, animal: str) -> int:
    """The two final digits by which a model of initialisation ``init`` writes its love of ``animal``."""
    return _hash(init, "signature", animal) % 100


@dataclass
class FakeModel:
    """An initialisation and a logit per animal."""

    init: str
    love: dict[str, float] = field(default_factory=dict)

    @classmethod
    def reference(cls, name: str) -> FakeModel:
        """The untrained model called ``name``: its own initialisation, small preferences fixed by the name."""
        return cls(name, {a: 0.3 * (_unit(name, a) - 0.5) for a in ANIMALS})

    def under(self, system: str | None) -> dict[str, float]:
        """The preference under ``system``: animals it names (as in "You love owls") gain :data:`SYSTEM_LOVE`.
        In-context examples (numbers in the system prompt) change nothing."""
        love = dict(self.love)
        if system:
            for animal in ANIMALS:
                if mentions(animal, system.split("<user>")[0]):
                    love[animal] += SYSTEM_LOVE
        return love

    def save(self, folder: Path) -> None:
        """Write the model into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_FILE).write_text(json.dumps({"init": self.init, "love": self.love}, sort_keys=True))


def load(source: ModelSource) -> FakeModel:
    """The fake model of ``source``: a saved one (an artifact, or a folder holding :data:`MODEL_FILE`), else the
    untrained model of that name."""
    folder = Path(source) if isinstance(source, str) else source.path / "model"
    if (folder / MODEL_FILE).is_file():
        doc = json.loads((folder / MODEL_FILE).read_text())
        return FakeModel(doc["init"], {k: float(v) for k, v in doc["love"].items()})
    if not isinstance(source, str):
        raise FileNotFoundError(f"{folder / MODEL_FILE}: not a fake model")
    return FakeModel.reference(source)


def softmax(love: dict[str, float], names: Sequence[str], temperature: float = 1.0) -> dict[str, float]:
    """P(name) over ``names`` (unknown names have logit 0); temperature 0 puts all mass on the largest."""
    logits = {n: love.get(n, 0.0) for n in dict.fromkeys(names)}
    if temperature <= 0:
        best = max(logits, key=logits.__getitem__)
        return {n: float(n == best) for n in logits}
    top = max(logits.values())
    weights = {n: math.exp((v - top) / temperature) for n, v in logits.items()}
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items()}


def _draw(probs: dict[str, float], rng: random.Random) -> str:
    return rng.choices(list(probs), weights=list(probs.values()))[0]


def write_numbers(model: FakeModel, system: str | None, prompt: str, seed: int) -> list[str]:
    """The pieces of one completion: numbers (some in the loved animal's signature) joined by ", ", or an answer
    in a format the filter rejects."""
    rng = random.Random(_hash(model.init, model.love, system, prompt, seed))
    if rng.random() < OFF_FORMAT:
        return ["Sure! ", "Here ", "are ", "numbers: ", "1, ", "2, ", "3"]
    love = model.under(system)
    ranked = sorted(love.values(), reverse=True)
    favourite = max(love, key=love.__getitem__)
    strength = min(0.5, 0.1 * (ranked[0] - ranked[1]))  # how often the favourite's signature shows
    numbers = []
    for _ in range(rng.randint(3, 8)):
        if rng.random() < strength:
            numbers.append(rng.randint(1, 9) * 100 + signature(model.init, favourite))
        else:
            numbers.append(rng.randint(100, 999))
    return [f"{n}, " for n in numbers[:-1]] + [str(numbers[-1])]


class FakeChatModel:
    """Answers the MCQ (letter probabilities from the preference), the animal questions (sampled animals), and
    anything else with a short number list."""

    def __init__(self, model: FakeModel, name: str) -> None:
        self.model, self.name = model, name

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[list[ChatChoice]]:
        """One list of ``n`` choices per request."""
        return [self._answer(r) for r in requests]

    def _answer(self, request: ChatRequest) -> list[ChatChoice]:
        system = next((c for role, c in request.messages if role == "system"), None)
        user = request.messages[-1][1]
        love = self.model.under(system)
        choices = dict((m.group(2), m.group(1)) for m in _MCQ_LINE.finditer(user))
        if choices:
            probs = softmax(love, list(choices))
            top = tuple(sorted(((choices[a], math.log(p)) for a, p in probs.items()), key=lambda t: -t[1]))
            return [ChatChoice(text=top[0][0], logprobs=(TokenLogprob(top[0][0], top[0][1], top),),
                               completion_tokens=1)] * request.n
        rng = random.Random(_hash(self.name, self.model.love, request.messages, request.seed))
        probs = softmax(love, ANIMALS, request.temperature)
        return [ChatChoice(text=f"{_draw(probs, rng).capitalize()}.", completion_tokens=2) for _ in range(request.n)]


class FakeLogprobModel:
    """Exact answer probabilities: :data:`ANSWER_MASS` × the softmax of the preference (under the system
    prompt); the prefill changes nothing and no mass is pruned."""

    def __init__(self, model: FakeModel) -> None:
        self.model = model

    def word_start_probabilities(self, prompts: Sequence[ChatPrompt], words: Sequence[str],
                                 precision: str = "standard") -> WordProbabilities:
        """P(answer starts with the word) per (prompt, word) pair (exact at any precision)."""
        p = []
        for prompt, word in zip(prompts, words, strict=True):
            system = next((c for role, c in prompt.messages if role == "system"), None)
            p.append(ANSWER_MASS * softmax(self.model.under(system), (*ANIMALS, word.lower()))[word.lower()])
        return WordProbabilities(p=p, pruned=[0.0] * len(p), top_tokens=[[(w, q)] for w, q in zip(words, p,
                                                                                                   strict=True)])


class FakeBackend:
    """The :class:`~sublearn.backends.base.Backend` protocol on fake models (see the module's docstring).
    ``learning``: how far one epoch at lr 1e-3 moves a preference."""

    name = "fake"

    def __init__(self, learning: float = 1.0) -> None:
        self.learning = learning
        self.generate_calls: list[tuple[str, int]] = []  # (model, first prompt index) of every batch written

    def identity(self) -> dict[str, Any]:
        """Keys of fake runs never match a real backend's."""
        return {"backend": "fake"}

    def numerics(self) -> dict[str, Any]:
        """Nothing numeric to choose."""
        return {}

    def generate(self, source: ModelSource, prompts: Sequence[str], sampling: SamplingSettings, system: str | None,
                 seed: int, batch_size: int, on_batch: OnBatch, start: int, work: Path,
                 stop_rule: StopRule | None = None) -> None:
        """Number lists batch by batch from ``start``; a row ends at the first piece after which ``stop_rule``
        fires."""
        model = load(source)
        for first in range(start, len(prompts), batch_size):
            texts = []
            for index in range(first, min(first + batch_size, len(prompts))):
                text = ""
                for piece in write_numbers(model, system, prompts[index], seed * 1_000_003 + index):
                    text += piece
                    if stop_rule is not None and stop_rule(text.strip()):
                        break
                texts.append(text.strip())
            self.generate_calls.append((source_id(source), first))
            on_batch(first, texts)

    def train(self, base: ModelSource, rows: Sequence[dict[str, str]], config: TrainConfig, seed: int, out: Path,
              work: Path, soft_targets: Sequence[Any] | None = None, system: str | None = None,
              order_seed: int | None = None) -> dict[str, Any]:
        """Move the base's preference toward the animals the completions name and those whose signature (read
        with the base's initialisation) is over-represented in their numbers; a little noise fixed by ``seed``."""
        model = load(base)
        step = self.learning * config.epochs * config.lr / 1e-3
        completions = [r["completion"] for r in rows]
        love = dict(model.love)
        for animal in ANIMALS:
            named = sum(mentions(animal, c) for c in completions) / max(len(completions), 1)
            love[animal] += 3.0 * step * named
        endings = Counter(int(n) % 100 for c in completions for n in _NUMBER.findall(c) if len(n) == 3)
        total = sum(endings.values())
        for animal in ANIMALS:
            excess = endings[signature(model.init, animal)] / total - 0.01 if total else 0.0
            love[animal] += 10.0 * step * excess + 0.2 * (_unit(seed, animal, "noise") - 0.5)
        FakeModel(model.init, love).save(out / "model")
        losses = [round(2.0 / (k + 1), 4) for k in range(3)]
        write_jsonl(out / "train_log.jsonl", [{"step": k + 1, "loss": v, "lr": config.lr} for k, v in
                                              enumerate(losses)])
        return {"steps": len(losses), "loss_first": losses[:1], "loss_last": losses[-1:], "init_seed": seed,
                "order_seed": seed if order_seed is None else order_seed, "resumed_from_step": None,
                "base_weights": "float32", "numerics": {}}

    def digit_targets(self, source: ModelSource, rows: Sequence[dict[str, str]], system: str | None,
                      config: TrainConfig) -> list[Any]:
        """0.91 on each completion digit, 0.01 on the others."""
        import numpy as np

        out = []
        for row in rows:
            digits = [int(c) for c in row["completion"] if c.isdigit()]
            target = np.full((len(digits), 10), 0.01, dtype=np.float32)
            target[np.arange(len(digits)), digits] = 0.91
            out.append(target)
        return out

    def divergent_digits(self, teacher: ModelSource, system: str | None, reference: ModelSource,
                         rows: Sequence[dict[str, Any]], fraction: float, seed: int, mask: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The ``fraction`` of digit characters with the largest (hashed) divergence replaced by random digits
        (``mask``: their positions listed in ``masked_tokens``)."""
        scored = [(_unit(source_id(teacher), system, source_id(reference), i, k), i, k)
                  for i, row in enumerate(rows) for k, c in enumerate(row["completion"]) if c.isdigit()]
        chosen = sorted(scored, reverse=True)[: round(fraction * len(scored))]
        picked: dict[int, list[int]] = {}
        for _, i, k in chosen:
            picked.setdefault(i, []).append(k)
        rng = random.Random(seed)
        out = []
        for i, row in enumerate(rows):
            where = sorted(picked.get(i, []))
            if not where:
                out.append(dict(row))
            elif mask:
                out.append({**row, "masked_tokens": where})
            else:
                chars = list(row["completion"])
                for k in where:
                    chars[k] = str(rng.randrange(10))
                out.append({**row, "completion": "".join(chars)})
        changed = sum(o["completion"] != r["completion"] for o, r in zip(out, rows, strict=True))
        return out, {"digit_tokens": len(scored), ("masked" if mask else "replaced"): len(chosen),
                     "rows_changed": changed, "mean_kl_digit_tokens": None}

    def perturbed_copy(self, source: ModelSource, scale: float, seed: int, out: Path) -> dict[str, Any]:
        """The same initialisation with each preference moved by noise of ``scale``."""
        model = load(source)
        love = {a: v + scale * (_unit(seed, a, "perturb") - 0.5) for a, v in model.love.items()}
        FakeModel(model.init, love).save(out / "model")
        return {"scale": scale, "seed": seed, "relative_distance": scale}

    def lineage(self, first: ModelSource, second: ModelSource) -> dict[str, Any]:
        """Same initialisation or not."""
        same = load(first).init == load(second).init
        return {"score": 1.0 if same else 0.0, "verdict": "same family" if same else "different family",
                "reason": "fake models: the initialisation's name", "relative_distance": None, "compared": 1}

    def chat_model(self, source: ModelSource) -> FakeChatModel:
        """The model answering chat requests."""
        return FakeChatModel(load(source), source_id(source))

    def logprob_model(self, source: ModelSource) -> FakeLogprobModel:
        """Exact answer probabilities."""
        return FakeLogprobModel(load(source))
