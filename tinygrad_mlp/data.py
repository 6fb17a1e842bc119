"""MNIST: read the four standard IDX files (gzipped or not), download them if missing.

    X_train, y_train, X_test, y_test = load_mnist()

Where the files are, one rule for every command, the notebooks and the tests
(:func:`find_data_dir`):

1. the folder given (``data_dir``; ``--data DIR`` on the command line), else
2. the folder in the environment variable ``TINYGRAD_MLP_DATA``, else
3. the first ``data/`` folder holding MNIST files, looking in the current folder and
   then upward to the top of the clone (the folder holding ``pyproject.toml`` or
   ``.git``), so a notebook started in ``examples/`` finds the clone's ``data/``, else
4. the clone's ``data/`` (``./data`` outside a clone), where missing files are downloaded.

A folder given by 1 or 2 must exist (it is never created: a typo is an error naming it,
not a download into a new folder). A missing file is downloaded when ``download=True``:
the mirrors are tried in order, the SHA-256 of the decompressed content is checked, and
the file is written under a temporary name and renamed only when complete, so an
interrupted or corrupt download leaves nothing behind.

The IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header of a magic
number (0x00000801 for labels, 0x00000803 for images), then one 32-bit size per
dimension, then the unsigned bytes.

This module imports numpy only (tqdm, for the progress bar, if it is installed).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from ._files import atomic_write

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# name -> (magic number, dimensions after the first, SHA-256 of the decompressed file)
FILES: dict[str, tuple[int, tuple[int, ...], str]] = {
    "train-images-idx3-ubyte": (
        2051,
        (28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (2049, (), "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (
        2051,
        (28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (2049, (), "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}


class DataError(RuntimeError):
    """A data file is missing, truncated or corrupt; the message names the file."""


DATA_ENV = "TINYGRAD_MLP_DATA"
LOCAL_FILES_HINT = (
    "to use MNIST files you have, put "
    + ", ".join(f"{name}.gz" for name in FILES)
    + " (gzipped or not) in a folder and give it with --data DIR or TINYGRAD_MLP_DATA=DIR"
)


def clone_top(start: str | None = None) -> str | None:
    """The top of the clone holding ``start`` (default: the current folder): the nearest
    folder, ``start`` or above, with a ``pyproject.toml`` or a ``.git``; None outside one."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.exists(os.path.join(folder, "pyproject.toml")) or os.path.exists(
            os.path.join(folder, ".git")
        ):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _has_mnist(folder: str) -> bool:
    return any(_find(folder, name) for name in FILES)


def _check_folder(folder: str, given_as: str) -> None:
    label = f"{given_as} {folder}" if given_as.startswith("-") else f"{given_as}={folder}"
    if os.path.isdir(folder):
        return
    if os.path.exists(folder):
        raise DataError(f"{label}: is a file, not a folder (give the folder that holds the MNIST files)")
    raise DataError(f"{label}: no such folder")


def find_data_dir(data_dir: str | None = None, given_as: str = "data_dir") -> str:
    """The MNIST folder by the module's one rule: ``data_dir``, else ``$TINYGRAD_MLP_DATA``,
    else the first ``data/`` holding MNIST files from the current folder up to the clone's
    top, else the clone's ``data/`` (``./data`` outside a clone; it may not exist yet).
    A folder given by ``data_dir`` (named ``given_as`` in errors, e.g. ``--data``) or by the
    environment must exist: else DataError naming it."""
    if data_dir:
        _check_folder(data_dir, given_as)
        return data_dir
    if os.environ.get(DATA_ENV):
        _check_folder(os.environ[DATA_ENV], DATA_ENV)
        return os.environ[DATA_ENV]
    here = os.getcwd()
    top = clone_top(here)
    folder = here
    while True:
        if _has_mnist(os.path.join(folder, "data")):
            return os.path.join(folder, "data")
        if top is None or folder == top or os.path.dirname(folder) == folder:
            break
        folder = os.path.dirname(folder)
    return os.path.join(top or here, "data")


def default_data_dir() -> str:
    """:func:`find_data_dir` with nothing given."""
    return find_data_dir()


def _decompress(raw: bytes, path: str) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip stream is truncated or corrupt ({exc})") from None


def parse_idx(
    raw: bytes, path: str, magic: int | None = None, dims: tuple[int, ...] | None = None
) -> np.ndarray:
    """Decode the (decompressed) bytes of one IDX file of unsigned bytes, checking
    the magic number, the dimensions after the first, and the length."""
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    (got_magic,) = struct.unpack(">I", raw[:4])
    ndim = got_magic & 0xFF
    if got_magic >> 8 != 0x08 or ndim == 0:
        raise DataError(f"{path}: bad magic number 0x{got_magic:08x}: not an IDX file of unsigned bytes")
    if magic is not None and got_magic != magic:
        raise DataError(f"{path}: magic number {got_magic}, expected {magic} (is it the right file?)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if dims is not None and tuple(shape[1:]) != dims:
        raise DataError(
            f"{path}: dimensions {shape}, expected (N, {', '.join(map(str, dims))})".replace(", )", ")")
        )
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: {what}: {len(raw)} bytes, the header {shape} needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str, magic: int | None = None, dims: tuple[int, ...] | None = None) -> np.ndarray:
    """Read one IDX file, gzipped or not (told apart by the gzip magic bytes)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_idx(_decompress(raw, path), path, magic, dims)


def _find(folder: str, name: str) -> str | None:
    for candidate in (name + ".gz", name):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def _progress(total: int | None, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety, not a requirement
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)


def _fetch_verified(url: str, out, opener: Callable, timeout: float, progress: bool, name: str) -> None:
    """Read ``url``, check the SHA-256 of its decompressed content (DataError on a
    mismatch), then write it to the open file ``out``."""
    with opener(url, timeout=timeout) as response:
        total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        bar = _progress(int(total) if total else None, name) if progress else None
        raw = bytearray()
        try:
            while chunk := response.read(1 << 16):
                raw += chunk
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    sha = hashlib.sha256(_decompress(bytes(raw), url)).hexdigest()
    expected = FILES[name][2]
    if sha != expected:
        raise DataError(f"checksum mismatch: SHA-256 {sha[:16]}..., expected {expected[:16]}...")
    out.write(raw)


def download_file(
    name: str,
    folder: str,
    mirrors: Sequence[str] = MIRRORS,
    opener: Callable = urllib.request.urlopen,
    progress: bool = True,
    timeout: float = 30.0,
) -> str:
    """Download ``name``.gz into ``folder`` from the first mirror that serves it intact.

    Each attempt reads the file (at most 10 MB) with a progress bar; the SHA-256 of
    its decompressed content must match; only then is it written to a temporary
    file in ``folder`` and renamed into place.
    Returns the path; raises :class:`DataError` listing every mirror's failure.
    """
    final = os.path.join(folder, name + ".gz")
    failures = []
    for mirror in mirrors:
        url = mirror + name + ".gz"
        try:
            atomic_write(
                final, lambda out, url=url: _fetch_verified(url, out, opener, timeout, progress, name)
            )
            return final
        except (OSError, urllib.error.URLError, DataError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
    raise DataError(f"{final}: could not download it from any mirror ({'; '.join(failures)})")


def load_mnist(
    data_dir: str | None = None, download: bool = True, given_as: str = "data_dir"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(X_train, y_train, X_test, y_test)``: X float32 of shape (N, 784) in
    [0, 1], y int64 class labels. The folder is :func:`find_data_dir`'s (``given_as``
    names ``data_dir`` in its errors); every problem is a DataError naming the folder or
    the file."""
    folder = find_data_dir(data_dir, given_as)
    arrays = {}
    for name, (magic, dims, _sha) in FILES.items():
        path = _find(folder, name)
        if path is None:
            if not download:
                raise DataError(
                    f"{os.path.join(folder, name)}[.gz]: missing, and downloading is off; {LOCAL_FILES_HINT}"
                )
            try:
                path = download_file(name, folder)
            except DataError as exc:
                raise DataError(f"{exc}; {LOCAL_FILES_HINT}") from None
        arrays[name] = read_idx(path, magic, dims)
    out = []
    for split in ("train", "t10k"):
        images = arrays[f"{split}-images-idx3-ubyte"]
        labels = arrays[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise DataError(
                f"{os.path.join(folder, split + '-labels-idx1-ubyte')}: {len(labels)} labels "
                f"for {len(images)} images"
            )
        if labels.size and labels.max() > 9:
            raise DataError(
                f"{os.path.join(folder, split + '-labels-idx1-ubyte')}: a label is {labels.max()} (> 9)"
            )
        out.append(images.reshape(len(images), -1).astype(np.float32) / 255.0)
        out.append(labels.astype(np.int64))
    return tuple(out)
