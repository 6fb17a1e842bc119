"""MNIST loading on small IDX files written here (good and broken), the download code
against a patched opener and a local HTTP server, and the real files from ../shared."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from conftest import idx_bytes, write_fake_mnist

from tinygrad_mlp import data
from tinygrad_mlp.data import DataError, download_file, load_mnist, read_idx


@pytest.mark.parametrize("gz", [True, False])
def test_loads_small_files_gz_or_raw(tmp_path, gz):
    contents = write_fake_mnist(tmp_path, n_train=20, n_test=10, gz=gz)
    X, y, Xt, yt = load_mnist(str(tmp_path), download=False)
    assert X.shape == (20, 784) and Xt.shape == (10, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    raw = np.frombuffer(contents["train-images-idx3-ubyte"][16:], np.uint8).reshape(20, 784)
    np.testing.assert_array_equal(X, raw.astype(np.float32) / 255)
    np.testing.assert_array_equal(yt, np.frombuffer(contents["t10k-labels-idx1-ubyte"][8:], np.uint8))
    assert X.min() >= 0 and X.max() <= 1


def test_folder_comes_from_the_environment(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, n_train=3, n_test=2)
    monkeypatch.setenv("TINYGRAD_MLP_DATA", str(tmp_path))
    assert load_mnist(download=False)[0].shape == (3, 784)


def _corrupt(tmp_path, name, raw: bytes, gz: bool = True):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize(
    "name,make,pattern",
    [
        ("train-images-idx3-ubyte", lambda: idx_bytes(np.zeros((4, 28, 28)))[:-5], "truncated"),
        (
            "train-images-idx3-ubyte",
            lambda: idx_bytes(np.zeros((4, 28, 28))) + b"xx",
            "longer than its header",
        ),
        (
            "train-images-idx3-ubyte",
            lambda: idx_bytes(np.zeros((4, 28, 28)), magic=0x0801),
            "magic number 2049, expected 2051",
        ),
        ("train-labels-idx1-ubyte", lambda: b"\x12\x34\x56\x78" + b"\x00" * 8, "bad magic number 0x12345678"),
        (
            "train-images-idx3-ubyte",
            lambda: idx_bytes(np.zeros((4, 27, 28))),
            r"dimensions \(4, 27, 28\), expected \(N, 28, 28\)",
        ),
        ("train-labels-idx1-ubyte", lambda: idx_bytes(np.zeros(5)), "5 labels for 4 images"),
        ("t10k-labels-idx1-ubyte", lambda: idx_bytes(np.array([3, 12])), r"a label is 12"),
        ("train-labels-idx1-ubyte", lambda: b"\x00\x00", "too short"),
    ],
)
def test_broken_files_name_the_file_and_the_problem(tmp_path, name, make, pattern):
    _corrupt(tmp_path, name, make())
    with pytest.raises(DataError, match=pattern) as info:
        load_mnist(str(tmp_path), download=False)
    assert name in str(info.value)


def test_truncated_gzip_stream_is_named(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: the gzip stream is truncated"):
        load_mnist(str(tmp_path), download=False)


def test_missing_file_without_download_says_where(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*missing, and downloading is off"):
        load_mnist(str(tmp_path), download=False)


# ---------------------------------------------------------------- downloads


class FakeResponse(io.BytesIO):
    """A response that serves ``payload`` in 8-byte chunks, or breaks off halfway."""

    def __init__(self, payload: bytes, cut: bool = False):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}
        self.fail_after = len(payload) // 2 if cut else None

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(8)


def _fake_files(monkeypatch, tmp_path):
    """Small MNIST payloads with their checksums patched into data.FILES."""
    contents = write_fake_mnist(tmp_path / "source", n_train=6, n_test=3)
    for name, raw in contents.items():
        magic, dims, _ = data.FILES[name]
        monkeypatch.setitem(data.FILES, name, (magic, dims, hashlib.sha256(raw).hexdigest()))
    return contents


def test_download_verifies_and_falls_through_mirrors(tmp_path, monkeypatch):
    contents = _fake_files(monkeypatch, tmp_path)
    requested = []

    def opener(url, timeout):
        requested.append(url)
        name = url.rsplit("/", 1)[1][:-3]
        if url.startswith("http://bad-checksum/"):
            return FakeResponse(gzip.compress(contents[name] + b"x"))
        if url.startswith("http://cut-off/"):
            return FakeResponse(gzip.compress(contents[name]), cut=True)
        return FakeResponse(gzip.compress(contents[name]))

    target = tmp_path / "data"
    path = download_file(
        "train-labels-idx1-ubyte",
        str(target),
        mirrors=["http://bad-checksum/", "http://cut-off/", "http://good/"],
        opener=opener,
        progress=False,
    )
    assert requested == [
        m + "train-labels-idx1-ubyte.gz" for m in ("http://bad-checksum/", "http://cut-off/", "http://good/")
    ]
    assert gzip.decompress(Path(path).read_bytes()) == contents["train-labels-idx1-ubyte"]
    assert sorted(p.name for p in target.iterdir()) == ["train-labels-idx1-ubyte.gz"]  # no temporary left


def test_failed_download_leaves_nothing_and_lists_each_mirror(tmp_path, monkeypatch):
    contents = _fake_files(monkeypatch, tmp_path)

    def opener(url, timeout):
        if "first" in url:
            return FakeResponse(gzip.compress(contents["t10k-labels-idx1-ubyte"]), cut=True)
        raise OSError("no route to host")

    target = tmp_path / "data"
    with pytest.raises(DataError) as info:
        download_file(
            "t10k-labels-idx1-ubyte", str(target), ["http://first/", "http://second/"], opener, progress=False
        )
    msg = str(info.value)
    assert "http://first/t10k-labels-idx1-ubyte.gz: connection reset" in msg
    assert "http://second/t10k-labels-idx1-ubyte.gz: no route to host" in msg
    assert not target.exists()  # the folder made for the download is gone with it


def test_a_failed_download_into_a_mistyped_folder_leaves_no_folders(tmp_path, monkeypatch):
    _fake_files(monkeypatch, tmp_path)

    def opener(url, timeout):
        raise OSError("no route to host")

    existing = tmp_path / "existing"
    existing.mkdir()
    for target in (tmp_path / "a" / "b" / "c", existing / "typo", existing):
        with pytest.raises(DataError):
            download_file("t10k-labels-idx1-ubyte", str(target), ["http://only/"], opener, progress=False)
    assert not (tmp_path / "a").exists() and not (existing / "typo").exists()
    assert existing.is_dir() and list(existing.iterdir()) == []  # a folder that was there stays


def test_load_mnist_downloads_missing_files_from_a_local_server(tmp_path, monkeypatch):
    contents = _fake_files(monkeypatch, tmp_path)
    served = tmp_path / "source"
    # One file is already there; the other three come over HTTP from 127.0.0.1.
    target = tmp_path / "data"
    target.mkdir()
    (target / "train-images-idx3-ubyte.gz").write_bytes((served / "train-images-idx3-ubyte.gz").read_bytes())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(data, "MIRRORS", (f"http://127.0.0.1:{server.server_port}/",))
        monkeypatch.setattr(
            data.download_file, "__defaults__", (data.MIRRORS, *data.download_file.__defaults__[1:])
        )
        X, y, Xt, yt = load_mnist(str(target), download=True)
    finally:
        server.shutdown()
        server.server_close()
    assert X.shape == (6, 784) and Xt.shape == (3, 784)
    np.testing.assert_array_equal(y, np.frombuffer(contents["train-labels-idx1-ubyte"][8:], np.uint8))
    assert sorted(p.name for p in target.iterdir()) == sorted(n + ".gz" for n in contents)


# ---------------------------------------------------------------- the real files


def test_real_mnist_from_shared(mnist, mnist_dir):
    X, y, Xt, yt = mnist
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist()[:2] == [5923, 6742]  # the well-known class counts
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    raw = gzip.decompress(Path(mnist_dir, "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == data.FILES["t10k-labels-idx1-ubyte"][2]
    assert read_idx(f"{mnist_dir}/t10k-labels-idx1-ubyte.gz").shape == (10000,)


# ---------------------------------------------------------------- where the files are: one rule


def _tree(root: Path, spec: str) -> None:
    """Make ``spec``'s paths under ``root``: ``clone/pyproject.toml`` a file, ``x/data*`` a
    folder holding (fake) MNIST, anything ending in ``/`` an empty folder."""
    for item in spec.split():
        path = root / item.rstrip("/*")
        if item.endswith("*"):
            write_fake_mnist(path, n_train=2, n_test=1)
        elif item.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")


# (what exists, the current folder, --data, $TINYGRAD_MLP_DATA, the folder the rule picks)
LOOKUP = [
    ("clone/pyproject.toml clone/data* given*", "clone", "given", None, "given"),
    ("clone/pyproject.toml clone/data* env*", "clone", None, "env", "env"),
    ("clone/pyproject.toml clone/data* given* env*", "clone", "given", "env", "given"),
    ("clone/pyproject.toml clone/data* clone/examples/", "clone/examples", None, None, "clone/data"),
    ("clone/.git/ clone/data* clone/a/b/", "clone/a/b", None, None, "clone/data"),
    (
        "clone/pyproject.toml clone/data* clone/examples/data*",
        "clone/examples",
        None,
        None,
        "clone/examples/data",
    ),
    ("clone/pyproject.toml clone/data/ clone/examples/", "clone/examples", None, None, "clone/data"),
    ("data* clone/pyproject.toml clone/examples/", "clone/examples", None, None, "clone/data"),  # not above
    ("clone/pyproject.toml clone/examples/data/", "clone/examples", None, None, "clone/data"),  # empty: skip
    ("data* outside/", "outside", None, None, "outside/data"),  # outside a clone: ./data only
]


@pytest.mark.parametrize("spec,cwd,given,env,expected", LOOKUP, ids=[c[0] + " @" + c[1] for c in LOOKUP])
def test_one_lookup_rule(tmp_path, monkeypatch, spec, cwd, given, env, expected):
    root = tmp_path / "root"
    _tree(root, spec)
    (root / cwd).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(root / cwd)
    monkeypatch.delenv("TINYGRAD_MLP_DATA", raising=False)
    if env:
        monkeypatch.setenv("TINYGRAD_MLP_DATA", str(root / env))
    found = data.find_data_dir(str(root / given) if given else None)
    assert Path(found).resolve() == (root / expected).resolve()
    if "*" in spec and Path(found).is_dir() and any(Path(found).iterdir()):
        assert load_mnist(str(root / given) if given else None, download=False)[0].shape == (2, 784)


@pytest.mark.parametrize(
    "make,given_as,pattern",
    [
        (lambda p: None, "--data", r"--data .*/nope: no such folder"),
        (lambda p: p.write_text("x"), "--data", r"--data .*/nope: is a file, not a folder"),
        (lambda p: None, "TINYGRAD_MLP_DATA", r"TINYGRAD_MLP_DATA=.*/nope: no such folder"),
        (lambda p: p.write_text("x"), "TINYGRAD_MLP_DATA", r"TINYGRAD_MLP_DATA=.*/nope: is a file"),
    ],
)
def test_a_given_folder_must_exist_and_is_never_created(tmp_path, monkeypatch, make, given_as, pattern):
    path = tmp_path / "nope"
    make(path)
    monkeypatch.setenv("TINYGRAD_MLP_DATA", str(path) if given_as == "TINYGRAD_MLP_DATA" else "")

    def opener(url, timeout):  # would it try, it could not
        raise AssertionError("no download into a folder that is not there")

    monkeypatch.setattr(data.urllib.request, "urlopen", opener)
    with pytest.raises(DataError, match=pattern):
        load_mnist(str(path) if given_as == "--data" else None, download=True, given_as="--data")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["nope"] if path.exists() else [])


def test_offline_error_says_how_to_use_local_files(tmp_path, monkeypatch):
    _fake_files(monkeypatch, tmp_path)

    def opener(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(data, "MIRRORS", ("http://only/",))
    monkeypatch.setattr(
        data.download_file, "__defaults__", (data.MIRRORS, opener, *data.download_file.__defaults__[2:])
    )
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError) as info:
        load_mnist(str(tmp_path / "mine"))
    msg = str(info.value)
    assert (
        "\n" not in msg and "http://only/train-images-idx3-ubyte.gz: <urlopen error Temporary failure" in msg
    )
    for words in ("--data DIR", "TINYGRAD_MLP_DATA=DIR", *[n + ".gz" for n in data.FILES]):
        assert words in msg, msg
    assert list((tmp_path / "mine").iterdir()) == []
