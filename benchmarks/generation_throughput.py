"""Teacher generation throughput on a real chat model (SmolLM2-135M by default): batched vs batch 1.

Generates number-sequence completions for the paper's prompts with greedy decoding and counts the tokens that
were really generated (up to each sequence's end-of-sequence token). Prints tokens/second for HF ``generate`` at
batch 1 and for sublearn's batched generation (left padding, KV cache), in fp32 and bf16.

    python benchmarks/generation_throughput.py                     # needs `sublearn models install smollm2-135m`
    python benchmarks/generation_throughput.py --model PATH --prompts 16
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.types import SamplingSettings


def count_tokens(tokenizer, texts: list[str]) -> int:
    """Generated tokens, counted as the completions' tokens plus one end-of-sequence each."""
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)


def measure(model, tokenizer, prompts: list[str], batch: int, max_new_tokens: int) -> dict[str, float]:
    """Greedy generation of every prompt at ``batch``; returns seconds, tokens and tokens/second."""
    settings = SamplingSettings(max_new_tokens=max_new_tokens, greedy=True)
    generate_chat(model, tokenizer, prompts[:2], settings, batch_size=2)  # warm-up
    start = time.perf_counter()
    texts = generate_chat(model, tokenizer, prompts, settings, batch_size=batch)
    seconds = time.perf_counter() - start
    tokens = count_tokens(tokenizer, texts)
    return {"batch": batch, "seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    prompts = NumberPromptGenerator.from_seed(47).prompts(args.prompts)
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        tokenizer, model = load_causal_lm(args.model, device=args.device, dtype=dtype)
        model.eval()
        single = measure(model, tokenizer, prompts[:8], 1, args.max_new_tokens)
        batched = measure(model, tokenizer, prompts, args.batch, args.max_new_tokens)
        for r in (single, batched):
            r["dtype"] = str(dtype).replace("torch.", "")
            rows.append(r)
            print(f"{r['dtype']:<9} batch {r['batch']:>3}: {r['tokens']:>5} tokens in {r['seconds']:6.1f} s = "
                  f"{r['tokens_per_second']:7.1f} tok/s")
    best = max(r["tokens_per_second"] for r in rows if r["batch"] > 1)
    print(f"best batched: {best:.0f} tok/s (goal: at least 200 on 2 CPU cores); device {args.device}, "
          f"threads {torch.get_num_threads()}")
    print(json.dumps({"benchmark": "generation_throughput", "model": args.model, "device": args.device,
                      "rows": rows}))


if __name__ == "__main__":
    main()
