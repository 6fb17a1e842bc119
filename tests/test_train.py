"""Training: a short run on real MNIST, determinism, the original recipe's stall, and
the ``train`` command's options, errors, checkpoints and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import write_fake_mnist

from tinygrad_mlp.cli import main
from tinygrad_mlp.train import BETTER, ORIGINAL, build, fit, make_rng


def _fit(cfg, mnist, logs=None):
    rng = make_rng(cfg.seed)
    model, opt = build(cfg, rng)
    return model, fit(
        model, opt, cfg, mnist, rng, progress=False, log=(logs.append if logs is not None else lambda s: None)
    )


def test_short_run_on_real_mnist_reaches_88_percent(mnist):
    cfg = replace(BETTER, sizes=(784, 128, 10), epochs=2, subset=5000)
    logs = []
    _, history = _fit(cfg, mnist, logs)
    assert history[-1].test_acc >= 0.88, history
    assert history[-1].loss < history[0].loss
    assert logs[0].startswith("epoch 1/2  loss ") and "test acc" in logs[0]


def test_same_seed_gives_identical_numbers(mnist):
    cfg = replace(ORIGINAL, sizes=(784, 32, 10), epochs=1, subset=2000, lr=0.5)
    m1, h1 = _fit(cfg, mnist)
    m2, h2 = _fit(cfg, mnist)
    assert (h1[0].loss, h1[0].test_acc) == (h2[0].loss, h2[0].test_acc)
    for (_, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    _, h3 = _fit(replace(cfg, seed=1), mnist)
    assert h3[0].loss != h1[0].loss


def test_original_recipe_gradients_vanish_towards_the_input(mnist):
    # Four sigmoid layers with N(0, 0.01) weights: each layer back shrinks the gradient.
    cfg = replace(ORIGINAL, epochs=1, subset=1000, grad_norms=True)
    _, history = _fit(cfg, mnist)
    norms = list(history[0].grad_norms.values())
    assert list(history[0].grad_norms) == ["layers.0.W", "layers.1.W", "layers.2.W", "layers.3.W"]
    assert norms[0] < norms[1] < norms[2] < norms[3]


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--lr", "-0.1"], "--lr must be >= 0, got -0.1"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["--loss", "hinge"], "invalid choice: 'hinge'"),
        (["--sizes", "100,10"], "--sizes must start at 784 and end at 10"),
        (["--sizes", "784,12,x"], "expected comma-separated whole numbers"),
        (["--sizes", "784,10", "--hidden", "5"], "give --sizes or --hidden, not both"),
        (["--subset", "0"], "must be at least 1"),
        (["--lr-decay", "1.5"], r"--lr-decay must be in \(0, 1\], got 1.5"),
        (
            ["--data", "/nonexistent/mnist", "--no-download"],
            "--data /nonexistent/mnist: no such folder",
        ),
        (["--resume", "/nonexistent/x.npz"], "x.npz: cannot read the checkpoint: No such file"),
    ],
)
def test_bad_values_give_one_line_and_exit_2(argv, pattern, capsys):
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["train", *argv]))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("tinygrad-mlp train: error: ")
    assert re.search(pattern, err), err


def test_train_save_and_resume_from_checkpoint(tmp_path, capsys):
    data = tmp_path / "mnist"
    write_fake_mnist(data, n_train=200, n_test=50)
    ckpt = tmp_path / "run.npz"
    base = ["train", "--data", str(data), "--no-download", "--hidden", "16", "--epochs", "2", "--no-progress"]
    assert main([*base, "--optimizer", "adam", "--lr", "0.01", "--save", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and f"saved {ckpt}" in out
    assert sorted(os.listdir(tmp_path)) == ["mnist", "run.npz"]  # no temporary file left
    last_acc = out.split("test acc ")[-1].split("%")[0]
    # Evaluating the checkpoint gives the test accuracy it was saved with.
    assert main(["train", "--data", str(data), "--no-download", "--resume", str(ckpt), "--epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert f"test acc {last_acc}%" in out and "784-16-10" in out
    # Resuming continues with the saved optimizer state.
    assert main(["train", "--data", str(data), "--no-download", "--resume", str(ckpt), "--epochs", "1"]) == 0
    assert "epoch 3/3" in capsys.readouterr().out  # counted on from the checkpoint's 2
    with pytest.raises(SystemExit):
        raise SystemExit(main(["train", "--data", str(data), "--resume", str(ckpt), "--sizes", "784,8,10"]))
    assert "--sizes 784,8,10 contradicts" in capsys.readouterr().err


def test_module_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "tinygrad_mlp", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("train", "verify", "graph", "bench"):
        assert command in out


def test_lr_decay_multiplies_the_learning_rate_each_epoch(tmp_path):
    data = write_fake_mnist(tmp_path, n_train=30, n_test=10)
    assert data
    from tinygrad_mlp.data import load_mnist

    cfg = replace(BETTER, sizes=(784, 8, 10), epochs=3, lr=0.01, lr_decay=0.5)
    rng = make_rng(0)
    model, opt = build(cfg, rng)
    fit(model, opt, cfg, load_mnist(str(tmp_path), download=False), rng, progress=False, log=lambda s: None)
    assert opt.lr == 0.01 * 0.5**3


def test_seed_0_follows_the_original_notebooks_random_stream():
    # np.random.seed(0); randn for the weights, layer by layer: the original's initialisation
    np.random.seed(0)
    expected = np.random.randn(784, 128) * 0.01
    model, _ = build(ORIGINAL, make_rng(0))
    np.testing.assert_array_equal(model.layers[0].W.data, expected.astype(np.float32))
