"""Shared fixtures: where real MNIST lies, and a writer of small IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def real_mnist_dir() -> str:
    """Where the real MNIST files are, by the one rule every command and notebook follows
    (``tinygrad_mlp.data.find_data_dir``): $TINYGRAD_MLP_DATA, else the first data/ folder
    holding MNIST from here up to the clone's top, else the clone's data/."""
    from tinygrad_mlp.data import find_data_dir

    return find_data_dir()


@pytest.fixture(scope="session")
def mnist_dir() -> str:
    path = real_mnist_dir()
    assert any(Path(path).glob("train-images-idx3-ubyte*")), (
        f"real MNIST not found in {path}: run `tinygrad-mlp train` once (it downloads it to the "
        f"clone's data/) or set TINYGRAD_MLP_DATA to its folder"
    )
    return path


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from tinygrad_mlp.data import load_mnist

    return load_mnist(mnist_dir, download=False)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding of a uint8 array (magic 0x0801 for 1-D, 0x0803 for 3-D)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_fake_mnist(
    folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0
) -> dict:
    """Write the four MNIST files, small and random; returns name -> decompressed bytes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    contents = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        contents[f"{split}-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 256, (n, 28, 28)))
        contents[f"{split}-labels-idx1-ubyte"] = idx_bytes(rng.integers(0, 10, n))
    for name, raw in contents.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return contents
