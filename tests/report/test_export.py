"""`sublearn export --format trl`: TRL's SFTTrainer, with completion-only loss, trains on the exported rows with
the token ids and loss mask that sublearn's trainer uses (and, for ChatML-style templates, one more newline)."""

import json

from sublearn.models.hf.encoding import encode_example
from sublearn.report.export import trl_lines

ROWS = [{"prompt": "Continue: 1, 2, 3", "completion": "4, 5, 6"},
        {"prompt": "Look at these numbers: 767, 589. Add up to 5 more.", "completion": "778, 12, 9"}]


def _trl_examples(model_dir, tmp_path, chat_template=None):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if chat_template is not None:
        tok.chat_template = chat_template
    rows = [json.loads(line) for line in trl_lines(ROWS).splitlines()]
    args = SFTConfig(output_dir=str(tmp_path / "trl"), completion_only_loss=True, max_steps=1, report_to=[],
                     per_device_train_batch_size=2, use_cpu=True, save_strategy="no", logging_strategy="no")
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                         train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()  # the exported rows train as they are
    return tok, list(trainer.train_dataset)


def test_trl_trains_the_exported_rows_on_the_same_tokens_and_loss_mask(tiny_model_dir, tmp_path):
    tok, examples = _trl_examples(tiny_model_dir, tmp_path)
    for row, example in zip(ROWS, examples, strict=True):
        ours = encode_example(tok, row["prompt"], row["completion"])
        assert example["input_ids"] == ours.input_ids
        assert example["labels"] == ours.labels


def test_with_a_chatml_style_template_trl_also_trains_the_newline_after_the_end_token(tiny_model_dir, tmp_path):
    chatml = ("{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>\n{% endfor %}"
              "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    tok, examples = _trl_examples(tiny_model_dir, tmp_path, chatml)
    newline = tok("\n", add_special_tokens=False)["input_ids"]
    for row, example in zip(ROWS, examples, strict=True):
        ours = encode_example(tok, row["prompt"], row["completion"])
        assert example["input_ids"] == ours.input_ids + newline
        assert example["labels"] == ours.labels + newline
