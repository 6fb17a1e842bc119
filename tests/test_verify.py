"""The hand-written reference network and the three-way gradient comparison."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn
from tinygrad_mlp.cli import main
from tinygrad_mlp.manual import ManualMLP
from tinygrad_mlp.verify import compare_gradients

SIZES = [(784, 128, 64, 32, 10), (784, 10), (784, 50, 30, 10), (784, 16, 16, 16, 16, 10)]


@pytest.fixture(scope="module")
def batch(mnist):
    X, y, _, _ = mnist
    idx = np.random.default_rng(0).choice(len(X), 64, replace=False)
    return X[idx].astype(np.float64), y[idx]


def _mlp(sizes=SIZES[0], activation="sigmoid", init="original", seed=0, dtype=np.float64):
    return nn.MLP(sizes, activation, "sigmoid", init, dtype, np.random.default_rng(seed))


def test_identical_weights_give_identical_outputs(batch):
    x, _ = batch
    model = _mlp()
    manual = ManualMLP.from_mlp(model)
    np.testing.assert_allclose(manual.predict(x), model(Tensor(x)).data, rtol=1e-14, atol=0)
    # the copies are independent, and copy_to writes back
    manual.layers[0].W += 1.0
    assert not np.allclose(manual.layers[0].W, model.layers[0].W.data)
    manual.copy_to(model)
    np.testing.assert_array_equal(manual.layers[0].W, model.layers[0].W.data)


@pytest.mark.parametrize("sizes", SIZES, ids=["-".join(map(str, s)) for s in SIZES])
@pytest.mark.parametrize("activation,init", [("sigmoid", "original"), ("tanh", "xavier"), ("relu", "he")])
def test_autograd_equals_hand_written_gradients(batch, sizes, activation, init):
    x, y = batch
    report = compare_gradients(_mlp(sizes, activation, init), x, y, loss="sse", samples=3)
    assert [r.name for r in report.rows] == [f"layers.{i}.{p}" for i in range(len(sizes) - 1) for p in "Wb"]
    for row in report.rows:
        assert row.max_rel < 1e-10, row
    assert report.passed, str(report)


def test_weights_agree_after_20_sgd_steps(batch):
    x, y = batch
    report = compare_gradients(_mlp(), x, y, loss="sse", steps=20, lr=0.1, samples=2)
    assert report.passed
    assert all(r.weights_rel < 1e-10 for r in report.rows)


def test_float32_agrees_to_float32_precision(batch):
    x, y = batch
    report = compare_gradients(_mlp(dtype=np.float32), x.astype(np.float32), y, samples=3)
    assert report.passed and report.tol == 1e-4
    assert all(r.max_rel < 1e-5 for r in report.rows)


def test_cross_entropy_mismatch_is_detected_and_reported(batch):
    x, y = batch
    report = compare_gradients(_mlp(), x, y, loss="cross_entropy", steps=3)
    assert not report.passed
    assert all(not r.ok and r.max_rel > 0.5 for r in report.rows)
    # autograd still matches finite differences of the printed loss; the hand-written one does not
    assert all(r.numerical < 1e-5 for r in report.rows)
    assert all(r.numerical_manual > 1 for r in report.rows)
    text = str(report)
    assert "MISMATCH" in text and text.count(" NO") == len(report.rows)
    assert "<table>" in report._repr_html_() and "layers.3.b" in report._repr_html_()


class CorruptedManual(ManualMLP):
    """A hand-written network whose sigmoid derivative is wrong: a * (1 + a)."""

    def backward(self, dout):
        for i in reversed(range(len(self.layers))):
            a = self.outputs[i]
            dout = self.layers[i].backward(dout * a * (1 + a))
        return dout


def test_finite_differences_catch_a_wrong_hand_written_derivative(batch):
    x, y = batch
    model = _mlp()
    report = compare_gradients(model, x, y, manual=CorruptedManual.from_mlp(model), samples=4)
    assert not report.passed
    bad = [r.name for r in report.rows if not r.ok]
    assert bad and all(r.numerical < 1e-5 for r in report.rows)  # autograd is right
    assert max(r.numerical_manual for r in report.rows) > 1e-2  # the corrupted one is caught numerically


def test_relu_kinks_are_left_out_of_the_numerical_check(batch):
    x, y = batch
    report = compare_gradients(
        _mlp(activation="relu"), x, y, samples=10
    )  # N(0, .01) init: tiny pre-activations
    assert report.passed
    assert any("switched a ReLU" in n for n in report.notes)


def test_verify_command_on_real_mnist(mnist_dir, capsys):
    assert main(["verify", "--data", mnist_dir, "--batch-size", "32", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "real MNIST" in out and "all gradients agree" in out and "layers.3.b" in out
    assert (
        main(
            ["verify", "--data", mnist_dir, "--loss", "cross_entropy", "--batch-size", "32", "--samples", "2"]
        )
        == 1
    )
    assert "MISMATCH" in capsys.readouterr().out


def test_verify_command_says_when_the_batch_is_synthetic(tmp_path, capsys):
    argv = [
        "verify",
        "--data",
        str(tmp_path),
        "--hidden",
        "8",
        "--dtype",
        "float32",
        "--steps",
        "2",
        "--samples",
        "2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "synthetic batch" in out and "weights after 2 steps" in out
    assert main(["verify", "--sizes", "10,10"]) == 2
    assert "--sizes must start at 784" in capsys.readouterr().err


def test_verify_graph_colours_parameters_by_agreement(tmp_path, capsys):
    argv = [
        "verify",
        "--data",
        str(tmp_path),
        "--hidden",
        "4",
        "--samples",
        "1",
        "--graph",
        str(tmp_path / "v.dot"),
    ]
    assert main([*argv, "--loss", "cross_entropy"]) == 1
    dot = (tmp_path / "v.dot").read_text()
    assert dot.count("fillcolor=salmon") == 4 and "palegreen" not in dot
    assert main(argv) == 0
    assert (tmp_path / "v.dot").read_text().count("fillcolor=palegreen") == 4
