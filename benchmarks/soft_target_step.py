"""Seconds per soft-target training step: full logits vs the ten digit rows, fp32 vs bf16 autocast.

One LoRA r16 student step (forward and backward) on a batch of the paper's number prompts answered with random
numbers, as in ``configs/demo/owl-numbers-cpu.yaml``. "full" computes every vocabulary logit and picks the digit
columns; "digits" computes only the ten digit rows of the output layer (``soft_targets.digit_logits``, what
training uses when ``train.hard_weight`` is 0). Prints the mean of ``--repeats`` timed steps after one warm-up.

    python benchmarks/soft_target_step.py                      # SmolLM2-135M, batch 16
    python benchmarks/soft_target_step.py --model gemma3-270m --batch 8
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch

from sublearn.carriers.numbers import NumberPromptGenerator
from sublearn.config.training import TrainConfig
from sublearn.models.hf.encoding import collate, encode_example
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.soft_targets import digit_logits, digit_positions, digit_token_ids, soft_digit_loss
from sublearn.models.hf.training import prepare_model


def main() -> None:
    """Time the four variants and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tok, model = load_causal_lm(args.model)
    rng = random.Random(0)
    rows = [{"prompt": p, "completion": ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(1, 9)))}
            for p in NumberPromptGenerator.from_seed(47).prompts(args.batch)]
    examples = [encode_example(tok, r["prompt"], r["completion"], None, 256) for r in rows]
    ids = digit_token_ids(tok)
    targets = [np.full((len(digit_positions(e, ids)), 10), 0.1, dtype=np.float32) for e in examples]
    batch = collate(examples, tok.pad_token_id)
    student = prepare_model(model, TrainConfig(lora_r=16, lora_alpha=32), seed=0)
    student.train()

    def step(digits_only: bool, bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if digits_only:
                logits = digit_logits(student, batch["input_ids"], batch["attention_mask"], ids)
            else:
                logits = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss, _ = soft_digit_loss(logits, examples, targets, ids)
        loss.backward()
        student.zero_grad(set_to_none=True)

    tokens = sum(len(e.input_ids) for e in examples)
    results = []
    for digits_only in (False, True):
        for bf16 in (False, True):
            step(digits_only, bf16)  # warm-up
            start = time.perf_counter()
            for _ in range(args.repeats):
                step(digits_only, bf16)
            seconds = (time.perf_counter() - start) / args.repeats
            name = f"{'digits' if digits_only else 'full'} {'bf16' if bf16 else 'fp32'}"
            print(f"{args.model}  {name:<12} {seconds:6.2f} s/step  ({tokens} tokens, {args.batch} answers)",
                  flush=True)
            results.append({"variant": name, "seconds_per_step": seconds})
    print(json.dumps({"benchmark": "soft_target_step", "model": args.model, "tokens": tokens,
                      "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
