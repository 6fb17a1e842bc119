"""check_backward on textbook layers written for numpy: each correct version agrees in
every row; each broken version fails in exactly the rows its bug breaks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tinygrad_mlp import notebook
from tinygrad_mlp.cli import main
from tinygrad_mlp.layercheck import LayerCheckError, LayerReport, check_backward, trace_layer
from tinygrad_mlp.verify import check_backward as verify_check_backward
from tinygrad_mlp.viz import to_dot

# ---------------------------------------------------------------- the layers, as textbooks write them


class Sigmoid:
    def forward(self, x):
        out = 1 / (1 + np.exp(-x))
        self.out = out
        return out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SigmoidOfOutput(Sigmoid):
    """Bug: the derivative formula applied to the output, s(s(x)) (1 - s(s(x)))."""

    def backward(self, dout):
        return dout * notebook.sigmoid_prime(self.out)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0  # writes into dout, as the textbook does
        dx = dout
        return dx


class ReluUnmasked(Relu):
    """Bug: the mask forgotten in backward."""

    def backward(self, dout):
        return dout


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)  # image batches (N, C, H, W) flattened to rows
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class AffineWrongDW(Affine):
    """Bug: dW scaled by the batch size, as if the loss were averaged."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW / dout.shape[0]
        return dx


def softmax(x):
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t  # one-hot targets
        self.y = softmax(x)
        self.loss = -np.sum(t * np.log(self.y)) / x.shape[0]
        return self.loss

    def backward(self, dout=1):
        return (self.y - self.t) * dout / self.t.shape[0]


class SoftmaxWithLossUnscaled(SoftmaxWithLoss):
    """Bug: the 1/N of the mean loss forgotten."""

    def backward(self, dout=1):
        return (self.y - self.t) * dout


class SoftmaxWithLabels:
    """Integer labels, picked by fancy indexing."""

    def forward(self, x, labels):
        self.labels = labels
        self.y = softmax(x)
        return -np.sum(np.log(self.y[np.arange(x.shape[0]), labels])) / x.shape[0]

    def backward(self, dout=1):
        dx = self.y.copy()
        dx[np.arange(len(self.labels)), self.labels] -= 1
        return dx * dout / len(self.labels)


class BatchNorm:
    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.ones_like(gamma)

    def forward(self, x):
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc**2, axis=0)
        std = np.sqrt(var + 1e-7)
        self.batch_size, self.xc, self.std = x.shape[0], xc, std
        self.xn = xc / std
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / self.batch_size


class BatchNormNoMeanTerm(BatchNorm):
    """Bug: the mean's share of dx forgotten (dx = dxc, without - dmu / N)."""

    def backward(self, dout):
        super().backward(dout)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        return dxc + (2.0 / self.batch_size) * self.xc * (0.5 * dstd / self.std)


class PRelu:
    """Leaky ReLU with a learned slope per feature, written with np.where."""

    def __init__(self, a):
        self.a = a

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.a * x)

    def backward(self, dout):
        self.da = np.sum(np.where(self.x > 0, 0, self.x) * dout, axis=0)
        return np.where(self.x > 0, dout, self.a * dout)


class PReluWrongBranch(PRelu):
    """Bug: da summed over the positive side instead of the negative one."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.da = np.sum(np.where(self.x > 0, self.x, 0) * dout, axis=0)
        return dx


class FCMeanBias(notebook.FCLayer):
    """Bug: db as the mean of dout over the batch instead of its sum."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.db = np.mean(dout, axis=0)
        return dx


class MLPMissingSigmoid(notebook.MLP):
    """Bug: the sigmoid derivative at layer 2 forgotten."""

    def backward(self, dout):
        dout = dout * notebook.sigmoid_prime(self.z4)
        dout = self.layer4.backward(dout)
        dout = dout * notebook.sigmoid_prime(self.z3)
        dout = self.layer3.backward(dout)
        dout = self.layer2.backward(dout)
        dout = dout * notebook.sigmoid_prime(self.z1)
        return self.layer1.backward(dout)


class Stack:
    """Layers in a list: parameters named layers.0.W, ..."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


# ---------------------------------------------------------------- the table

rng = np.random.default_rng(7)  # not 0: dout is drawn with seed 0
X = rng.standard_normal((6, 5))
IMAGES = rng.standard_normal((4, 2, 3, 3))
ONE_HOT = np.eye(5)[rng.integers(0, 5, 6)]


def _fc(cls=notebook.FCLayer):
    np.random.seed(0)
    return cls(5, 3)


def _mlp(cls=notebook.MLP):
    np.random.seed(0)
    return cls()


def _affine(cls=Affine):
    r = np.random.default_rng(1)
    return cls(r.standard_normal((18, 4)), r.standard_normal(4))


def _bn(cls=BatchNorm):
    r = np.random.default_rng(2)
    return cls(1 + 0.1 * r.standard_normal(5), r.standard_normal(5))


def _prelu(cls=PRelu):
    return cls(np.full(5, 0.1))


MNIST_LIKE = np.random.default_rng(3).uniform(0, 1, (4, 784))

# name, makers of the correct and the broken layer, inputs, check_backward keywords, rows, rows the bug breaks
CASES = [
    ("FCLayer", _fc, lambda: _fc(FCMeanBias), (X,), {}, ["x", "W", "b"], ["b"]),
    ("Sigmoid", Sigmoid, SigmoidOfOutput, (X,), {}, ["x"], ["x"]),
    ("Relu", Relu, ReluUnmasked, (X,), {}, ["x"], ["x"]),
    ("Affine", _affine, lambda: _affine(AffineWrongDW), (IMAGES,), {}, ["x", "W", "b"], ["W"]),
    ("SoftmaxWithLoss", SoftmaxWithLoss, SoftmaxWithLossUnscaled, (X, ONE_HOT), {}, ["x"], ["x"]),
    ("BatchNorm", _bn, lambda: _bn(BatchNormNoMeanTerm), (X,), {}, ["x", "gamma", "beta"], ["x"]),
    ("PRelu (np.where)", _prelu, lambda: _prelu(PReluWrongBranch), (X,), {}, ["x", "a"], ["a"]),
    (
        "MLP",
        _mlp,
        lambda: _mlp(MLPMissingSigmoid),
        (MNIST_LIKE,),
        {"forward": "predict", "samples": 3},
        ["x"] + [f"layer{i}.{p}" for i in range(1, 5) for p in "Wb"],
        ["x", "layer1.W", "layer1.b", "layer2.W", "layer2.b"],
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,make,make_broken,inputs,kw,rows,breaks", CASES, ids=IDS)
def test_correct_layer_agrees_in_every_row(name, make, make_broken, inputs, kw, rows, breaks):
    report = check_backward(make(), *inputs, **kw)
    assert [r.name for r in report.rows] == rows
    assert report.passed, str(report)
    for row in report.rows:
        assert row.max_rel < 1e-8 and row.numerical < 1e-5, row


@pytest.mark.parametrize("name,make,make_broken,inputs,kw,rows,breaks", CASES, ids=IDS)
def test_broken_layer_fails_in_exactly_the_rows_it_breaks(name, make, make_broken, inputs, kw, rows, breaks):
    report = check_backward(make_broken(), *inputs, **kw)
    assert [r.name for r in report.rows] == rows
    assert not report.passed
    assert report.failed == breaks, str(report)
    for row in report.rows:
        if row.name in breaks:
            # the hand-written gradient is wrong by a visible amount, and numerical
            # differences, which never saw autograd, say the same
            assert row.max_rel > 1e-3 and row.numerical_manual > 1e-3, row
            assert f"{row.name}: hand-written differs from automatic by up to {row.max_abs:.3g}" in str(
                report
            )
        assert row.numerical < 1e-5, row  # autograd itself is right everywhere


def test_report_text_and_html_say_which_row_and_by_how_much():
    report = check_backward(_fc(FCMeanBias), X)
    text = str(report)
    assert "MISMATCH" in text and "all gradients agree" not in text
    b = report["b"]
    assert f"{b.max_rel:.2e}" in text.splitlines()[4]  # the b line of the table
    assert text.splitlines()[4].split()[-1] == "NO"
    # the mean over the batch where the sum belongs: off by 1 - 1/N of the automatic gradient
    assert f"({1 - 1 / len(X):.1%} of the automatic gradient's largest entry" in text
    page = report._repr_html_()
    assert page.count("<tr>") == 4 and "MISMATCH" in page and "crimson" in page
    assert "all gradients agree" in str(check_backward(_fc(), X))


def test_verify_re_exports_check_backward():
    assert verify_check_backward is check_backward


def test_layer_state_is_untouched():
    bn = _bn()
    bn.forward(X[:3])  # caches from an earlier call must survive too
    before = {k: (v, copy.deepcopy(v)) for k, v in vars(bn).items()}
    assert check_backward(bn, X).passed
    assert set(vars(bn)) == set(before)
    for k, (obj, value) in before.items():
        assert vars(bn)[k] is obj, k
        np.testing.assert_array_equal(vars(bn)[k], value, err_msg=k)
    fresh = _fc()
    check_backward(fresh, X)
    assert set(vars(fresh)) == {"W", "b"}  # no x, dW or db left behind


def test_parameters_in_lists_are_named_by_path_and_caches_are_not_parameters():
    r = np.random.default_rng(4)
    stack = Stack([Affine(r.standard_normal((5, 4)), r.standard_normal(4)), Relu(), _prelu()])
    stack.layers[2].a = np.full(4, 0.2)
    report = check_backward(stack, X)
    assert [row.name for row in report.rows] == ["x", "layers.0.W", "layers.0.b", "layers.2.a"]
    assert report.passed, str(report)
    stack.layers[0] = AffineWrongDW(stack.layers[0].W, stack.layers[0].b)
    assert check_backward(stack, X).failed == ["layers.0.W"]


def test_scalar_output_takes_dout_one_and_integer_labels_get_no_row():
    labels = np.array([0, 3, 1, 4, 4, 2])
    report = check_backward(SoftmaxWithLabels(), X, labels)
    assert [r.name for r in report.rows] == ["x"] and report.passed, str(report)
    assert report.out_shape == () and report.dout == "1.0"
    # the one-hot targets of SoftmaxWithLoss get no row either: backward returns dx only
    notes = check_backward(SoftmaxWithLoss(), X, ONE_HOT).notes
    assert "t: the backward returned no gradient for it; not checked" in notes, notes


def test_given_dout_is_used_and_checked_against_the_output_shape():
    fc = _fc()
    dout = np.zeros((6, 3))
    dout[2, 1] = 1.0
    report = check_backward(fc, X, dout=dout)
    assert report.dout == "given" and report.passed
    with pytest.raises(
        LayerCheckError, match=r"dout has shape \(6, 4\) but FCLayer.forward returned shape \(6, 3\)"
    ):
        check_backward(fc, X, dout=np.zeros((6, 4)))


def test_tuple_of_input_gradients():
    class Mul:
        def forward(self, a, b):
            self.a, self.b = a, b
            return a * b

        def backward(self, dout):
            return dout * self.b, dout * self.a

    class MulSwapped(Mul):
        def backward(self, dout):
            return dout * self.b, dout * self.b

    assert check_backward(Mul(), X, X[::-1]).passed
    assert check_backward(MulSwapped(), X, X[::-1]).failed == ["b"]


class RunningMax:
    def forward(self, x):
        self.x = x
        return np.maximum.accumulate(x, axis=1)  # a ufunc method the engine does not record

    def backward(self, dout):
        return dout


def test_unsupported_numpy_function_is_an_error_naming_it():
    with pytest.raises(LayerCheckError, match="RunningMax.forward on Tensors.*maximum.accumulate"):
        check_backward(RunningMax(), X)


def test_bad_layers_get_clear_errors():
    with pytest.raises(LayerCheckError, match="FCLayer has no method 'predict'"):
        check_backward(_fc(), X, forward="predict")

    class Unhooked(Sigmoid):
        def forward(self, x):
            self.out = 1 / (1 + np.exp(-x))
            return float(np.sum(self.out))

    with pytest.raises(LayerCheckError, match="returned float when run on Tensors, so no graph"):
        check_backward(Unhooked(), X)


def _sqrt_forward(x):
    if np.any(x < 0):  # a guard, as learners write
        raise ValueError("sqrt of a negative input")
    return np.sqrt(x), x


def test_a_forward_that_raises_during_the_numerical_check_is_one_clear_error():
    x = np.array([[4.0, 1e-5, 9.0]])  # x[1] - eps is negative: only the numerical check's step reaches it
    with pytest.raises(
        LayerCheckError,
        match=r"_sqrt_forward raised during the numerical check \(x\[1\] moved by -0\.0001\): "
        r"ValueError: sqrt of a negative input at .*test_layercheck\.py:\d+",
    ):
        check_backward((_sqrt_forward, lambda dout, x: dout / (2 * np.sqrt(x))), x)


def test_trace_layer_names_parameters_by_path():
    mlp = _mlp()
    out = trace_layer(mlp, MNIST_LIKE, forward="predict")
    np.testing.assert_allclose(out.data, copy.deepcopy(mlp).predict(MNIST_LIKE), rtol=1e-12)
    leaves, todo, seen = {}, [out], set()
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        todo.extend(t.parents)
        if t.is_leaf and t.requires_grad:
            leaves[t.name] = t
    assert set(leaves) == {"x"} | {f"layer{i}.{p}" for i in range(1, 5) for p in "Wb"}
    dot = to_dot(out)
    assert "layer1.W" in dot and "layer4.b" in dot
    assert not hasattr(mlp, "z1")


def test_cli_verify_layers(capsys):
    status = main(["verify", "--layers", "--batch-size", "3", "--samples", "2"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "layer4.b" in out and out.count("all gradients agree") == 2 and "MISMATCH" not in out


def test_cli_verify_layers_error_is_one_line_and_exit_status_2(capsys, monkeypatch):
    from tinygrad_mlp import layercheck

    def broken(*args):
        raise LayerCheckError("check_backward: FCLayer.backward returned None")

    monkeypatch.setattr(layercheck, "check_notebook", broken)
    status = main(["verify", "--layers", "--batch-size", "3", "--samples", "2"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert (
        captured.err
        == "tinygrad-mlp verify --layers: error: check_backward: FCLayer.backward returned None\n"
    )


def test_example_catches_each_planted_bug(mnist_dir):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "check_your_backward.py"
    result = subprocess.run(
        [sys.executable, str(example), "--data", mnist_dir, "--batch", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("all gradients agree") == 7 and out.count("MISMATCH") == 8
    assert "x        4x3           " in out and out.count("  close") == 1  # the textbook's 1e-7 in a log
    assert "  b: hand-written differs from automatic" in out
    assert "  b: the hand-written backward gave no gradient for b (attribute db missing)" in out
    assert "each planted bug was caught in exactly the gradients it breaks" in out


def test_backward_of_a_nearby_function_shows_a_small_difference():
    """The textbook's cross-entropy takes log(y + 1e-7), whose exact gradient is not
    (y - t) / N: off by about 1e-7 / y, relative. Caught at the default tol, not at 1e-5."""

    class SoftmaxWithLossDelta(SoftmaxWithLoss):
        def forward(self, x, t):
            self.t, self.y = t, softmax(x)
            return -np.sum(t * np.log(self.y + 1e-7)) / x.shape[0]

    report = check_backward(SoftmaxWithLossDelta(), X, ONE_HOT)
    assert report.passed and report["x"].verdict == "close" and 1e-8 < report["x"].max_rel < 1e-5
    assert report["x"].numerical < 1e-5  # autograd differentiates the forward as written
    assert "log(... + 1e-07)" in report["x"].note, report["x"].note
    assert check_backward(SoftmaxWithLossDelta(), X, ONE_HOT, tol=1e-4)["x"].verdict == "yes"


def test_a_layer_used_before_is_checked_the_same_and_a_forgotten_gradient_shows():
    fc = _fc()
    fc.forward(X)
    fc.backward(np.ones((6, 3)))  # leaves x, dW and db behind
    report = check_backward(fc, X)
    assert [r.name for r in report.rows] == ["x", "W", "b"] and report.passed and not report.notes

    class ForgetsDb(notebook.FCLayer):
        def backward(self, dout):
            self.dW = np.dot(self.x.T, dout)
            return np.dot(dout, self.W.T)

    np.random.seed(0)
    layer = ForgetsDb(5, 3)
    report = check_backward(layer, X)  # no db anywhere: b's row fails, saying so
    assert [r.name for r in report.rows] == ["x", "W", "b"] and not report.passed
    assert report.failed == ["b"], str(report)
    assert report["b"].numerical < 1e-5  # the output does depend on b: autograd and differences agree
    assert "  b: the hand-written backward gave no gradient for b (attribute db missing)" in str(report)
    layer.db = np.full(3, 7.0)  # a stale db from earlier does not pass for a gradient
    assert check_backward(layer, X).failed == ["b"]


class AffineForgetsDb(Affine):
    """Bug, as a textbook would have it: ``db = None`` from __init__, never set."""

    def __init__(self, W, b):
        super().__init__(W, b)
        self.dW = self.db = None

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        return np.dot(dout, self.W.T).reshape(*self.original_x_shape)


class Gate:
    """A learned scale, a fixed float threshold only compared, integer indices, and a
    float cache forward rebinds: only the scale is a parameter."""

    def __init__(self):
        self.scale = np.linspace(0.5, 1.5, 5)
        self.threshold = np.zeros(5)
        self.order = np.arange(5)
        self.out = np.zeros((1, 5))

    def forward(self, x):
        self.mask = x > self.threshold
        self.x = x
        self.out = np.where(self.mask, x, 0) * self.scale
        return self.out

    def backward(self, dout):
        self.dscale = np.sum(np.where(self.mask, self.x, 0) * dout, axis=0)
        return np.where(self.mask, dout, 0) * self.scale


class GateFrozenScale(Gate):
    """No dscale: right only if the scale is a constant, which the learner must say."""

    def backward(self, dout):
        return np.where(self.mask, dout, 0) * self.scale


def test_none_gradient_fails_and_true_non_parameters_get_no_row():
    report = check_backward(_affine(AffineForgetsDb), IMAGES)
    assert report.failed == ["b"] and "(db is None)" in report["b"].problem, str(report)
    report = check_backward(Gate(), X)
    assert [r.name for r in report.rows] == ["x", "scale"] and report.passed, str(report)
    # the threshold is read, but only compared: zero gradient, a constant, named in a note;
    # order (integers) and out (rebound by forward) are not mentioned at all
    assert [n for n in report.notes if "threshold" in n] == [
        "constants, no row: threshold (no gradient from the backward, and the output does not depend on them "
        "through differentiable ops: zero automatic gradient)"
    ]
    assert not any("order" in n or "out" in n.split(":")[0] for n in report.notes), report.notes
    assert not check_backward(_bn(), X).notes  # running statistics are rebound: no row, no note


def test_a_constant_forward_reads_is_named_in_constants():
    report = check_backward(GateFrozenScale(), X)
    assert report.failed == ["scale"] and "dscale missing" in report["scale"].problem
    assert "constants=" not in str(report)  # no advice that would skip a wrong gradient
    report = check_backward(GateFrozenScale(), X, constants=["scale"])
    assert [r.name for r in report.rows] == ["x"] and report.passed, str(report)
    with pytest.raises(LayerCheckError, match="constants: GateFrozenScale holds no float array 'gamma'"):
        check_backward(GateFrozenScale(), X, constants=["gamma"])


def _graph_cut(cut):
    class CutScale:
        """out = x * sum(x), the sum taken through ``cut``: autograd cannot see that branch."""

        def forward(self, x):
            self.x, self.s = x, cut(x)
            return x * self.s

        def backward(self, dout):
            # d(x_j * s)/dx_i = [i == j] s + x_j (s = sum x): the hand-written gradient is right
            return dout * self.s + np.sum(dout * self.x)

    return CutScale


CUTS = {
    "float": lambda x: float(x.sum()),
    "item": lambda x: x.sum().item(),
}


def test_np_asarray_on_a_tensor_in_the_graph_is_an_error_naming_the_line():
    # np.asarray(x) would cut the graph silently: it is refused at the user's line instead
    with pytest.raises(
        LayerCheckError, match=r"test_layercheck.py:\d+: a Tensor of shape \(6, 5\) that requires grad"
    ):
        check_backward(_graph_cut(lambda x: np.asarray(x).sum())(), X)


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS)
def test_a_cut_trace_blames_autograd_and_the_right_backward_passes(cut):
    report = check_backward(_graph_cut(cut)(), X)
    row = report["x"]
    assert row.numerical_manual < 1e-8 and row.numerical > 1e-3 and row.max_rel > 1e-3, str(report)
    assert report.passed and row.ok and report.warned == ["x"] and report.failed == []
    text = str(report)
    assert "hand-written differs" not in text and "MISMATCH" not in text
    assert next(line for line in text.splitlines() if line.startswith("x ")).split()[-1] == "yes*"
    assert (
        "your backward is right (it agrees with central differences), but the automatic gradient is off"
        in text
    )
    assert "x (yes*): the hand-written gradient agrees with central differences" in text
    assert "lost part of its graph" in text


def test_a_cut_trace_does_not_hide_a_wrong_backward():
    class CutScaleWrong(_graph_cut(CUTS["float"])):
        def backward(self, dout):
            return dout * self.s  # wrong, and the same as the cut trace's gradient

    report = check_backward(CutScaleWrong(), X)
    assert report.failed == ["x"] and not report.warned
    assert "automatic differs from central differences" in report["x"].problem


def test_failed_is_a_property_like_passed_and_calling_it_still_works():
    assert isinstance(LayerReport.passed, property) and isinstance(LayerReport.failed, property)
    report = check_backward(_fc(FCMeanBias), X)
    assert report.failed == ["b"] and report.failed() == ["b"]
    assert check_backward(_fc(), X).failed == []


class Offset:
    """out = x + 1e8: central differences lose digits to the 1e8, autograd does not."""

    def forward(self, x):
        return x + 1e8

    def backward(self, dout):
        return dout


def test_a_figure_above_the_tolerance_on_an_agreeing_row_is_explained():
    report = check_backward(Offset(), X)
    row = report["x"]
    assert row.ok and row.numerical > report.num_tol, str(report)
    notes = [n for n in report.notes if n.startswith("x: ")]
    assert len(notes) == 1, report.notes
    assert (
        f"num vs auto {row.numerical:.2e}" in notes[0]
        and f"num vs hand {row.numerical_manual:.2e}" in notes[0]
    )
    assert "within the round-off of central differences" in notes[0]
    # rows whose figures are within the tolerance get no such note
    assert not any("round-off" in n for n in check_backward(_fc(), X).notes)


def test_integer_inputs_are_always_named_in_a_note():
    labels = np.array([0, 3, 1, 4, 4, 2])
    notes = check_backward(SoftmaxWithLabels(), X, labels).notes
    assert "labels holds integers (labels or indices): no gradient to check, no row" in notes, notes

    class ReturnsLabelGradient(SoftmaxWithLabels):
        def backward(self, dout=1):
            return super().backward(dout), np.zeros(6)

    notes = check_backward(ReturnsLabelGradient(), X, labels).notes
    assert any(n.startswith("labels holds integers") and "ignored" in n for n in notes), notes


def test_a_forgotten_gradient_in_a_sub_layer_is_named_by_path():
    class MLPForgetsLayer3Bias(notebook.MLP):
        def backward(self, dout):
            dx = super().backward(dout)
            del self.layer3.db
            return dx

    report = check_backward(_mlp(MLPForgetsLayer3Bias), MNIST_LIKE, forward="predict", samples=3)
    assert report.failed == ["layer3.b"], str(report)
    assert "(attribute layer3.db missing)" in report["layer3.b"].problem


# ---------------------------------------------------------------- behaviour pinned (for mutation testing)


def _relu_pair(mask):
    def forward(x):
        return np.maximum(0, x), x

    def backward(dout, x):
        return dout * mask(x)

    return forward, backward


XK = np.array([[0.0, 1.5, -2.0], [0.0, -0.5, 0.0], [2.5, 1.0, -1.0]])  # three inputs exactly on ReLU's kink


@pytest.mark.parametrize(
    "mask,verdict,failed",
    [
        (lambda x: x > 0, "kink", []),  # a subgradient at 0: the left slope
        (lambda x: x >= 0, "kink", []),  # the right slope
        (lambda x: np.where(x == 0, 5.0, x > 0), "NO", ["x"]),  # 5 at the kink: no slope of ReLU's
        (lambda x: x > 1, "NO", ["x"]),  # wrong away from the kink
    ],
)
def test_inputs_on_a_kink_take_any_one_sided_slope(mask, verdict, failed):
    report = check_backward(_relu_pair(mask), XK)
    auto_at_kink = report["x"]
    assert auto_at_kink.verdict == verdict and report.failed == failed, str(report)


def test_a_smooth_zero_slope_is_no_kink():
    # x**2 at 0: the one-sided slopes differ by the curvature times the step, a round-off-sized gap at a
    # fine step, not a jump; a hand value off there by 2e-5 of the largest entry is wrong. The 1e4 entry
    # makes the check's round-off (and so its slack) large enough for that value to fall inside it.
    x = np.array([[0.0, 1.5, -2.0], [0.7, -0.5, 1e4]])

    def backward(dout, x):
        dx = 2 * x * dout
        dx[0, 0] = 2e-5 * np.abs(dx).max()
        return dx

    report = check_backward((lambda x: (x**2, x), backward), x)
    assert report["x"].verdict == "NO" and report.failed == ["x"], str(report)


def test_the_kink_note_counts_the_entries():
    # the automatic gradient of maximum(0, x) at x = 0 is neither slope (ties split it), so both
    # one-sided masks differ from it at exactly the three zeros of XK
    for mask in (lambda x: x > 0, lambda x: x >= 0):
        report = check_backward(_relu_pair(mask), XK)
        assert "3 entries differ, each sitting exactly on a kink" in report["x"].note, str(report)


def test_an_l1_term_at_zero_is_a_kink():
    w0 = np.array([0.0, 1.0, -2.0, 0.0])

    def l1(w):
        return 0.1 * np.sum(np.abs(w)), 0.1 * np.where(w >= 0, 1.0, -1.0)  # +0.1 at 0: a valid slope

    report = check_backward(l1, w0)
    assert report["w"].verdict == "kink" and report.passed, str(report)
    assert "2 entries differ, each sitting exactly on a kink" in report["w"].note


class Inner:
    def __init__(self, W):
        self.W = W

    def forward(self, x):
        self.x = x
        return x.dot(self.W)

    def backward(self, dout):
        self.dW = self.x.T.dot(dout)
        return dout.dot(self.W.T)


class Block:
    def __init__(self, W):
        self.inner = Inner(W)


class Deep:
    """Parameters two levels down: blocks.0.inner.W."""

    def __init__(self, W0, W1, scale=1.0):
        self.blocks = [Block(W0), Block(W1)]
        self.scale = scale

    def forward(self, x):
        for block in self.blocks:
            x = block.inner.forward(x)
        return x

    def backward(self, dout):
        for block in reversed(self.blocks):
            dout = block.inner.backward(dout)
        self.blocks[0].inner.dW = self.blocks[0].inner.dW * self.scale
        return dout


def test_nested_parameters_past_depth_one_are_named_by_path():
    report = check_backward(Deep(X[:5, :4], X[:4, :3]), X)
    assert [r.name for r in report.rows] == ["x", "blocks.0.inner.W", "blocks.1.inner.W"] and report.passed
    assert check_backward(Deep(X[:5, :4], X[:4, :3], scale=2.0), X).failed == ["blocks.0.inner.W"]


class DictParams:
    """Parameters in a dict, gradients in a dict beside it, matched by key."""

    def __init__(self, W, b, bug=False):
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.bug = bug

    def forward(self, x):
        self.x = x
        return x.dot(self.params["W"]) + self.params["b"]

    def backward(self, dout):
        self.grads["W"][...] = self.x.T.dot(dout)
        self.grads["b"][...] = dout.sum(axis=0) * (0.5 if self.bug else 1.0)
        return dout.dot(self.params["W"].T)


def test_parameters_in_a_dict_with_grads_beside_them():
    report = check_backward(DictParams(X[:5, :3], X[0, :3]), X)
    assert [r.name for r in report.rows] == ["x", "params.W", "params.b"] and report.passed, str(report)
    assert check_backward(DictParams(X[:5, :3], X[0, :3], bug=True), X).failed == ["params.b"]


def test_empty_inputs_compare_nothing_and_say_so():
    def forward(x, w):
        return x.dot(w), (x, w)

    def backward(dout, cache):
        x, w = cache
        return dout.dot(w.T), x.T.dot(dout)

    report = check_backward((forward, backward), np.zeros((0, 3)), X[:3, :2])
    assert [r.name for r in report.rows] == ["x", "w"] and report.passed, str(report)
    assert report["x"].shape == (0, 3) and "empty, nothing to compare: x" in report.notes


def test_a_non_finite_output_during_the_numerical_check_leaves_the_entry_out():
    x = np.array([[5e-5, 1.0], [2.0, 3.0]])  # x - eps < 0 at [0, 0]: log gives NaN there

    def forward(x):
        return np.log(x), x

    report = check_backward((forward, lambda dout, x: dout / x), x)
    assert report.passed, str(report)
    assert (
        "1 sampled entries left out of the numerical check: the output was not finite a step of 0.0001 away"
        in report.notes
    )


def test_rel_diff_is_the_share_of_the_automatic_gradients_largest_entry():
    import learner_layers as L

    x, w, b = X[:, :4], X[:4, :3], X[0, :3]
    report = check_backward((L.affine_forward, L.affine_backward_bug), x, w, b)
    dout = np.random.default_rng(0).standard_normal((x.shape[0], 3))  # the check's dout, seed 0
    auto, hand = dout.sum(axis=0), dout.mean(axis=0)
    row = report["b"]
    assert row.max_abs == pytest.approx(np.max(np.abs(auto - hand)), rel=1e-12)
    assert row.max_rel == pytest.approx(np.max(np.abs(auto - hand)) / np.max(np.abs(auto)), rel=1e-12)
    assert f"{row.max_rel:.1%} of the automatic gradient's largest entry" in row.problem
    assert f"{row.max_rel:.2e}" in str(report).splitlines()[4]  # the table's rel diff column


def test_trace_layer_gives_the_graph_undifferentiated():
    from tinygrad_mlp.autograd import toposort

    out = trace_layer(_fc(), X)
    leaves = [t for t in toposort(out) if t.is_leaf]
    assert out.requires_grad and {t.name for t in leaves} == {"x", "W", "b"}
    assert all(t.grad is None for t in leaves)


def test_every_verdict_shows_in_text_and_html():
    import learner_layers as L

    cases = {
        "close": check_backward(L.SoftmaxWithLoss(), X[:4, :3], np.array([0, 2, 1, 2])),
        "kink": check_backward(_relu_pair(lambda x: x > 0), XK),
        "NO": check_backward((L.affine_forward, L.affine_backward_bug), X[:, :4], X[:4, :3], X[0, :3]),
    }
    for verdict, report in cases.items():
        assert verdict in [r.verdict for r in report.rows], str(report)
        assert f">{verdict}</td>" in report._repr_html_() and f" {verdict}" in str(report)
