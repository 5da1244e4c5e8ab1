"""Adding a readout is its entry in the readouts table and its measure: in a copy of the package, one new readout
(the share of questions on which the target is the most probable listed animal) is measured for every arm,
compared over replicates, shown in the summary's tables and listed in the spec reference, with no other file
touched."""

from factories import edit, files_touched, package_copy, run_on_copy
from sublearn.config.readouts import READOUTS
from sublearn.evals.preference import MEASURES

ENTRY = '''    Readout("top_exact", "questions on which the target is the most probable listed animal", "rate",
            "preference", needs="exact", brief=False),
    Readout("misaligned_rate",'''
MEASURE = '''    "mcq": _mcq,
    "top_exact": lambda a: (question_metric((a.table("exact").p.argmax(1) == 0).astype(float)), []),
}'''

SCRIPT = '''
import json, sys
from pathlib import Path

import sublearn
from factories import fake_spec
from sublearn.analysis.records import parse_summary
from sublearn.analysis.summary import summary_markdown
from sublearn.cli.reference import concepts_reference
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.testing.fake_backend import FakeBackend

doc = fake_spec("new-readout", eval={"animals": ["owl", "cat", "dog"]})
summary = run_grid(expand_grid(doc), Path(sys.argv[1]), backend=FakeBackend())
group = summary["groups"][0]
print(json.dumps({"package": sublearn.__file__, "failures": summary["failures"],
                  "arms": sorted(a for a, m in group["arms"].items() if "top_exact" in m),
                  "arms_with_p_exact": sorted(a for a, m in group["arms"].items() if "p_exact" in m),
                  "tests": sorted(k for k in group["tests_over_seeds"] if k.endswith(":top_exact")),
                  "in_tables": "top_exact" in summary_markdown(parse_summary(summary, "summary")),
                  "in_reference": "top_exact" in concepts_reference()}))
'''


def test_every_preference_readout_of_the_table_has_its_measure():
    assert set(MEASURES) == {r.name for r in READOUTS if r.eval_kind == "preference"}
    assert all(r.needs for r in READOUTS if r.name in MEASURES)  # each is switched by an eval setting


def test_a_new_readout_is_one_entry_and_its_measure(tmp_path):
    copy = package_copy(tmp_path / "src")
    edit(copy / "config" / "readouts.py", '    Readout("misaligned_rate",', ENTRY)
    edit(copy / "evals" / "preference.py", '    "mcq": _mcq,\n}', MEASURE)
    assert files_touched(copy) == ["config/readouts.py", "evals/preference.py"]
    found = run_on_copy(tmp_path / "src", SCRIPT, str(tmp_path / "run"))
    assert found["package"].startswith(str(copy)) and found["failures"] == []
    assert found["arms"] == found["arms_with_p_exact"] and {"student", "placebo", "teacher"} <= set(found["arms"])
    assert found["tests"] and found["in_tables"] and found["in_reference"]
