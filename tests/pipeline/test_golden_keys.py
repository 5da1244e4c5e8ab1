"""Guard for restructuring: every spec under configs/ keeps its artifact keys, stage by stage, unless that stage's
version was bumped (with its reason) since the golden file was recorded."""

import json

from golden.keys_of_current_code import GOLDEN, current_keys


def test_artifact_keys_match_the_golden_file_for_unchanged_stage_versions(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    now = current_keys(tmp_path)
    unchanged = {s for s, v in golden["stage_versions"].items() if now["stage_versions"].get(s) == v}
    assert now["specs"].keys() == golden["specs"].keys()
    for spec, cells in golden["specs"].items():
        assert len(now["specs"][spec]) == len(cells), spec
        for old, new in zip(cells, now["specs"][spec], strict=True):
            keep = sorted(r for r in old["refs"] if r.split("/")[0] in unchanged)
            assert keep == sorted(r for r in new["refs"] if r.split("/")[0] in unchanged), (spec, old["cell"])
