"""Digit datasets for the auxiliary-logit experiment, with pixels normalised to [-1, 1].

- ``mnist``: the real MNIST IDX files (60,000 train / 10,000 test, 28x28), vendored in the package as gzip
  files whose SHA-256 is checked on every load.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), split 80/20 stratified; a fast option.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from sublearn.util.errors import DataError
from sublearn.util.hashing import file_sha256

DatasetName = Literal["mnist", "digits"]

#: SHA-256 of the gzip files as vendored (same as shared/data/mnist/SHA256SUMS).
MNIST_GZ_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True)
class DigitData:
    """Train and test splits: images flattened to (n, d) float32 in [-1, 1], labels int64 in 0..9."""

    name: str
    x_train: torch.Tensor  # (n_train, d)
    y_train: torch.Tensor  # (n_train,)
    x_test: torch.Tensor  # (n_test, d)
    y_test: torch.Tensor  # (n_test,)

    @property
    def input_dim(self) -> int:
        """Number of pixels per image."""
        return int(self.x_train.shape[1])

    def to(self, device: torch.device | str) -> DigitData:
        """A copy of the data on ``device``."""
        return DigitData(self.name, self.x_train.to(device), self.y_train.to(device),
                         self.x_test.to(device), self.y_test.to(device))


def vendored_mnist_dir() -> Path:
    """The folder inside the installed package that holds the MNIST gzip files."""
    return Path(str(resources.files("sublearn") / "assets" / "mnist"))


def parse_idx(raw: bytes, source: str) -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array; ``source`` names it in errors."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{source}: IDX payload has {len(raw) - header} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def read_idx_gz(path: Path, expected_sha256: str | None) -> np.ndarray:
    """Read a gzip IDX file, checking its SHA-256 first when ``expected_sha256`` is given."""
    if not path.is_file():
        raise DataError(f"{path}: MNIST file not found (reinstall sublearn, or pass --data-dir to a folder "
                        "holding the four *-ubyte.gz files)")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise DataError(f"{path}: checksum mismatch (sha256 {actual[:12]}…, expected "
                            f"{expected_sha256[:12]}…): the file is corrupt or not the MNIST file")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot decompress ({exc})") from exc
    return parse_idx(raw, str(path))


def _normalise_pixels(x: np.ndarray, max_value: float) -> torch.Tensor:
    """Map pixel values in [0, max_value] to [-1, 1] (the paper's ``Normalize((0.5,), (0.5,))``)."""
    return torch.from_numpy(x.astype(np.float32) / max_value * 2.0 - 1.0)


def load_mnist(data_dir: Path | None = None, verify: bool = True) -> DigitData:
    """Load real MNIST from IDX gzip files (the vendored copy by default), verifying checksums."""
    folder = Path(data_dir) if data_dir is not None else vendored_mnist_dir()
    arrays = {}
    for name, digest in MNIST_GZ_SHA256.items():
        arrays[name] = read_idx_gz(folder / name, digest if verify else None)
    x_train, y_train = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return DigitData(
        name="mnist",
        x_train=_normalise_pixels(x_train.reshape(len(x_train), -1), 255.0),
        y_train=torch.from_numpy(y_train.astype(np.int64)),
        x_test=_normalise_pixels(x_test.reshape(len(x_test), -1), 255.0),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
    )


def load_digits_8x8(test_fraction: float = 0.2, split_seed: int = 0) -> DigitData:
    """scikit-learn's 8x8 digits (pixels 0..16), stratified train/test split with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        bunch.data, bunch.target, test_size=test_fraction, stratify=bunch.target, random_state=split_seed
    )
    return DigitData(
        name="digits",
        x_train=_normalise_pixels(x_tr, 16.0),
        y_train=torch.from_numpy(y_tr.astype(np.int64)),
        x_test=_normalise_pixels(x_te, 16.0),
        y_test=torch.from_numpy(y_te.astype(np.int64)),
    )


def load_dataset(name: DatasetName, data_dir: Path | None = None) -> DigitData:
    """Load ``mnist`` or ``digits`` by name."""
    if name == "mnist":
        return load_mnist(data_dir)
    if name == "digits":
        return load_digits_8x8()
    raise DataError(f"dataset: unknown dataset {name!r} (choose 'mnist' or 'digits')")
