"""The exact-probability preference estimate against the sampled rate: cost and agreement.

For each animal, P(the answer starts with it) is computed exactly (prefix-tree search over tokens with the
prompt's KV cache) and estimated by sampling answers at T = 1 and counting those that start with it. Prints
the forward passes, tokens processed and seconds of each, and whether each exact value lies inside the sampled
rate's 95% Wilson interval.

    python benchmarks/preference_eval_cost.py                       # SmolLM2-135M, 20 samples per question
    python benchmarks/preference_eval_cost.py --model PATH --samples 5
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sublearn.evals.questions import ANIMAL_QUESTIONS
from sublearn.models.hf.encoding import chat_prompt_ids
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.prefix_probability import TokenTexts, word_start_probabilities
from sublearn.models.types import SamplingSettings
from sublearn.util.stats import wilson_ci

ANIMALS = ("owl", "cat", "dog", "lion", "eagle", "dolphin", "wolf", "elephant", "tiger", "bear")


class ForwardCounter:
    """Counts forward calls and input tokens of a model through a pre-hook."""

    def __init__(self, model) -> None:
        self.calls = 0
        self.tokens = 0
        model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        self.tokens += int(ids.numel()) if ids is not None else 0

    def reset(self) -> tuple[int, int]:
        out = (self.calls, self.tokens)
        self.calls = self.tokens = 0
        return out


def main() -> None:
    """Run the comparison and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--samples", type=int, default=20, help="sampled answers per question")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    args = parser.parse_args()

    tokenizer, model = load_causal_lm(args.model, dtype=getattr(torch, args.dtype))
    model.eval()
    counter = ForwardCounter(model)
    texts = TokenTexts(tokenizer)
    prompts = [chat_prompt_ids(tokenizer, q) for q in ANIMAL_QUESTIONS]

    start = time.perf_counter()
    queries = [(p, a) for p in prompts for a in ANIMALS]
    probs = word_start_probabilities(model, tokenizer, [q[0] for q in queries], [q[1] for q in queries], texts)
    exact_seconds = time.perf_counter() - start
    exact_calls, exact_tokens = counter.reset()
    n_q = len(prompts)
    exact = {a: sum(probs.p[i * len(ANIMALS) + k] for i in range(n_q)) / n_q for k, a in enumerate(ANIMALS)}

    start = time.perf_counter()
    repeated = [q for q in ANIMAL_QUESTIONS for _ in range(args.samples)]
    answers = generate_chat(model, tokenizer, repeated, SamplingSettings(max_new_tokens=6, temperature=1.0),
                            seed=0, batch_size=64)
    sampled_seconds = time.perf_counter() - start
    sampled_calls, sampled_tokens = counter.reset()

    agree = 0
    rows = []
    for animal in ANIMALS:
        hits = sum(a.lower().lstrip().startswith(animal) for a in answers)
        lo, hi = wilson_ci(hits, len(answers))
        inside = lo <= exact[animal] <= hi
        agree += inside
        rows.append({"animal": animal, "exact": exact[animal], "sampled": hits / len(answers), "ci95": [lo, hi],
                     "inside": inside})
        print(f"{animal:<9} exact {exact[animal]:.5f}   sampled {hits / len(answers):.5f} "
              f"[{lo:.5f}, {hi:.5f}] (n = {len(answers)})  {'agree' if inside else 'DISAGREE'}")
    print(f"exact:   {exact_calls} forward calls, {exact_tokens} input tokens, {exact_seconds:.1f} s "
          f"(all {len(ANIMALS)} animals x {n_q} questions); max pruned mass {max(probs.pruned):.2e}")
    print(f"sampled: {sampled_calls} forward calls, {sampled_tokens} input tokens, {sampled_seconds:.1f} s "
          f"({len(answers)} answers)")
    print(f"agreement: {agree}/{len(ANIMALS)} exact values inside the sampled 95% CI")
    print(json.dumps({"benchmark": "preference_eval_cost", "model": args.model, "rows": rows,
                      "exact": {"calls": exact_calls, "tokens": exact_tokens, "seconds": exact_seconds},
                      "sampled": {"calls": sampled_calls, "tokens": sampled_tokens, "seconds": sampled_seconds,
                                  "n": len(answers)}}))


if __name__ == "__main__":
    main()
