"""Adding a defence is one module: a new module in the defences' kinds folder (of a copy of the package) is
accepted by the spec, keyed, applied by the pipeline to every student's soft targets alike and
read by the defence table, with no other file touched."""

import textwrap

import pytest

from factories import files_touched, package_copy, run_on_copy
from sublearn.defences.base import Defence
from sublearn.defences.registry import DEFAULT_KIND, DEFENCE_SETTINGS, DEFENCES

NEW_DEFENCE = '''
"""Flatten the last digit: every row's last digit position gets the uniform distribution."""

from typing import ClassVar, Literal

import numpy as np

from sublearn.defences.base import Channel, Defence, DefenceSettings


class FlattenLastSettings(DefenceSettings):
    """Soft digit targets: the last digit position of every row becomes uniform."""

    kind: Literal["flatten_last"] = "flatten_last"


class FlattenLast(Defence):
    kind = "flatten_last"
    settings = FlattenLastSettings
    channels: ClassVar[tuple[Channel, ...]] = ("soft",)
    cost = "nothing"

    def targets(self, config, teacher, reference):
        out = [np.asarray(t, dtype=np.float64).copy() for t in teacher]
        for t in out:
            if len(t):
                t[-1] = 0.1
        return out


DEFENCE = FlattenLast()
'''

SCRIPT = '''
import json, sys
from pathlib import Path

import numpy as np
from factories import fake_spec
from sublearn.analysis.defences import lm_defence_table
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FakeBackend
from sublearn.util.soft_targets import unpack_targets

out = Path(sys.argv[1])
doc = fake_spec("new-defence", train={"objective": "soft_numbers"},
                defence=[{"kind": "none"}, {"kind": "flatten_last"}])
summary = run_grid(expand_grid(doc), out, backend=FakeBackend())
defended = [json.loads(p.read_text()) for p in (out / "artifacts" / "defend").glob("*/manifest.json")]
flattened = all(np.allclose(t[-1], 0.1) for m in defended
                for t in unpack_targets(np.load(out / "artifacts" / "defend" / m["key"] / "targets.npz")) if len(t))
print(json.dumps({"failures": summary["failures"], "labels": sorted(m["defence"] for m in defended),
                  "flattened": flattened, "table": [r.name for r in lm_defence_table(out).defences]}))
'''


def test_a_new_module_is_a_new_defence_end_to_end(tmp_path):
    copy = package_copy(tmp_path / "src")
    (copy / "defences" / "kinds" / "flatten_last.py").write_text(textwrap.dedent(NEW_DEFENCE).lstrip())
    assert files_touched(copy) == ["defences/kinds/flatten_last.py"]
    found = run_on_copy(tmp_path / "src", SCRIPT, str(tmp_path / "run"))
    assert found["failures"] == []
    assert found["labels"] == ["flatten_last"] * 4  # the student's and the placebo's data, per replicate
    assert found["flattened"] and found["table"] == ["flatten_last"]


def test_the_registry_finds_every_kind_once_with_its_settings_and_cost():
    assert next(iter(DEFENCES)) == DEFAULT_KIND
    assert set(DEFENCES) == {"none", "hard_labels", "temperature", "teacher_mix", "divergence_mask",
                             "divergence_replace", "rewrite"}
    for kind, defence in DEFENCES.items():
        assert isinstance(defence, Defence) and defence.kind == kind and defence.cost
        assert defence.settings.model_fields["kind"].default == kind
        assert set(defence.channels) <= {"soft", "text"}
    assert tuple(d.settings for d in DEFENCES.values()) == DEFENCE_SETTINGS


@pytest.mark.parametrize("kind", ["hard_labels", "temperature"])
def test_a_soft_only_defence_refuses_text_rows(kind):
    defence = DEFENCES[kind]
    with pytest.raises(NotImplementedError, match=f"defence.kind {kind}: does not transform text rows"):
        defence.rows(defence.settings(), [], None)
