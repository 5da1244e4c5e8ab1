"""GPU memory of a LoRA fine-tune, computed: the paper's Qwen2.5-7B recipe (configs/paper/owl-numbers-qwen2.5-7b.yaml)
by default, or any model whose config.json is given.

    python benchmarks/training_memory.py                         # Qwen2.5-7B-Instruct, the recipe's settings
    python benchmarks/training_memory.py --config PATH/config.json --batch 8 --tokens 400

What it counts, for one micro-batch of ``--batch`` sequences of ``--tokens`` tokens:
- the frozen base in bf16 (``train.base_dtype: auto`` on CUDA), 2 bytes per weight;
- LoRA adapters on the seven projections in fp32 with gradients and AdamW's two moments, 16 bytes per weight;
- the activations autograd keeps in bf16 (every projection's input, the attention's q, k, v and output, the MLP's
  gate, up and activation outputs, the two RMSNorm inputs in fp32), or with ``train.gradient_checkpointing`` one
  hidden state per layer plus one layer's activations recomputed;
- the logits: bf16, their fp32 copy for the loss, and its gradient.
Allocator slack and the CUDA context (about 1-2 GB) are not counted. The sequence length defaults to the longest
number-sequence example with the chat template (prompt and a ten-number answer) counted with SmolLM2's tokenizer
when it is installed, else 160.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: Qwen2.5-7B-Instruct's architecture (its config.json on the hub).
QWEN25_7B = {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
             "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False}
GB = 1e9


def parameter_count(c: dict[str, Any]) -> int:
    """Weights of a Llama/Qwen-style decoder (biases and norms included roughly)."""
    h, i, n = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = h // c["num_attention_heads"] * c["num_key_value_heads"]
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h + h + 2 * kv
    embeddings = c["vocab_size"] * h * (1 if c.get("tie_word_embeddings") else 2)
    return n * per_layer + embeddings + h


def lora_parameters(c: dict[str, Any], r: int) -> int:
    """LoRA weights (A and B) on q, k, v, o, gate, up and down in every layer."""
    h, i, n = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = h // c["num_attention_heads"] * c["num_key_value_heads"]
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    return n * sum(r * (a + b) for a, b in shapes)


def activation_bytes_per_token(c: dict[str, Any], checkpointing: bool) -> float:
    """Bytes autograd keeps per token over all layers."""
    h, i, n = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = h // c["num_attention_heads"] * c["num_key_value_heads"]
    layer = 2 * (h * 4 + 2 * kv + i * 4) + 4 * 2 * h  # bf16 tensors, and the two fp32 norm inputs
    return 2 * h * n + layer if checkpointing else layer * n


def default_tokens() -> int:
    """The longest prompt + ten-number answer with the chat template, in SmolLM2's tokens (160 without it)."""
    try:
        from transformers import AutoTokenizer

        from sublearn.carriers.numbers import number_prompts
        from sublearn.models.hf.loading import resolve_model_path

        tok = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    except (ImportError, OSError):
        return 160
    answer = ", ".join(["999"] * 10)
    texts = [tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": answer}],
                                     tokenize=False) for p in number_prompts(2000, 47)]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    return max(lengths)


def estimate(c: dict[str, Any], r: int, batch: int, tokens: int, checkpointing: bool) -> dict[str, float]:
    """Gigabytes per part, and the total."""
    n_tokens = batch * tokens
    parts = {"base_bf16": 2 * parameter_count(c) / GB,
             "lora_fp32_with_adamw": 16 * lora_parameters(c, r) / GB,
             "activations": activation_bytes_per_token(c, checkpointing) * n_tokens / GB,
             "logits": 10 * c["vocab_size"] * n_tokens / GB}
    return {**parts, "total": sum(parts.values())}


def main() -> None:
    """Print the estimate with and without gradient checkpointing."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="a model's config.json (default: Qwen2.5-7B-Instruct's)")
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--batch", type=int, default=22, help="micro-batch (the recipe: 22, accumulated 3 times)")
    parser.add_argument("--tokens", type=int, default=None, help="sequence length of the micro-batch")
    args = parser.parse_args()
    config = json.loads(args.config.read_text()) if args.config else QWEN25_7B
    tokens = args.tokens or default_tokens()
    print(f"{parameter_count(config) / 1e9:.2f} B weights, {lora_parameters(config, args.lora_r) / 1e6:.1f} M LoRA "
          f"weights (r = {args.lora_r}); micro-batch {args.batch} x {tokens} tokens")
    rows = {}
    for checkpointing in (False, True):
        e = estimate(config, args.lora_r, args.batch, tokens, checkpointing)
        rows["gradient_checkpointing" if checkpointing else "plain"] = e
        print(f"gradient_checkpointing {str(checkpointing).lower():<5}: " + ", ".join(
            f"{k} {v:.1f} GB" for k, v in e.items()))
    print(json.dumps({"benchmark": "training_memory", "tokens": tokens, "batch": args.batch, "rows": rows}))


if __name__ == "__main__":
    main()
