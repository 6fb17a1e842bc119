"""The command line as a user meets it, each case run in a subprocess: every misuse is one
line on stderr and exit status 2, never a traceback, and leaves no file or folder behind;
output into a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_fake_mnist

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def run(args, cwd, stdout=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_mlp", *args],
        cwd=cwd,
        env=ENV,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_misuse(result, *words):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, n_train=60, n_test=20)
    return str(folder)


def _write_checkpoints(folder: Path) -> None:
    (folder / "garbage.npz").write_bytes(os.urandom(600))
    np.save(folder / "plain.npy", np.zeros(3))
    np.savez(folder / "nometa.npz", a=np.zeros(3))
    np.savez(folder / "objects.npz", meta=np.array([{"model": 1}], dtype=object))
    np.savez(folder / "nomodel.npz", meta=np.array(json.dumps({"train": {}})))
    model = {"sizes": [784, 10], "activation": "sigmoid", "output_activation": None, "dtype": "float32"}
    np.savez(folder / "noparams.npz", meta=np.array(json.dumps({"model": model})))


CASES = [
    (["bench", "--sizes", "784,0,10"], ["--sizes", "at least 1", "784,0,10"]),
    (["bench", "--sizes", "784"], ["--sizes needs at least two widths"]),
    (["train", "--seed", "-1"], ["--seed", "-1"]),
    (["train", "--lr", "inf"], ["--lr must be finite"]),
    (["train", "--resume", "garbage.npz"], ["garbage.npz: not a checkpoint"]),
    (["train", "--resume", "nometa.npz"], ["nometa.npz", "'meta' is missing"]),
    (["train", "--resume", "objects.npz"], ["objects.npz: not a checkpoint", "'meta'", "Python objects"]),
    (["train", "--resume", "nomodel.npz"], ["nomodel.npz", "lacks the key 'model'"]),
    (["train", "--resume", "noparams.npz"], ["noparams.npz", "missing layers.0.W"]),
    (["train", "--resume", "absent.npz"], ["absent.npz: cannot read the checkpoint"]),
    (
        ["train", "--save", "garbage.npz/model.npz"],
        ["--save garbage.npz/model.npz", "is a file, not a folder"],
    ),
    (["train", "--save", "new/model.npz"], ["--save new/model.npz", "new does not exist"]),
    (["train", "--save", "."], ["--save .: is a folder"]),
    (["graph", "--out", "new/g.svg"], ["--out new/g.svg", "does not exist"]),
    (["graph", "--out", "g.svg", "--steps", "new/steps"], ["--steps new/steps", "does not exist"]),
    (["verify", "--graph", "new/v.dot"], ["--graph new/v.dot", "does not exist"]),
    (["verify", "--loss", "printed_ce", "--output-activation", "none"], ["printed_ce", "undefined"]),
    (["graph", "--out", "-"], ["--out -", "not supported", "file name"]),
    (["verify", "--los", "sse"], ["unrecognized arguments: --los"]),  # no abbreviated flags
]


@pytest.mark.parametrize("args,words", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_misuse_is_one_line_exit_2_and_leaves_nothing(args, words, data, tmp_path):
    _write_checkpoints(tmp_path)
    before = tree(tmp_path)
    extra = ["--data", data]
    if args[0] == "train":
        extra += ["--no-download", "--hidden", "4", "--epochs", "1", "--no-progress"]
    if args[0] == "bench":
        extra = ["--steps", "1", "--no-torch"]
    result = run([*args, *extra], tmp_path)
    assert_misuse(result, *words)
    assert "epoch 1/1" not in result.stdout  # refused before any training
    assert tree(tmp_path) == before


def test_closed_pipe_ends_quietly(data, tmp_path):
    cases = [(["graph", "--out", "g.dot", "--hidden", "4", "--data", data], 141), (["--help"], 0)]
    for args, expected in cases:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinygrad_mlp", *args],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdout.close()  # as `| head -1` does once it has its line
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=120)
        # 141: as a tool stopped by SIGPIPE; --help goes through argparse, which ignores the closed pipe
        assert err == "" and status == expected, (args, status, err)
    assert tree(tmp_path) == {"g.dot"}  # the work itself was done


def test_save_into_an_existing_folder_and_steps_folder_created(data, tmp_path):
    (tmp_path / "runs").mkdir()
    result = run(
        ["train", "--data", data, "--no-download", "--hidden", "4", "--epochs", "1", "--save", "runs/m.npz"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert tree(tmp_path) == {"runs", "runs/m.npz"}
    result = run(["graph", "--data", data, "--hidden", "2", "--out", "g.dot", "--steps", "steps"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created the folder steps" in result.stdout and (tmp_path / "steps" / "index.html").exists()


def test_examples_refuse_bad_counts_and_handle_zero_epochs(data, tmp_path):
    def example(name, *args):
        return subprocess.run(
            [sys.executable, str(REPO / "examples" / name), *args],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = example("better_mlp.py", "--epochs", "0", "--hidden", "8", "--data", data)
    assert result.returncode == 0, result.stderr
    assert "no training (--epochs 0): the initial network's test accuracy is" in result.stdout
    for name, args in [("better_mlp.py", ["--epochs", "-1"]), ("train_original.py", ["--subset", "0"])]:
        result = example(name, *args, "--data", data)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(f"{name}: error: argument")
    assert tree(tmp_path) == set()


def test_verify_says_when_the_batch_is_larger_than_the_data(data, tmp_path):
    result = run(
        ["verify", "--batch-size", "100000", "--hidden", "4", "--samples", "1", "--data", data], tmp_path
    )
    assert "--batch-size 100000 is more than the" in result.stdout
