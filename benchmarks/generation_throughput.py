"""Teacher generation throughput on a real chat model (SmolLM2-135M by default), and the tail case.

1. Batched generation of number-sequence completions for the paper's prompts (greedy), counting the tokens really
   generated (up to each end-of-sequence token): batch 1, sublearn's static batches (left padding) with a dynamic
   and with a static KV cache in each dtype, each measured ``--repeats`` times (the median is reported: the speed
   of a shared machine drifts), and transformers' continuous batching (``generate_batch``) for comparison. It
   prints the CPU's model, its bf16 instructions, and the dtype and cache that ``inference_dtype: auto`` and
   ``kv_cache: auto`` pick on it.
2. One sample that never stops: one row of the batch is kept from ending (its end-of-sequence token masked), as
   a teacher sample that rambles on. Without a stop rule the whole batch runs to ``--tail-tokens`` steps; with the
   numbers carrier's stop rule (``carrier.stop_when_rejected``, on by default) that row ends as soon as the
   format filter must reject it, and the batch ends with its other rows.

    python benchmarks/generation_throughput.py                     # needs `sublearn models install smollm2-135m`
    python benchmarks/generation_throughput.py --model PATH --prompts 16 --no-continuous
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from sublearn.carriers.numbers import NumberPromptGenerator, cannot_pass
from sublearn.models.hf.encoding import chat_prompt_ids
from sublearn.models.hf.generation import generate_chat
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.types import SamplingSettings
from sublearn.util.devices import kv_cache_kind, numerics


def count_tokens(tokenizer: Any, texts: list[str]) -> int:
    """Generated tokens, counted as the completions' tokens plus one end-of-sequence each."""
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)


def measure(model: Any, tokenizer: Any, prompts: list[str], batch: int, max_new_tokens: int,
            **kwargs: Any) -> dict[str, Any]:
    """Greedy generation of every prompt at ``batch``; returns seconds, tokens and tokens/second."""
    settings = SamplingSettings(max_new_tokens=max_new_tokens, greedy=True)
    generate_chat(model, tokenizer, prompts[:2], settings, batch_size=2, **kwargs)  # warm-up
    start = time.perf_counter()
    texts = generate_chat(model, tokenizer, prompts, settings, batch_size=batch, **kwargs)
    seconds = time.perf_counter() - start
    tokens = count_tokens(tokenizer, texts)
    return {"batch": batch, "seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds,
            "longest_completion_tokens": max(count_tokens(tokenizer, [t]) for t in texts)}


def measure_repeated(model: Any, tokenizer: Any, prompts: list[str], batch: int, max_new_tokens: int, cache: str,
                     repeats: int) -> dict[str, Any]:
    """:func:`measure` ``repeats`` times with ``cache``; the median run's figures, and every run's tok/s."""
    runs = [measure(model, tokenizer, prompts, batch, max_new_tokens, cache=cache) for _ in range(repeats)]
    speeds = [r["tokens_per_second"] for r in runs]
    median = sorted(runs, key=lambda r: r["tokens_per_second"])[len(runs) // 2]
    return {**median, "cache": cache, "tokens_per_second": statistics.median(speeds), "runs_tokens_per_second": speeds}


def measure_continuous(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int) -> dict[str, Any]:
    """transformers' continuous batching (paged KV cache, requests join and leave the batch at every step)."""
    from transformers import GenerationConfig

    ids = [chat_prompt_ids(tokenizer, p, None) for p in prompts]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    model.generate_batch(ids[:2], generation_config=config)  # warm-up
    start = time.perf_counter()
    out = model.generate_batch(ids, generation_config=config)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.generated_tokens) for o in out.values())
    return {"batch": "continuous", "seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}


class NeverEnds:
    """A logits processor that masks the end-of-sequence token of one row: a sample that never stops by itself."""

    def __init__(self, row: int, eos: int) -> None:
        self.row, self.eos = row, eos

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[self.row, self.eos] = float("-inf")
        return scores


def tail_case(model: Any, tokenizer: Any, prompts: list[str], tail_tokens: int) -> list[dict[str, Any]]:
    """One batch with a never-ending row: without and with the numbers carrier's stop rule."""
    from transformers import LogitsProcessorList

    plain_generate = model.generate

    def generate_with_a_never_ending_row(*args: Any, **kwargs: Any) -> Any:
        return plain_generate(*args, logits_processor=LogitsProcessorList([NeverEnds(0, tokenizer.eos_token_id)]),
                              **kwargs)

    rows = []
    model.generate = generate_with_a_never_ending_row
    try:
        for label, rule in (("no stop rule (before)", None), ("stop when rejected (after)", cannot_pass)):
            r = measure(model, tokenizer, prompts, len(prompts), tail_tokens, stop_rule=rule,
                        cache=kv_cache_kind("auto", model.device))
            rows.append({"case": label, **r})
    finally:
        del model.generate  # back to the class's method
    return rows


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each batched case (the median is reported)")
    parser.add_argument("--tail-tokens", type=int, default=512, help="max_new_tokens of the never-ending case "
                        "(the paper's code allows 2048)")
    parser.add_argument("--continuous", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure transformers' continuous batching")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    machine = numerics(args.device, "auto", "auto")
    chosen, cache = machine["inference_dtype"], kv_cache_kind("auto", args.device)
    print(f"device {args.device}, threads {torch.get_num_threads()}; CPU {machine['cpu_model']}, native bf16 "
          f"{machine['cpu_native_bf16']} {machine['cpu_bf16_flags']}, torch capability "
          f"{machine['torch_cpu_capability']}; inference_dtype auto -> {chosen}, kv_cache auto -> {cache}")
    prompts = NumberPromptGenerator.from_seed(47).prompts(args.prompts)
    rows: list[dict[str, Any]] = []
    for dtype in ("float32", "bfloat16"):
        tokenizer, model = load_causal_lm(args.model, device=args.device, dtype=getattr(torch, dtype))
        model.eval()
        found = [measure(model, tokenizer, prompts[:8], 1, args.max_new_tokens)]
        found += [measure_repeated(model, tokenizer, prompts, args.batch, args.max_new_tokens, c, args.repeats)
                  for c in ("dynamic", "static")]
        if args.continuous:
            found.append(measure_continuous(model, tokenizer, prompts, args.max_new_tokens))
        if dtype == chosen:
            found += tail_case(model, tokenizer, prompts[:16], args.tail_tokens)
        for r in found:
            r["dtype"] = dtype
            rows.append(r)
            label = r.get("case") or f"batch {r['batch']}" + (f", {r['cache']} cache" if "cache" in r else "")
            print(f"{dtype:<9} {label:<28}: {r['tokens']:>5} tokens in {r['seconds']:6.1f} s = "
                  f"{r['tokens_per_second']:7.1f} tok/s"
                  + (f", longest completion {r['longest_completion_tokens']} tokens" if "case" in r else "")
                  + (" (median of " + ", ".join(f"{v:.1f}" for v in r["runs_tokens_per_second"]) + ")"
                     if "runs_tokens_per_second" in r else ""))
    best = next(r for r in rows if r["dtype"] == chosen and r.get("cache") == cache)
    print(f"batches of {args.batch} in the chosen dtype ({chosen}) and cache ({cache}): "
          f"{best['tokens_per_second']:.0f} tok/s, median of {args.repeats} (goal: at least 200 on 2 CPU cores)")
    tail = [r for r in rows if "case" in r]
    print(f"never-ending sample, batch of 16: {tail[0]['seconds']:.1f} s before, {tail[1]['seconds']:.1f} s after "
          f"({tail[0]['seconds'] / tail[1]['seconds']:.1f}x)")
    print(json.dumps({"benchmark": "generation_throughput", "model": args.model, "device": args.device,
                      "numerics": machine, "rows": rows}))


if __name__ == "__main__":
    main()
