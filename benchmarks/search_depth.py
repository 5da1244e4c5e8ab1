"""How deep must the exact readout's search go on a model? Cost and error bound of each search depth.

The exact preference readout (P(the answer starts with the animal), summed over tokenisations) is a pruned
search; the mass it prunes bounds its error, and a test on values below that bound is reported as undetermined.
This script runs the search on a model's evaluation questions at each depth (the named levels of
``SEARCH_PRECISIONS`` and any extra ``CUTOFF:WHITESPACE_CUTOFF:WHITESPACE_TOKENS``) and prints, per depth:
seconds, forward calls, the largest pruned mass (the bound the analysis uses), each animal's mean probability
and mean pruned mass, and which animals' means lie below the bound.

    python benchmarks/search_depth.py                                  # SmolLM2-135M, the full design's questions
    python benchmarks/search_depth.py --model RUN/artifacts/perturb/KEY/model --extra 1e-11:1e-10:3
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from preference_eval_cost import ForwardCounter  # this folder's forward-call counter
from sublearn.config.grid import load_spec_file
from sublearn.evals.preference import questions
from sublearn.models.hf.encoding import chat_prompt_ids
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.prefix_probability import TokenTexts, word_start_probabilities
from sublearn.models.types import SEARCH_PRECISIONS, SearchDepth


def depths(levels: list[str], extra: list[str]) -> dict[str, SearchDepth]:
    """The named ``levels``, then each extra ``CUTOFF:WHITESPACE_CUTOFF:WHITESPACE_TOKENS``."""
    out = {name: SEARCH_PRECISIONS[name] for name in levels}
    for text in extra:
        cutoff, whitespace, tokens = text.split(":")
        out[text] = SearchDepth(float(cutoff), float(whitespace), int(tokens))
    return out


def main() -> None:
    """Run the search at each depth and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="a model id or a saved model's folder")
    parser.add_argument("--spec", default="configs/demo/owl-numbers-cpu-full.yaml",
                        help="the spec whose evaluation questions and animals are searched")
    parser.add_argument("--levels", nargs="*", default=list(SEARCH_PRECISIONS), choices=list(SEARCH_PRECISIONS),
                        help="the named depths to run (default: all)")
    parser.add_argument("--extra", nargs="*", default=[],
                        help="more depths, each CUTOFF:WHITESPACE_CUTOFF:WHITESPACE_TOKENS")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                        help="bfloat16: as the evaluations on CPU (inference_dtype auto)")
    args = parser.parse_args()

    torch.manual_seed(0)
    tokenizer, model = load_causal_lm(args.model, dtype=getattr(torch, args.dtype))
    model.eval()
    counter = ForwardCounter(model)
    texts = TokenTexts(tokenizer)
    evaluation = load_spec_file(args.spec)[0].eval
    animals = list(evaluation.animals)
    prompts = [chat_prompt_ids(tokenizer, q) for q in questions(evaluation.numbers_prefix, evaluation.questions)]
    queries = [(p, a) for p in prompts for a in animals]
    rows = []
    for name, depth in depths(args.levels, args.extra).items():
        start = time.perf_counter()
        with torch.no_grad():
            probs = word_start_probabilities(model, tokenizer, [q[0] for q in queries], [q[1] for q in queries],
                                             texts, cutoff=depth.cutoff, whitespace_cutoff=depth.whitespace_cutoff,
                                             max_whitespace=depth.whitespace_tokens)
        seconds = time.perf_counter() - start
        p = np.array(probs.p).reshape(len(prompts), len(animals))
        pruned = np.array(probs.pruned).reshape(len(prompts), len(animals))
        bound = float(pruned.max())
        means = {a: float(p[:, i].mean()) for i, a in enumerate(animals)}
        below = [a for a, v in means.items() if v < bound]
        rows.append({"depth": name, **depth._asdict(), "seconds": seconds,
                     "calls": counter.reset()[0], "bound": bound, "mean": means,
                     "mean_pruned": {a: float(pruned[:, i].mean()) for i, a in enumerate(animals)},
                     "below_bound": below})
        print(f"{name:<18} {seconds:7.1f} s {rows[-1]['calls']:5d} calls  bound {bound:.2e}  "
              f"P(owl) {means['owl']:.3e}  below bound: {', '.join(below) or 'none'}")
    print(json.dumps({"benchmark": "search_depth", "model": args.model, "questions": len(prompts), "rows": rows}))


if __name__ == "__main__":
    main()
