"""The MNIST loader: checksums, IDX parsing, normalisation, and clear errors on bad files."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from sublearn.mnist.data import (
    MNIST_GZ_SHA256,
    load_digits_8x8,
    load_mnist,
    parse_idx,
    vendored_mnist_dir,
)
from sublearn.util.errors import DataError


def test_vendored_files_match_the_published_sums():
    sums = dict(line.split()[::-1] for line in (vendored_mnist_dir() / "SHA256SUMS").read_text().splitlines())
    assert sums == MNIST_GZ_SHA256


def test_real_mnist_loads_with_official_label_counts():
    data = load_mnist()
    assert tuple(data.x_train.shape) == (60000, 784) and tuple(data.x_test.shape) == (10000, 784)
    assert np.bincount(data.y_train.numpy()).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data.y_test.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(data.x_train.min()) == -1.0 and float(data.x_train.max()) == 1.0


def _copy_vendored(tmp_path: Path) -> Path:
    for name in MNIST_GZ_SHA256:
        shutil.copy(vendored_mnist_dir() / name, tmp_path / name)
    return tmp_path


def test_corrupt_file_is_named_in_a_one_line_error(tmp_path):
    folder = _copy_vendored(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch") as info:
        load_mnist(folder)
    assert "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path):
    folder = _copy_vendored(tmp_path)
    (folder / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: MNIST file not found"):
        load_mnist(folder)


def test_truncated_idx_is_rejected_even_without_checksums(tmp_path):
    folder = _copy_vendored(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    target.write_bytes(gzip.compress(raw[:-7]))
    with pytest.raises(DataError, match="IDX payload has"):
        load_mnist(folder, verify=False)


def test_parse_idx_rejects_bad_magic():
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05", "x.idx")
    arr = parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02\x05\x07", "ok.idx")
    assert arr.tolist() == [5, 7]


def test_digits_split_is_stratified_and_normalised():
    data = load_digits_8x8()
    assert data.input_dim == 64
    assert data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert float(data.x_train.min()) >= -1.0 and float(data.x_train.max()) <= 1.0
    assert len(set(data.y_test.tolist())) == 10
