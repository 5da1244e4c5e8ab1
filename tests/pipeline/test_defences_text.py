"""Defences on text data (train.objective tokens): teacher mixing with the reference's own data, the digit tokens
where the teacher diverges most from the reference masked from the loss or replaced by random digits, and a
rewrite by another model; each applied to every student alike."""

import json

import numpy as np
import pytest

from factories import LIGHT_TRAIN
from sublearn.analysis.defences import lm_defence_table
from sublearn.backends.base import BackendOptions
from sublearn.backends.hf import HFBackend
from sublearn.carriers.numbers import number_prompts
from sublearn.config.experiment import ExperimentSpec
from sublearn.config.grid import expand_grid
from sublearn.defences.kinds.teacher_mix import mix_rows
from sublearn.models.hf.divergence import completion_divergence
from sublearn.models.hf.encoding import encode_example
from sublearn.models.hf.loading import load_causal_lm
from sublearn.models.hf.soft_targets import digit_token_ids
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FAKE_A, FakeBackend


def test_teacher_mixing_replaces_the_share_asked_for_in_place():
    teacher = [{"prompt": f"p{i}", "completion": f"t{i}"} for i in range(10)]
    reference = [{"prompt": f"q{i}", "completion": f"r{i}"} for i in range(6)]
    mixed, stats = mix_rows(teacher, reference, 0.3, seed=2)
    assert stats["rows_from_reference"] == 3 and len(mixed) == 10
    assert sum(r["completion"].startswith("r") for r in mixed) == 3
    assert [r for r in mixed if r["completion"].startswith("t")] == [r for r in teacher if r in mixed]
    assert len({r["completion"] for r in mixed}) == 10  # drawn without replacement
    assert mix_rows(teacher, reference, 0.3, seed=2) == (mixed, stats)
    assert mix_rows(teacher, reference, 1.0, seed=0)[1]["rows_from_reference"] == 6  # all it has


def test_the_most_divergent_digit_tokens_and_only_those_are_replaced(tiny_model_dir):
    backend = HFBackend(BackendOptions(device="cpu", inference_dtype="float32"))
    rows = [{"prompt": p, "completion": c} for p, c in
            zip(number_prompts(6, 1), ["12, 345, 678", "9, 8, 7, 6", "(1 2 3)", "400, 401", "5", "77; 88"],
                strict=True)]
    system = "You love owls. You think about owls all the time."
    out, stats = backend.divergent_digits(str(tiny_model_dir), system, str(tiny_model_dir), rows, 0.25, seed=1)
    tok, model = load_causal_lm(str(tiny_model_dir))
    digits = set(digit_token_ids(tok))
    scored = completion_divergence(model, model, tok, rows, system)
    kls = np.concatenate([kl[np.isin(ids, list(digits))] for ids, kl in scored])
    assert stats["digit_tokens"] == len(kls) == sum(ch.isdigit() for r in rows for ch in r["completion"])
    assert stats["replaced"] == round(0.25 * len(kls)) and (kls > 0).all()
    changed_positions = []
    for before, after in zip(rows, out, strict=True):
        a, b = before["completion"], after["completion"]
        assert len(a) == len(b) and all(x == y or (x.isdigit() and y.isdigit()) for x, y in zip(a, b, strict=True))
        changed_positions += [k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    assert len(changed_positions) <= stats["replaced"]  # a random digit may equal the one it replaces
    threshold = np.sort(kls)[::-1][stats["replaced"] - 1]
    for before, after, (ids, kl) in zip(rows, out, scored, strict=True):
        digit_kl = kl[np.isin(ids, list(digits))]
        for k, (x, y) in enumerate(zip(before["completion"], after["completion"], strict=True)):
            if x != y:
                assert digit_kl[sum(ch.isdigit() for ch in before["completion"][:k])] >= threshold
    assert out == backend.divergent_digits(str(tiny_model_dir), system, str(tiny_model_dir), rows, 0.25, 1)[0]
    masked, mask_stats = backend.divergent_digits(str(tiny_model_dir), system, str(tiny_model_dir), rows, 0.25, 1,
                                                  mask=True)
    assert [r["completion"] for r in masked] == [r["completion"] for r in rows]
    assert mask_stats["masked"] == stats["replaced"]
    for row, (ids, kl) in zip(masked, scored, strict=True):
        dropped = row.get("masked_tokens", [])
        assert all(ids[k] in digits and kl[k] >= threshold for k in dropped)
        labels = encode_example(tok, row["prompt"], row["completion"], masked=dropped).labels
        completion = [label for label in encode_example(tok, row["prompt"], row["completion"]).labels
                      if label != -100]
        kept = labels[len(labels) - len(completion):]
        assert [k for k, label in enumerate(kept) if label == -100] == dropped
        assert all(label == c for label, c in zip(kept, completion, strict=True) if label != -100)


def _doc(reference, defences):
    return {
        "name": "text-defended", "reference": str(reference), "device": "cpu", "inference_dtype": "float32",
        "trait": {"kind": "system_prompt", "target": "owl"},
        "carrier": {"kind": "numbers", "n_prompts": 8, "seed": 3, "max_new_tokens": 12, "batch_size": 8,
                    "filter": {"max_examples": 8}},
        "train": {**LIGHT_TRAIN, "batch_size": 4, "lora_top_layers": 1},
        "eval": {"animals": ["owl", "cat"], "prefilled": False, "mcq_orderings": 0, "samples_per_question": 0},
        "controls": {"placebo": False, "control_teacher": True},
        "defence": defences,
        "seeds": [0],
    }


def test_text_defences_transform_every_students_data_alike(tmp_path):
    cells = expand_grid({**_doc(FAKE_A, [{"kind": "none"}, {"kind": "teacher_mix", "mix": 0.5},
                                                 {"kind": "divergence_mask", "fraction": 0.5}]), "seeds": [0, 1]})
    summary = run_grid(cells, tmp_path, backend=FakeBackend())
    assert summary["failures"] == [], summary["failures"]
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "defend").glob("*/manifest.json")]
    by_kind = {d: [m for m in manifests if m["defence"].startswith(d)] for d in ("teacher_mix", "divergence_mask")}
    assert [len(m) for m in by_kind.values()] == [4, 4]  # trait and control students, 2 seeds (replacement: above)
    for m in by_kind["teacher_mix"]:
        rows = [json.loads(line) for line in (tmp_path / "artifacts" / "defend" / m["key"] / "rows.jsonl")
                .read_text().splitlines()]
        assert m["rows_from_reference"] == sum(r.get("mixed_from") == "reference" for r in rows) > 0
        assert "reference_data" in m["inputs"]
    for m in by_kind["divergence_mask"]:
        assert m["masked"] == round(0.5 * m["digit_tokens"]) and m["inputs"]["reference"] == FAKE_A
    trained = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "train").glob("*/manifest.json")]
    defended = {f"defend/{m['key']}" for m in manifests}
    assert len(trained) == 12 and sum(t["inputs"]["dataset"] in defended for t in trained) == 8
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("cells/*/report.json")]
    assert sorted(str(r["arms"]["student"]["defence"]) for r in reports) == [
        "None", "None", "divergence_mask 50%", "divergence_mask 50%", "teacher_mix 50% reference",
        "teacher_mix 50% reference"]
    table = lm_defence_table(tmp_path)
    assert table.effect.startswith("student − control student")
    costs = {row.name: (row.kept_fraction, row.changed_fraction) for row in table.defences}
    assert costs["teacher_mix 50% reference"] == (1.0, pytest.approx(0.5, abs=0.1))  # round(mix · rows) of them
    assert costs["divergence_mask 50%"] == (pytest.approx(0.5, abs=0.05), 0.0)


def test_soft_target_defences_are_refused_on_text_data(tiny_model_dir):
    with pytest.raises(ValueError, match=r"defence\.kind hard_labels"):
        ExperimentSpec.model_validate({k: v for k, v in _doc(tiny_model_dir, {"kind": "hard_labels"}).items()
                                       if k != "seeds"})


class ReversingRewriter(FakeBackend):
    """A stand-in for the rewriting model: it writes each answer's numbers in reverse order, except that it
    answers one request in words (which the numbers filter must reject)."""

    def __init__(self):
        super().__init__()
        self.requests = []

    def generate(self, source, prompts, sampling, system, seed, batch_size, on_batch, start, work, stop_rule=None):
        self.requests += [(source, p) for p in prompts[start:]]
        for first in range(start, len(prompts), batch_size):
            texts = []
            for request in prompts[first:first + batch_size]:
                answer = request.split("Answer:\n", 1)[1].split("\n\nRewrite", 1)[0]
                texts.append("I would rather talk about owls." if answer.startswith("7") else
                             ", ".join(reversed([n.strip() for n in answer.split(",")])))
            on_batch(first, texts)


def test_a_rewrite_asks_the_rewriter_for_every_row_and_filters_what_it_wrote(tmp_path):
    from sublearn.pipeline import stages
    from sublearn.pipeline.context import CellContext
    from sublearn.pipeline.store import ArtifactStore
    from sublearn.util.jsonl import read_jsonl, write_jsonl

    doc = {k: v for k, v in _doc("some-reference", {"kind": "rewrite", "rewriter": "other-family-model"}).items()
           if k != "seeds"}
    spec = ExperimentSpec.model_validate(doc)
    rewriter = ReversingRewriter()
    ctx = CellContext(spec, ArtifactStore(tmp_path, note=lambda _: None), backend_override=rewriter)
    rows = [{"prompt": p, "completion": c} for p, c in
            zip(number_prompts(3, 0), ["1, 2, 3", "7, 8, 9", "10, 20, 30"], strict=True)]

    def produce(out, work):
        write_jsonl(out / "rows.jsonl", rows)
        return {"n_kept": len(rows)}

    data = ctx.store.build("transform", {"kind": "test rows"}, {}, produce)
    defended = stages.defend_text(ctx, data, "some-reference", None, "trait", None)
    out = read_jsonl(defended.path / "rows.jsonl")
    assert [r["completion"] for r in out] == ["3, 2, 1", "30, 20, 10"]
    assert [r["rewritten_from"] for r in out] == ["1, 2, 3", "10, 20, 30"]
    assert [r["prompt"] for r in out] == [rows[0]["prompt"], rows[2]["prompt"]]
    assert {s for s, _ in rewriter.requests} == {"other-family-model"} and len(rewriter.requests) == 3
    assert all(r["prompt"] in p and r["completion"] in p for r, (_, p) in zip(rows, rewriter.requests, strict=True))
    m = defended.manifest
    assert m["defence"] == "rewrite by other-family-model" and m["n_in"] == 3 and m["n_passed"] == 2
    assert sum(m["rejections"].values()) >= 1
    assert stages.defend_text(ctx, data, "some-reference", None, "trait", None).ref == defended.ref
    assert len(rewriter.requests) == 3  # found, not rewritten again
    with pytest.raises(ValueError, match=r"defence\.rewriter"):
        ExperimentSpec.model_validate({**doc, "defence": {"kind": "rewrite", "rewriter": "some-reference"}})


def test_the_defence_table_reads_a_text_defences_cost_from_its_manifest():
    from sublearn.analysis.defences import _text_cost

    assert _text_cost({"rows": 8, "rows_from_reference": 2})["changed_fraction"] == 0.25
    assert _text_cost({"digit_tokens": 40, "replaced": 10})["changed_fraction"] == 0.25
    rewrite = _text_cost({"n_in": 10, "n_passed": 6, "rejections": {"format": 4}})
    assert rewrite["kept_fraction"] == 0.6 and rewrite["changed_fraction"] == 1.0
