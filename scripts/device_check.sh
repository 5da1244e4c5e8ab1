#!/usr/bin/env bash
# One prepared GPU check (run from the repository root on a CUDA machine; writes under $OUT or ./device-out):
#  1. the audit validation on real MNIST (12 settings, N = 20 models each);
#  2. the LLM pipeline's CUDA path (bf16 training and inference) end to end on a tiny local Llama model.
source "$(dirname "$0")/device_env.sh"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
timeout 300 python3 -m sublearn audit validate --dataset mnist -n 20 --device cuda -q --out "$OUT/audit-mnist" \
  2>&1 | tee "$OUT/audit-mnist.log"
timeout 200 python3 - "$OUT" <<'PY' 2>&1 | grep -v -i "warn" | tee "$OUT/pipeline-cuda.log"
import json, sys, time
from pathlib import Path
from sublearn.testing.tiny_model import build_tiny_chat_model
from sublearn.pipeline.grid import run_grid
from sublearn.config.grid import expand_grid

out = Path(sys.argv[1]) / "pipeline-cuda"
ref = build_tiny_chat_model("/tmp/tiny-ref", seed=0)
cross = build_tiny_chat_model("/tmp/tiny-cross", seed=1)
spec = {"name": "tiny-cuda", "reference": str(ref), "device": "cuda", "inference_dtype": "bfloat16",
        "carrier": {"n_prompts": 256, "batch_size": 64, "max_new_tokens": 40, "filter": {"max_examples": 200}},
        "train": {"epochs": 2, "batch_size": 16, "grad_accum": 2, "lr": 1e-3, "bf16": "yes"},
        "eval": {"animals": ["owl", "cat", "dog"], "samples_per_question": 4, "mcq_orderings": 5},
        "controls": {"control_teacher": True, "cross_model": str(cross), "cross_control": True, "icl_k": 4,
                     "shuffle_within": True, "shuffle_across": True},
        "seeds": [0, 1]}
start = time.time()
summary = run_grid(expand_grid(spec), out)
print("failures", summary["failures"])
for arm, metrics in summary["groups"][0]["arms"].items():
    print(arm, {k: round(v["mean"], 4) for k, v in metrics.items()})
print("wall", round(time.time() - start, 1), "s")
PY
cp "$OUT"/pipeline-cuda/summary.json "$OUT/pipeline-cuda-summary.json" 2>/dev/null
rm -rf "$OUT/pipeline-cuda"
