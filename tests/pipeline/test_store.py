"""The artifact store on its own: build once, atomic failure with resumable work, the lock between processes,
cell reports and attempts, and the remote mirror (manifest last; another worker downloads instead of building)."""

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from sublearn.analysis.records import RECORD_VERSION
from sublearn.pipeline.store import Artifact, ArtifactStore


def _writer(text: str, calls: list[str] | None = None):
    def produce(out: Path, work: Path) -> dict:
        if calls is not None:
            calls.append(text)
        (out / "data.txt").write_text(text)
        return {"n": len(text)}

    return produce


def test_an_artifact_is_built_once_and_found_afterwards(tmp_path):
    store = ArtifactStore(tmp_path)
    calls: list[str] = []
    first = store.build("filter", {"a": 1}, {"src": "model"}, _writer("hello", calls))
    again = store.build("filter", {"a": 1}, {"src": "model"}, _writer("other", calls))
    assert calls == ["hello"] and again.key == first.key and (again.path / "data.txt").read_text() == "hello"
    assert again.manifest["n"] == 5 and again.manifest["inputs"] == {"src": "model"}
    assert again.manifest["stage_version"] >= 1 and again.ref == f"filter/{first.key}"
    other = store.build("filter", {"a": 2}, {"src": "model"}, _writer("x"))
    downstream = store.build("train", {}, {"data": first}, _writer("y"))
    assert other.key != first.key and downstream.manifest["inputs"] == {"data": first.ref}


def test_a_failed_build_leaves_no_artifact_and_keeps_its_work_for_the_next_attempt(tmp_path):
    store = ArtifactStore(tmp_path)

    def failing(out: Path, work: Path) -> dict:
        (work / "progress.txt").write_text("half")
        (out / "data.txt").write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.build("generate", {}, {}, failing)
    assert not list((tmp_path / "artifacts" / "generate").iterdir())  # no half-written artifact, no temp folder

    seen = []

    def resuming(out: Path, work: Path) -> dict:
        seen.append((work / "progress.txt").read_text())
        (out / "data.txt").write_text("done")
        return {}

    artifact = store.build("generate", {}, {}, resuming)
    assert seen == ["half"] and (artifact.path / "data.txt").read_text() == "done"
    assert not (tmp_path / "work" / "generate" / artifact.key).exists()  # work is dropped once finished


def _slow_build(root: str, log: str) -> None:
    def produce(out: Path, work: Path) -> dict:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        (out / "data.txt").write_text("x")
        return {}

    ArtifactStore(root).build("teacher", {"k": 1}, {}, produce)


def test_two_processes_never_build_the_same_artifact_at_once(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_slow_build, args=(str(tmp_path / "run"), str(log))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert log.read_text() == "built\n"  # the second waited for the lock, then found the artifact


def test_cell_reports_and_attempts(tmp_path):
    store = ArtifactStore(tmp_path)
    assert store.read_cell_report("c1") is None
    attempt = store.start_attempt("c1")
    store.write_cell_report("c1", {"cell": "c1", "spec": {}, "arms": {}})
    store.finish_attempt("c1", attempt)
    assert store.read_cell_report("c1") == {"cell": "c1", "spec": {}, "arms": {}, "version": RECORD_VERSION}
    record = json.loads((tmp_path / "cells" / "c1" / "attempts" / f"{attempt}.json").read_text())
    assert record["finished"] >= record["started"] > 0 and record["pid"] > 0


def test_the_remote_mirror_shares_artifacts_between_workers_with_no_common_folder(tmp_path):
    remote = f"file://{tmp_path / 'remote'}"
    first = ArtifactStore(tmp_path / "worker1", remote=remote)
    order: list[str] = []
    put = first.mirror.put
    first.mirror.put = lambda local, relative: (order.append(Path(relative).name), put(local, relative))  # type: ignore
    built = first.build("train", {"lr": 1}, {}, _writer("weights"))
    assert order == ["data.txt", "manifest.json"]  # the manifest, which marks it complete, goes last
    uploaded = tmp_path / "remote" / "artifacts" / "train" / built.key
    assert (uploaded / "manifest.json").is_file() and (uploaded / "data.txt").read_text() == "weights"
    calls: list[str] = []
    second = ArtifactStore(tmp_path / "worker2", remote=remote)
    found = second.build("train", {"lr": 1}, {}, _writer("again", calls))
    assert calls == [] and (found.path / "data.txt").read_text() == "weights"
    assert found.path.is_relative_to(tmp_path / "worker2")  # downloaded into the worker's own folder
    first.write_cell_report("c", {"cell": "c", "spec": {}, "arms": {}})
    assert second.read_cell_report("c") == {"cell": "c", "spec": {}, "arms": {}, "version": RECORD_VERSION}


def test_artifacts_are_frozen_records():
    artifact = Artifact("evaluate", "abc", Path("/x"), {})
    with pytest.raises(AttributeError):
        artifact.key = "other"  # type: ignore[misc]
