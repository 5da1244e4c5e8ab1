"""Atomic writes: readable like ordinary files, and nothing half-written left behind on failure."""

import os

import pytest

from sublearn.util.atomic import FILE_MODE, atomic_write_text, atomic_write_with


def test_files_get_ordinary_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "report.html", "<html></html>")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == FILE_MODE == 0o666 & ~umask


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "table.csv", "old")

    def broken(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_with(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
