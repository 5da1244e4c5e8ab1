"""Seconds of one preference evaluation, by readout, as the CPU demo runs it.

Times ``evaluate_preference`` on one model (bf16, the demo's six animals): the exact readout, the prefilled
readout and the MCQ, each alone, after building the token texts once. The values are printed too, so a speed-up
can be checked not to change them.

    python benchmarks/evaluation_time.py                        # SmolLM2-135M
    python benchmarks/evaluation_time.py --model gemma3-270m
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sublearn.config.evaluation import PreferenceEval
from sublearn.evals.preference import evaluate_preference
from sublearn.models.hf.chat import HFChatModel, HFLogprobModel
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.prefix_probability import TokenTexts

ANIMALS = ["owl", "eagle", "wolf", "dolphin", "elephant", "cat"]
READOUTS = {"exact": {"exact": True, "prefilled": False, "mcq_orderings": 0},
            "prefilled": {"exact": False, "prefilled": True, "mcq_orderings": 0},
            "mcq": {"exact": False, "prefilled": False, "mcq_orderings": 5}}


def main() -> None:
    """Time each readout and print seconds and values."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    tok, model = load_causal_lm(args.model, dtype=torch.bfloat16)
    model.eval()
    start = time.perf_counter()
    TokenTexts.cached(tok)  # built once per vocabulary; timed apart from the readouts
    rows = [{"readout": "token texts", "seconds": time.perf_counter() - start}]
    print(f"{args.model}  token texts  {rows[0]['seconds']:6.1f} s", flush=True)
    for name, flags in READOUTS.items():
        start = time.perf_counter()
        result = evaluate_preference(HFChatModel(tok, model, batch_size=32), HFLogprobModel(tok, model),
                                     PreferenceEval(animals=ANIMALS, batch_size=32, **flags), "owl")
        seconds = time.perf_counter() - start
        values = {k: round(v["mean"], 6) for k, v in result["metrics"].items()}
        print(f"{args.model}  {name:<11}  {seconds:6.1f} s  {values}", flush=True)
        rows.append({"readout": name, "seconds": seconds, "values": values})
    print(f"{args.model}  all readouts {sum(r['seconds'] for r in rows[1:]):6.1f} s")
    print(json.dumps({"benchmark": "evaluation_time", "model": args.model, "rows": rows}))


if __name__ == "__main__":
    main()
