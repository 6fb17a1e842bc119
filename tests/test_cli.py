"""The command line as a user meets it, each case run in a subprocess: every misuse is one
line on stderr and exit status 2, never a traceback, and leaves no file or folder behind;
output into a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write_fake_mnist

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def run(args, cwd, stdout=subprocess.PIPE, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_mlp", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
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
    # a flag that does not apply to the others given names both, before any work
    (["train", "--optimizer", "adam", "--momentum", "0.9"], ["--momentum 0.9", "--optimizer adam"]),
    (["train", "--recipe", "better", "--momentum", "0.9"], ["--momentum 0.9", "adam", "better recipe"]),
    (["verify", "--layers", "--loss", "mse"], ["--loss mse", "--layers"]),
    (["verify", "--layers", "--steps", "2"], ["--steps 2", "--layers"]),
    (["verify", "--lr", "0.5"], ["--lr 0.5", "without --steps"]),
    (["verify", "--lr", "0.5", "--steps", "0"], ["--lr 0.5", "without --steps"]),
    (["verify", "--graph", "v.txt"], ["--graph v.txt", ".txt", ".svg, .png, .pdf or .dot"]),
    (["verify", "--synthetic"], ["--data", "--synthetic"]),  # (the test adds --data)
    (["graph", "--out", "g.png", "--format", "dot"], ["--out g.png", ".png", "--format dot", "g.dot"]),
    (["graph", "--out", "g.svg", "--format", "png"], ["--out g.svg", "--format png"]),
    (["bench", "--mode", "hvp", "--profile"], ["--profile", "--mode hvp"]),
    (["bench", "--mode", "hvp", "--loss", "generic"], ["--loss generic", "--mode hvp"]),
    (["bench", "--batch-sizes", "1,2", "--profile"], ["--profile", "--batch-sizes"]),
    (["bench", "--batch-sizes", "1,2", "--batch-size", "4"], ["--batch-size 4", "--batch-sizes"]),
    (["bench", "--engines", "autograd,fast"], ["--engines", "unknown engine 'fast'", "autograd, manual"]),
    (["bench", "--mode", "memory", "--engines", "jit"], ["--engines jit", "--mode memory"]),
    # what cannot hold a file is refused, not replaced
    (["graph", "--out", "sock", "--format", "dot"], ["--out sock", "is a socket"]),
    (["train", "--save", "loop.npz"], ["--save loop.npz", "symbolic links"]),
]


@pytest.mark.parametrize("args,words", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_misuse_is_one_line_exit_2_and_leaves_nothing(args, words, data, tmp_path):
    _write_checkpoints(tmp_path)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    (tmp_path / "loop.npz").symlink_to("loop.npz")
    before = {p: os.lstat(tmp_path / p).st_mode for p in tree(tmp_path)}
    extra = ["--data", data]
    if args[0] == "train":
        extra += ["--no-download", "--hidden", "4", "--epochs", "1", "--no-progress"]
    if args[0] == "bench":
        extra = ["--steps", "1", "--no-torch"]
    result = run([*args, *extra], tmp_path)
    assert_misuse(result, *words)
    assert result.stdout == ""  # refused before any work
    assert {p: os.lstat(tmp_path / p).st_mode for p in tree(tmp_path)} == before


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


def test_no_command_prints_the_usage_and_exits_2(tmp_path):
    result = run([], tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: tinygrad-mlp") and "give a command" in result.stderr


def test_every_option_has_help_and_shows_its_default():
    from tinygrad_mlp.cli import _HelpFormatter, build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name, parser in commands.items():
        formatter = _HelpFormatter(name)
        for action in parser._actions:
            if action.dest == "help":
                continue
            text = formatter._get_help_string(action)
            assert action.help and "default" in text, (name, action.option_strings, text)
    assert "--recipe {original,better}" in commands["train"].format_help()
    assert "(default: 784,128,64,32,10)" in " ".join(commands["bench"].format_help().split())


# ---------------------------------------------------------------- data: one rule, a wrong folder says so


def _broken(folder: Path) -> None:
    write_fake_mnist(folder, n_train=6, n_test=2)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])


DATA_CASES = [
    ("--data", "no/such/folder", ["--data no/such/folder: no such folder"]),
    ("--data", "notes.txt", ["--data notes.txt: is a file, not a folder"]),
    ("env", "no/such/folder", ["TINYGRAD_MLP_DATA=no/such/folder: no such folder"]),
    ("env", "notes.txt", ["TINYGRAD_MLP_DATA=notes.txt: is a file, not a folder"]),
    ("--data", "broken", ["t10k-images-idx3-ubyte.gz", "truncated"]),
]
COMMANDS = {
    "train": ["train", "--hidden", "4", "--epochs", "1", "--no-progress"],
    "verify": ["verify", "--hidden", "4", "--samples", "1"],
    "graph": ["graph", "--hidden", "4", "--out", "g.dot"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("how,folder,words", DATA_CASES, ids=[f"{c[0]} {c[1]}" for c in DATA_CASES])
def test_a_missing_or_broken_data_folder_is_exit_2_naming_it(tmp_path, command, how, folder, words):
    (tmp_path / "notes.txt").write_text("not MNIST")
    _broken(tmp_path / "broken")
    before = tree(tmp_path)
    args = [*COMMANDS[command], "--no-download"]
    if how == "--data":
        result = run([*args, "--data", folder], tmp_path)
    else:
        result = run(args, tmp_path, env={"TINYGRAD_MLP_DATA": folder})
    assert_misuse(result, *words)
    assert "synthetic" not in result.stdout + result.stderr and tree(tmp_path) == before


def test_commands_find_the_clones_data_from_a_subfolder(tmp_path):
    # a notebook or a command started in examples/ uses the clone's data/, as train downloaded it
    clone = tmp_path / "clone"
    write_fake_mnist(clone / "data", n_train=30, n_test=10)
    (clone / "pyproject.toml").write_text("")
    (clone / "examples").mkdir()
    env = {"TINYGRAD_MLP_DATA": ""}
    result = run(["train", "--hidden", "4", "--epochs", "0", "--no-download"], clone / "examples", env=env)
    assert result.returncode == 0 and "test acc" in result.stdout, result.stderr
    result = run(["verify", "--hidden", "4", "--samples", "1", "--no-download"], clone / "examples", env=env)
    assert f"real MNIST training images from {clone / 'data'}" in result.stdout, result.stderr
    result = run(["graph", "--hidden", "4", "--out", "g.dot", "--no-download"], clone / "examples", env=env)
    assert f"from {clone / 'data'}" in result.stdout and result.returncode == 0, result.stderr
    assert tree(clone) == {"pyproject.toml", "examples", "examples/g.dot", "data"} | {
        f"data/{n}" for n in os.listdir(clone / "data")
    }


def test_noise_only_when_asked_for(tmp_path):
    result = run(["verify", "--synthetic", "--hidden", "4", "--samples", "1"], tmp_path)
    assert result.returncode == 0 and "synthetic batch of uniform noise images (--synthetic)" in result.stdout


def test_offline_train_says_how_to_point_at_local_files(tmp_path):
    # no network here: every mirror fails at once (an unroutable proxy), and the line says what to do
    proxy = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "TINYGRAD_MLP_DATA": ""}
    proxy |= {
        "HTTPS_PROXY": proxy["https_proxy"],
        "HTTP_PROXY": proxy["http_proxy"],
        "no_proxy": "",
        "NO_PROXY": "",
    }
    result = run(["train", "--hidden", "4", "--epochs", "1"], tmp_path, env=proxy)
    line = assert_misuse(result, "could not download", "--data DIR", "TINYGRAD_MLP_DATA=DIR")
    assert "train-labels-idx1-ubyte.gz" in line and tree(tmp_path) == set()  # ./data made and removed


# ---------------------------------------------------------------- files: links, devices, pipes


def test_graph_streams_into_dev_stdout_without_replacing_it(data, tmp_path):
    # tmp/stdout -> /dev/stdout -> /proc/self/fd/1: the real /dev is never at risk in this test
    (tmp_path / "stdout").symlink_to("/dev/stdout")
    result = run(["graph", "--format", "dot", "--out", "stdout", "--hidden", "2", "--data", data], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph") and result.stdout.rstrip().endswith("}")
    assert "wrote stdout" in result.stderr  # what is said goes to stderr, the picture to stdout
    assert tree(tmp_path) == {"stdout"} and os.readlink(tmp_path / "stdout") == "/dev/stdout"


def test_graph_and_save_write_through_a_link(data, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "g.dot").symlink_to("real/target.dot")
    (tmp_path / "m.npz").symlink_to("real/model.npz")
    assert run(["graph", "--out", "g.dot", "--hidden", "2", "--data", data], tmp_path).returncode == 0
    args = ["train", "--hidden", "2", "--epochs", "1", "--data", data, "--save", "m.npz", "--no-progress"]
    assert run(args, tmp_path).returncode == 0
    assert (tmp_path / "real" / "target.dot").read_text().startswith("digraph")
    assert (tmp_path / "real" / "model.npz").read_bytes()[:4] == b"PK\x03\x04"
    assert os.path.islink(tmp_path / "g.dot") and os.path.islink(tmp_path / "m.npz")


def test_graph_streams_into_a_named_pipe(data, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    got = []
    reader = threading.Thread(target=lambda: got.append((tmp_path / "pipe").read_text()), daemon=True)
    reader.start()
    result = run(["graph", "--format", "dot", "--out", "pipe", "--hidden", "2", "--data", data], tmp_path)
    reader.join(timeout=5)
    assert result.returncode == 0 and got and got[0].startswith("digraph")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


def test_graph_refuses_a_block_device_before_any_work(data, tmp_path):
    try:
        os.mknod(tmp_path / "disk", 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # a loop device's numbers
    except PermissionError:
        pytest.skip("making a device node needs root")
    result = run(["graph", "--format", "dot", "--out", "disk", "--data", data], tmp_path)
    assert_misuse(result, "--out disk", "is a block device")
    assert result.stdout == "" and stat.S_ISBLK(os.lstat(tmp_path / "disk").st_mode)


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("command", ["train", "bench"])
def test_more_threads_than_cores_warns_in_one_line(data, tmp_path, command):
    if command == "train":
        args = ["train", "--hidden", "2", "--epochs", "0", "--data", data]
    else:
        args = ["bench", "--sizes", "784,2,10", "--batch-size", "2", "--steps", "1", "--dtype", "float32"]
        args += ["--no-torch"]
    cores = len(os.sched_getaffinity(0))
    result = run([*args, "--threads", str(cores + 1)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.count("\n") == 1
        and f"--threads {cores + 1} is more than the {cores} core" in result.stderr
    )
    assert "warning" not in run([*args, "--threads", "1"], tmp_path).stderr


def test_train_threads_limits_blas_during_training(data, monkeypatch, capsys):
    from threadpoolctl import threadpool_info

    from tinygrad_mlp import cli, train

    seen = []
    real_fit = train.fit

    def fit(*a, **kw):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real_fit(*a, **kw)

    monkeypatch.setattr(train, "fit", fit)
    assert cli.main(["train", "--hidden", "2", "--epochs", "1", "--data", data, "--threads", "1"]) == 0
    assert seen == [{1}]


def test_interrupted_is_exit_130(monkeypatch, capsys):
    from tinygrad_mlp import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_train", interrupted)  # build_parser looks it up when it runs
    assert cli.main(["train"]) == 130 and capsys.readouterr().err == "tinygrad-mlp train: interrupted\n"


def test_without_dot_only_dot_text_can_stream(data, tmp_path, monkeypatch, capsys):
    from tinygrad_mlp.cli import main

    os.mkfifo(tmp_path / "pipe")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dot: its fallback .dot file has no place here
    assert main(["graph", "--out", str(tmp_path / "pipe"), "--format", "svg", "--data", data]) == 2
    assert "only --format dot can stream" in capsys.readouterr().err
    assert tree(tmp_path) == {"pipe"}
