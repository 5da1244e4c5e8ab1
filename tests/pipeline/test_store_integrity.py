"""The artifact store under damage: edited, truncated or extra files, edited or corrupt manifests, folders
without a manifest, corrupt cell reports, code changes, and two workers publishing one artifact on a remote."""

import json
import os
import shutil
from pathlib import Path

import pytest

from sublearn.pipeline.integrity import StoreError, code_fingerprint, file_table
from sublearn.pipeline.store import ArtifactStore
from sublearn.util.errors import DataError


def _writer(text: str, calls: list[str] | None = None):
    def produce(out: Path, work: Path) -> dict:
        if calls is not None:
            calls.append(text)
        (out / "data.txt").write_text(text)
        (out / "sub").mkdir()
        (out / "sub" / "rows.jsonl").write_text('{"a": 1}\n')
        return {"n": len(text)}

    return produce


def _store(tmp_path, notes=None) -> ArtifactStore:
    return ArtifactStore(tmp_path, note=(notes.append if notes is not None else lambda _: None))


def test_the_manifest_records_every_file_and_the_code(tmp_path):
    artifact = _store(tmp_path).build("filter", {"a": 1}, {}, _writer("hello"))
    files = artifact.manifest["files"]
    assert set(files) == {"data.txt", "sub/rows.jsonl"} and files["data.txt"]["bytes"] == 5
    assert len(files["data.txt"]["sha256"]) == 64
    assert artifact.manifest["code_fingerprint"] == code_fingerprint()
    assert _store(tmp_path).verify() == {}


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: (p / "data.txt").write_text("hel"), "data.txt is 3 bytes, the manifest says 5"),
    (lambda p: (p / "sub" / "rows.jsonl").unlink(), "sub/rows.jsonl is missing"),
    (lambda p: (p / "extra.bin").write_bytes(b"x"), "extra.bin is not in the manifest"),
])
def test_a_changed_artifact_is_refused_on_reuse_naming_the_file_and_the_way_out(tmp_path, damage, message):
    store = _store(tmp_path)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    damage(artifact.path)
    with pytest.raises(StoreError, match=message) as caught:
        store.build("filter", {"a": 1}, {}, _writer("again"))
    assert f"mv {artifact.path} {artifact.path}.bad" in str(caught.value)
    assert list(store.verify()) == [artifact.ref]


def test_an_edit_of_the_same_size_is_caught_on_reuse_and_by_verify(tmp_path):
    store = _store(tmp_path)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    assert store.build("filter", {"a": 1}, {}, _writer("x")).key == artifact.key  # unchanged: reused
    (artifact.path / "data.txt").write_text("HELLO")
    with pytest.raises(StoreError, match=r"data\.txt has another sha256 than the manifest records"):
        _store(tmp_path).build("filter", {"a": 1}, {}, _writer("x"))  # a new process sees it too
    assert store.verify(hashes=False) == {}  # sizes agree
    assert store.verify() == {artifact.ref: ["data.txt has another sha256 than the manifest records"]}


def test_a_file_is_hashed_again_only_when_its_stat_changed(tmp_path, monkeypatch):
    from sublearn.pipeline import run_index

    hashed: list[str] = []
    real = run_index.file_sha256
    monkeypatch.setattr(run_index, "file_sha256", lambda path: hashed.append(Path(path).name) or real(path))
    store = _store(tmp_path)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    for _ in range(3):
        _store(tmp_path).get("filter", artifact.key)  # three processes reuse it
    assert hashed.count("data.txt") == 1
    os.utime(artifact.path / "data.txt")  # touched (same bytes): hashed once more, still right
    _store(tmp_path).get("filter", artifact.key)
    assert hashed.count("data.txt") == 2


def test_verify_finds_deleted_artifacts_and_data_edited_with_its_manifest(tmp_path):
    store = _store(tmp_path)
    kept = store.build("filter", {"a": 1}, {}, _writer("hello"))
    gone = store.build("filter", {"a": 2}, {}, _writer("bye"))
    shutil.rmtree(gone.path)
    # A consistent edit: new data, and a manifest whose file table agrees with it.
    (kept.path / "data.txt").write_text("forged!")
    doc = json.loads((kept.path / "manifest.json").read_text())
    doc["files"] = file_table(kept.path)
    (kept.path / "manifest.json").write_text(json.dumps(doc))
    bad = store.verify()
    assert bad[gone.ref] == ["deleted: the run's index lists it, its folder or manifest is gone"]
    assert "not the one written when it was built" in bad[kept.ref][0] and len(bad) == 2
    with pytest.raises(StoreError, match="not the one written when it was built"):
        _store(tmp_path).get("filter", kept.key)


def test_edited_and_corrupt_manifests_are_named(tmp_path):
    store = _store(tmp_path)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    manifest = artifact.path / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**doc, "config": {"a": 2}}))
    with pytest.raises(StoreError, match="config or inputs were edited"):
        store.get("filter", artifact.key)
    manifest.write_text("{broken")
    with pytest.raises(StoreError, match=r"manifest\.json: corrupt, not valid JSON"):
        store.get("filter", artifact.key)


def test_a_folder_without_a_manifest_is_moved_aside_and_rebuilt(tmp_path):
    notes: list[str] = []
    store = _store(tmp_path, notes)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    (artifact.path / "manifest.json").unlink()
    assert list(store.verify()) == [artifact.ref]
    calls: list[str] = []
    again = store.build("filter", {"a": 1}, {}, _writer("hello", calls))
    assert calls == ["hello"] and again.path == artifact.path
    assert "had no manifest" in notes[0]
    assert len(list(artifact.path.parent.glob(".orphan-*"))) == 1


def test_reusing_an_artifact_built_by_other_code_says_so_once(tmp_path):
    notes: list[str] = []
    store = _store(tmp_path, notes)
    artifact = store.build("filter", {"a": 1}, {}, _writer("hello"))
    manifest = artifact.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "code_fingerprint": "0" * 16}))
    store.index.record_manifest(artifact.ref, manifest)  # as if that code had built it
    store.get("filter", artifact.key)
    store.get("filter", artifact.key)
    assert len(notes) == 1 and "built by other code" in notes[0]


def test_a_corrupt_cell_report_is_named_and_the_cell_runs_again(tmp_path):
    from factories import spec_doc
    from sublearn.config.grid import expand_grid
    from sublearn.pipeline.grid import run_grid

    class Recorder:  # an executor that records what it is asked to run
        def __init__(self):
            self.ran: list[str] = []

        def map(self, fn, cells):
            self.ran += [c.cell_id() for c in cells]
            return [{"cell": c.cell_id(), "error": "not run in this test"} for c in cells]

    cells = expand_grid({**spec_doc("some/model"), "seeds": [0, 1]})
    store = _store(tmp_path)
    bad = cells[1].cell_id()
    (tmp_path / "cells" / bad).mkdir(parents=True)
    (tmp_path / "cells" / bad / "report.json").write_text("{half")
    with pytest.raises(StoreError, match=rf"cells/{bad}/report\.json: corrupt"):
        store.read_cell_report(bad)
    log: list[str] = []
    executor = Recorder()
    run_grid(cells, tmp_path, executor, store=store, log=log.append)
    assert executor.ran == [c.cell_id() for c in cells]  # the corrupt one runs again
    assert any("corrupt" in line and "running the cell again" in line for line in log)
    assert len(list((tmp_path / "cells" / bad).glob("report.corrupt-*.json"))) == 1


def test_a_cell_report_of_the_wrong_shape_is_refused(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(DataError, match=r"cells/c1/report\.json: spec: Field required"):
        store.write_cell_report("c1", {"cell": "c1", "arms": {}})  # no spec: never written
    assert not (tmp_path / "cells" / "c1" / "report.json").exists()
    (tmp_path / "cells" / "c1").mkdir(parents=True)
    (tmp_path / "cells" / "c1" / "report.json").write_text(json.dumps({"cell": "c1", "arms": {}}))
    with pytest.raises(StoreError, match=r"cells/c1/report\.json: spec: Field required"):
        store.read_cell_report("c1")
    (tmp_path / "cells" / "c1" / "report.json").write_text(json.dumps({"cell": "c2", "spec": {}, "arms": {}}))
    with pytest.raises(StoreError, match="not the report of cell c1"):
        store.read_cell_report("c1")


def test_a_remote_artifact_whose_files_do_not_match_its_manifest_is_refused(tmp_path):
    remote = f"file://{tmp_path / 'remote'}"
    first = ArtifactStore(tmp_path / "w1", remote=remote, note=lambda _: None)
    built = first.build("train", {"lr": 1}, {}, _writer("weights"))
    # Another worker's upload of the same key interleaved: its data file, this one's manifest.
    (tmp_path / "remote" / "artifacts" / "train" / built.key / "data.txt").write_text("WEIGHTS")
    second = ArtifactStore(tmp_path / "w2", remote=remote, note=lambda _: None)
    with pytest.raises(StoreError, match="do not match its manifest"):
        second.get("train", built.key)
    assert not (tmp_path / "w2" / "artifacts" / "train" / built.key).exists()


def test_a_worker_does_not_upload_what_another_has_claimed(tmp_path):
    remote = f"file://{tmp_path / 'remote'}"
    first = ArtifactStore(tmp_path / "w1", remote=remote, note=lambda _: None)
    second = ArtifactStore(tmp_path / "w2", remote=remote, note=lambda _: None)
    assert first.mirror.claim("train", "k1")
    assert not second.mirror.claim("train", "k1")  # held by a live worker
    claim = tmp_path / "remote" / "claims" / "train-k1.json"
    claim.write_text(json.dumps({**json.loads(claim.read_text()), "time": 0}))
    assert second.mirror.claim("train", "k1")  # an abandoned claim is taken over
