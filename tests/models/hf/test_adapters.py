"""LoRA fine-tunes are saved as adapters: megabytes instead of a model, and loaded back to exactly the weights a
merge at save time gives, in any dtype; a run folder that moves still finds the adapter's base."""

import shutil

import torch

from sublearn.config.training import TrainConfig
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.training import fine_tune, save_model, save_trained

ROWS = [{"prompt": f"Continue: {i}, {i + 1}.", "completion": f"{i + 2}, {i + 3}"} for i in range(8)]
CONFIG = TrainConfig(method="lora", lora_r=4, lora_alpha=8, epochs=1, batch_size=4, grad_accum=1, lr=1e-2,
                     target_modules=["q_proj", "v_proj"], bf16="no")


def _size(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_an_adapter_loads_to_the_weights_of_the_merged_fine_tune(tiny_model_dir, tmp_path):
    tok, model = load_causal_lm(str(tiny_model_dir))
    peft_model, _ = fine_tune(model, tok, ROWS, CONFIG, seed=3, merge=False)
    save_trained(peft_model, tok, tmp_path / "run" / "adapter", str(tiny_model_dir))
    save_model(peft_model.merge_and_unload(), tok, tmp_path / "merged")
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
    assert _size(tmp_path / "run" / "adapter") < _size(tmp_path / "merged") / 3
    _, from_adapter = load_causal_lm(str(tmp_path / "run" / "adapter"))
    _, merged = load_causal_lm(str(tmp_path / "merged"))
    ids = torch.tensor([tok("Continue: 4, 5.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(from_adapter(ids).logits, merged(ids).logits)
    # In bf16 too: the same model, buffers and numbers as the merged folder loaded in bf16 (a cast in memory
    # would also cast the RoPE frequencies that from_pretrained keeps in fp32).
    _, adapter_bf16 = load_causal_lm(str(tmp_path / "run" / "adapter"), dtype=torch.bfloat16)
    _, merged_bf16 = load_causal_lm(str(tmp_path / "merged"), dtype=torch.bfloat16)
    assert {k: v.dtype for k, v in adapter_bf16.named_buffers()} == {k: v.dtype for k, v in merged_bf16.named_buffers()}
    assert adapter_bf16.config.dtype == merged_bf16.config.dtype
    with torch.no_grad():
        assert torch.equal(adapter_bf16(ids).logits, merged_bf16(ids).logits)


def test_an_adapter_finds_its_base_after_the_run_folder_moves(tiny_model_dir, tmp_path):
    base = tmp_path / "run" / "artifacts" / "base"
    shutil.copytree(tiny_model_dir, base)
    tok, model = load_causal_lm(str(base))
    peft_model, _ = fine_tune(model, tok, ROWS, CONFIG, seed=3, merge=False)
    save_trained(peft_model, tok, tmp_path / "run" / "artifacts" / "student", str(base))
    shutil.move(tmp_path / "run", tmp_path / "moved")
    _, loaded = load_causal_lm(str(tmp_path / "moved" / "artifacts" / "student"))
    assert loaded is not None
