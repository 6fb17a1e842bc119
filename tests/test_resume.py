"""``train --resume`` continues the same run: 2 epochs, saved, then 2 more give the weights
(and optimizer state, learning rate, shuffling) of 4 epochs in one go, bit for bit, in
float64 with one BLAS thread; a flag that contradicts the checkpoint is an error naming
both values; an old checkpoint still evaluates but says it cannot be continued."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinygrad_mlp import nn
from tinygrad_mlp.cli import main

SMALL = ["--hidden", "16", "--subset", "600", "--dtype", "float64", "--threads", "1", "--no-progress"]
RUNS = {
    "adam, decayed lr": ["--recipe", "better", "--lr-decay", "0.5"],
    "sgd, momentum": ["--recipe", "original", "--momentum", "0.9", "--lr-decay", "0.7", "--batch-size", "50"],
}


def train(capsys, *argv) -> tuple[int, str, str]:
    status = main(["train", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def arrays(path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as f:  # checkpoints hold no Python objects
        files = {k: f[k] for k in f.files}
    return files, json.loads(str(files.pop("meta")))


def epoch_lines(out: str) -> list[str]:
    return [line.rsplit("  ", 1)[0] for line in out.splitlines() if line.startswith("epoch ")]  # no seconds


@pytest.mark.parametrize("recipe", list(RUNS))
def test_two_plus_two_epochs_are_four_bit_for_bit(tmp_path, capsys, mnist_dir, recipe):
    base = [*RUNS[recipe], *SMALL, "--data", mnist_dir]
    status, out4, _ = train(capsys, *base, "--epochs", "4", "--save", str(tmp_path / "four.npz"))
    assert status == 0
    assert train(capsys, *base, "--epochs", "2", "--save", str(tmp_path / "two.npz"))[0] == 0
    resume = ["--resume", str(tmp_path / "two.npz"), "--data", mnist_dir, "--threads", "1", "--no-progress"]
    status, out, err = train(capsys, *resume, "--epochs", "2", "--save", str(tmp_path / "more.npz"))
    assert status == 0, err
    assert epoch_lines(out) == epoch_lines(out4)[2:]  # "epoch 3/4 ...", "epoch 4/4 ..."
    four, meta4 = arrays(tmp_path / "four.npz")
    more, meta = arrays(tmp_path / "more.npz")
    assert sorted(four) == sorted(more) and any(k.startswith("extra/") for k in four)
    for key in four:  # weights and optimizer state (momentum buffers; Adam's t, m, v)
        assert four[key].dtype == more[key].dtype and np.array_equal(four[key], more[key]), key
    assert meta["resume"] == meta4["resume"]  # epoch 4, the same learning rate and shuffling state


def test_checkpoint_holds_the_recipe_and_the_training_state(tmp_path, capsys, mnist_dir):
    path = tmp_path / "m.npz"
    argv = [*RUNS["adam, decayed lr"], *SMALL, "--data", mnist_dir, "--epochs", "1", "--save", str(path)]
    assert train(capsys, *argv)[0] == 0
    _, meta = arrays(path)
    run = meta["train"]
    expected = {"sizes": [784, 16, 10], "activation": "relu", "init": "he", "loss": "cross_entropy"}
    expected |= {"optimizer": "adam", "lr": 0.001, "lr_decay": 0.5, "batch_size": 128, "dtype": "float64"}
    assert {k: run[k] for k in expected} == expected and meta["recipe"] == "better"
    assert meta["resume"]["epoch"] == 1 and meta["resume"]["lr"] == 0.0005
    assert len(meta["resume"]["rng"]["keys"]) == 624


@pytest.fixture(scope="module")
def relu_checkpoint(tmp_path_factory, mnist_dir):
    path = tmp_path_factory.mktemp("ckpt") / "relu.npz"
    argv = [
        "train",
        *RUNS["adam, decayed lr"],
        *SMALL,
        "--data",
        mnist_dir,
        "--epochs",
        "1",
        "--save",
        str(path),
    ]
    assert main(argv) == 0
    return str(path)


CONTRADICTIONS = [
    (["--activation", "sigmoid"], "--activation sigmoid contradicts", "--activation relu"),
    (["--hidden", "8"], "--sizes 784,8,10 contradicts", "--sizes 784,16,10"),
    (
        ["--output-activation", "sigmoid"],
        "--output-activation sigmoid contradicts",
        "--output-activation none",
    ),
    (["--loss", "mse"], "--loss mse contradicts", "--loss cross_entropy"),
    (["--init", "xavier"], "--init xavier contradicts", "--init he"),
    (["--dtype", "float32"], "--dtype float32 contradicts", "--dtype float64"),
    (["--seed", "1"], "--seed 1 contradicts", "--seed 0"),
    (["--optimizer", "sgd"], "--optimizer sgd contradicts", "--optimizer adam"),
    (["--lr", "0.01"], "--lr 0.01 contradicts", "--lr 0.001"),
    (["--lr-decay", "0.9"], "--lr-decay 0.9 contradicts", "--lr-decay 0.5"),
    (["--batch-size", "64"], "--batch-size 64 contradicts", "--batch-size 128"),
    (["--subset", "100"], "--subset 100 contradicts", "--subset 600"),
    (["--recipe", "original"], "--recipe original contradicts", "--recipe better"),
    (["--momentum", "0.9"], "--momentum 0.9 does not apply to --optimizer adam", "checkpoint"),
]


@pytest.mark.parametrize("flags,given,held", CONTRADICTIONS, ids=[" ".join(c[0]) for c in CONTRADICTIONS])
def test_a_flag_that_contradicts_the_checkpoint_names_both(
    relu_checkpoint, mnist_dir, capsys, flags, given, held
):
    status, out, err = train(
        capsys, "--resume", relu_checkpoint, "--data", mnist_dir, *flags, "--epochs", "1"
    )
    assert status == 2 and "epoch" not in out
    assert err.count("\n") == 1 and given in err and held in err and "relu.npz" in err, err


def test_flags_that_agree_with_the_checkpoint_are_fine(relu_checkpoint, mnist_dir, capsys):
    agree = [
        "--activation",
        "relu",
        "--hidden",
        "16",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--recipe",
        "better",
    ]
    status, out, err = train(
        capsys, "--resume", relu_checkpoint, "--data", mnist_dir, *agree, "--epochs", "0"
    )
    assert status == 0, err
    assert "resumed" in out and "after epoch 1" in out and "test acc" in out


def test_an_old_checkpoint_evaluates_but_cannot_be_continued(tmp_path, capsys, mnist_dir, relu_checkpoint):
    model, _, meta = nn.load_checkpoint(relu_checkpoint)
    old = tmp_path / "old.npz"
    nn.save_checkpoint(str(old), model)  # weights only, as checkpoints were
    assert nn.load_checkpoint(str(old))[0].sizes == (784, 16, 10)  # still loads for prediction
    status, out, _ = train(capsys, "--resume", str(old), "--data", mnist_dir, "--epochs", "0")
    assert status == 0 and "test acc" in out
    status, out, err = train(capsys, "--resume", str(old), "--data", mnist_dir, "--epochs", "1")
    assert status == 2 and "epoch" not in out and err.count("\n") == 1
    for words in ("old.npz", "not the training state", "older version", "--epochs 0 evaluates it"):
        assert words in err, err
