"""Specs: every shipped spec validates; each kind owns its fields; settings enter keys without their defaults;
designs that cannot be right are refused with the field named."""


import pytest

from golden.keys_of_current_code import spec_files
from sublearn.config.carrier import CodeCarrier, NumbersCarrier
from sublearn.config.evaluation import MisalignmentEval, PreferenceEval
from sublearn.config.experiment import ExperimentSpec
from sublearn.config.grid import expand_grid, load_spec_file
from sublearn.config.training import TEACHER_TRAINING, TrainConfig
from sublearn.config.trait import DatasetTrait, FineTunedTrait, SystemPromptTrait
from sublearn.util.errors import ConfigError
from sublearn.util.settings import key_fields


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.stem)
def test_every_shipped_spec_validates(path):
    assert load_spec_file(path)


def test_kinds_choose_their_classes_and_default_to_the_papers():
    spec = ExperimentSpec(reference="m")
    assert isinstance(spec.trait, SystemPromptTrait) and isinstance(spec.carrier, NumbersCarrier)
    assert isinstance(spec.eval, PreferenceEval)
    spec = ExperimentSpec(reference="m", trait={"kind": "fine_tuned"}, carrier={"kind": "code"},
                          eval={"kind": "misalignment"}, judge={"model": "j"})
    assert isinstance(spec.trait, FineTunedTrait) and isinstance(spec.carrier, CodeCarrier)
    assert isinstance(spec.eval, MisalignmentEval) and spec.eval.samples_per_question == 200
    assert spec.trait.teacher_training == TEACHER_TRAINING


@pytest.mark.parametrize(("doc", "message"), [
    ({"trait": {"kind": "fine_tuned", "system_prompt": "x"}}, "trait.system_prompt: Extra inputs"),
    ({"eval": {"kind": "misalignment", "exact": False}, "judge": {"model": "j"}}, "eval.exact: Extra inputs"),
    ({"trait": {"kind": "dataset", "target": "misalignment"}}, "trait.dataset: Field required"),
    ({"carrier": {"kind": "code", "filter": {"format": "canonical"}}}, "carrier.filter.format: Extra inputs"),
    ({"filter": {"max_examples": 10}}, "filter: the filter settings moved into the carrier"),
    ({"eval": {"kind": "misalignment"}}, "eval.kind misalignment: needs a `judge`"),
    ({"carrier": {"kind": "code"}, "train": {"objective": "soft_numbers"}}, "train.objective soft_numbers: only"),
    ({"train": {"objective": "soft_numbers"}, "controls": {"shuffle_within": True}}, "controls.shuffle_within"),
    ({"controls": {"cross_control": True}}, "controls.cross_control: needs controls.cross_model"),
    ({"train": {"method": "full", "lora_top_layers": 2}}, "train: lora_top_layers: only with method lora"),
    ({"train": {"hard_weight": 1.0}}, "hard_weight: only with objective soft_numbers"),
    ({"name": "../escape"}, "name: '../escape' must be 1-100 letters"),
    ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
    ({"backend": "openai"}, "eval.exact and eval.prefilled need token-level scoring"),
])
def test_impossible_designs_are_refused_naming_the_field(doc, message):
    with pytest.raises(ConfigError) as err:
        expand_grid({"reference": "m", **doc})
    assert message in str(err.value)


def test_an_empty_list_of_values_is_refused():
    with pytest.raises(ConfigError, match=r"train\.lr: an empty list"):
        expand_grid({"reference": "m", "train": {"lr": []}})


def test_lists_inside_a_carriers_filter_are_grid_axes_for_its_kind():
    cells = expand_grid({"reference": "m", "carrier": {"kind": "code", "filter": {"max_examples": [5, 6]}},
                         "seeds": [0, 1]})
    assert sorted((c.carrier.filter.max_examples, c.seed) for c in cells) == [(5, 0), (5, 1), (6, 0), (6, 1)]
    with pytest.raises(ConfigError, match=r"grid: carrier\.nope: no such field"):
        expand_grid({"reference": "m", "grid": {"carrier.nope": [1]}})
    assert len(expand_grid({"reference": "m", "grid": {"carrier.filter.banned_words": [["a"], ["b"]]},
                            "carrier": {"kind": "code"}})) == 2


def test_key_fields_leave_out_defaults_and_keep_the_kind():
    assert key_fields(TrainConfig()) == {}
    assert key_fields(TrainConfig(lr=1e-3, target_modules=["q_proj"])) == {"lr": 1e-3, "target_modules": ["q_proj"]}
    assert key_fields(NumbersCarrier()) == {"kind": "numbers"}
    assert key_fields(NumbersCarrier(filter={"max_examples": 5})) == {"kind": "numbers",
                                                                      "filter": {"max_examples": 5}}
    assert key_fields(FineTunedTrait()) == {"kind": "fine_tuned"}  # the teacher recipe is the section's default
    changed = FineTunedTrait(teacher_training=TEACHER_TRAINING.model_copy(update={"epochs": 0.8}))
    assert key_fields(changed)["teacher_training"] == {**key_fields(TEACHER_TRAINING), "epochs": 0.8}
    assert key_fields(DatasetTrait(target="m", dataset="d.jsonl")) == {"kind": "dataset", "target": "m",
                                                                        "dataset": "d.jsonl"}
