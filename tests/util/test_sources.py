"""Data sources: local paths and file URLs, ``#sha256=`` pins checked on every use, and clear errors."""

import hashlib

import pytest

from sublearn.util.errors import DataError
from sublearn.util.sources import local_file


def test_a_pinned_source_must_have_its_hash(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n')
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert local_file(f"{path}#sha256={digest}", "carrier.source") == path
    assert local_file(f"file://{path}#sha256={digest.upper()}", "carrier.source") == path
    path.write_text('{"a": 2}\n')
    with pytest.raises(DataError, match=rf"carrier\.source: {path}: sha256 is [0-9a-f]{{64}}, not the pinned {digest}"):
        local_file(f"{path}#sha256={digest}", "carrier.source")


def test_a_malformed_pin_and_a_missing_file_are_named(tmp_path):
    with pytest.raises(DataError, match="must be followed by 64 hex digits"):
        local_file(f"{tmp_path}/x.jsonl#sha256=abc", "eval.truthfulqa")
    with pytest.raises(DataError, match=r"eval\.truthfulqa: .*x\.jsonl: file not found"):
        local_file(f"{tmp_path}/x.jsonl", "eval.truthfulqa")


def test_an_unreachable_url_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("SUBLEARN_HOME", str(tmp_path))
    with pytest.raises(DataError, match="give its local path"):
        local_file("http://127.0.0.1:9/data.jsonl", "carrier.source")
