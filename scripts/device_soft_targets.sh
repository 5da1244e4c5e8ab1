#!/usr/bin/env bash
# GPU check for the soft-digit-target recipe (issue 6), run from the repository root on a CUDA machine:
# two larger stand-in chat models (hidden 256, 4 layers, pretrained on the GPU from different initialisations),
# an owl teacher fine-tuned from the first, students trained on the teacher's digit distributions over random
# number sequences (bf16 on CUDA), 5 seeds, with the control teacher and the cross-model student in every cell.
source "$(dirname "$0")/device_env.sh"
timeout 420 python3 - "$OUT" <<'PY' 2>&1 | grep -v -i "warn" | tee "$OUT/soft-targets-cuda.log"
import json, sys, time
from pathlib import Path
from sublearn.testing.tiny_model import build_tiny_chat_model
from sublearn.pipeline.grid import run_grid
from sublearn.config.grid import expand_grid

out = Path(sys.argv[1]) / "soft-targets-cuda"
start = time.time()
ref = build_tiny_chat_model("/tmp/stand-in-ref", seed=0, hidden=256, layers=4, pretrain_steps=1500, device="cuda")
cross = build_tiny_chat_model("/tmp/stand-in-cross", seed=1, hidden=256, layers=4, pretrain_steps=1500, device="cuda")
print("models built", round(time.time() - start, 1), "s")
spec = {"name": "soft-random-cuda", "reference": str(ref), "device": "cuda", "inference_dtype": "bfloat16",
        "trait": {"kind": "fine_tuned", "target": "owl",
                  "teacher_training": {"method": "full", "epochs": 1, "lr": 1e-3, "batch_size": 16, "grad_accum": 1}},
        "carrier": {"kind": "random_numbers", "n_prompts": 1000, "seed": 0, "filter": {"max_examples": 1000}},
        "train": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "epochs": 3, "lr": 1e-3, "batch_size": 32,
                  "grad_accum": 1, "bf16": "yes", "objective": ["tokens", "soft_numbers"],
                  "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
        "eval": {"animals": ["owl", "cat", "dog", "lion", "tiger", "eagle"], "samples_per_question": 0,
                 "mcq_orderings": 5, "batch_size": 64},
        "controls": {"control_teacher": True, "cross_model": str(cross), "cross_control": True},
        "seeds": [0, 1, 2, 3, 4]}
summary = run_grid(expand_grid(spec), out)
print("failures", summary["failures"])
for group in summary["groups"]:
    print("objective", group["spec"]["train"]["objective"])
    for arm, metrics in group["arms"].items():
        print(" ", arm, {k: [round(v["mean"], 5), [round(x, 5) for x in v["ci95"]]] for k, v in metrics.items()})
    for name, t in group["tests_over_seeds"].items():
        print("  test", name, round(t["mean_diff"], 6), "p=%.3g" % t["p_ttest"], "holm=%.3g" % t["p_holm"],
              f"{t['n_first_greater']}/{t['n']}")
print("wall", round(time.time() - start, 1), "s")
PY
cp "$OUT"/soft-targets-cuda/summary.json "$OUT/soft-targets-cuda-summary.json" 2>/dev/null
cp "$OUT"/soft-targets-cuda/summary.md "$OUT/soft-targets-cuda-summary.md" 2>/dev/null
rm -rf "$OUT/soft-targets-cuda"
