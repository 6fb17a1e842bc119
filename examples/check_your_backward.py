"""Check your own backward: the original notebook's numpy classes, unchanged, checked
against autograd run on their own forward code and against numerical differences; then
classic hand-derivation bugs planted (one per report), and the report pointing at exactly
the gradients it breaks. Then the two other ways learners write layers: function pairs
with a cache (an affine layer and a convolution in loops, as in course assignments) and
a textbook's loss class, each also with a planted bug.

    python examples/check_your_backward.py [--data DIR] [--batch 8]
"""

from __future__ import annotations

import argparse

import numpy as np

from tinygrad_mlp import check_backward
from tinygrad_mlp.data import load_mnist

# ---------------------------------------------------------------- the notebook's code, as it was


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    """The derivative of the sigmoid at x: s(x) * (1 - s(x))."""
    return sigmoid(x) * (1 - sigmoid(x))


class FCLayer:
    """A fully connected layer: out = x W + b."""

    def __init__(self, input_size, output_size):
        self.W = np.random.randn(input_size, output_size) * 0.01
        self.b = np.zeros(output_size)

    def forward(self, x):
        """out = x W + b, keeping x for backward."""
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        """dW = x.T dout, db = sum of dout over the batch; returns dx = dout W.T."""
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        dx = np.dot(dout, self.W.T)
        return dx


class MLP:
    """784-128-64-32-10, a sigmoid after every layer."""

    def __init__(self):
        self.layer1 = FCLayer(784, 128)
        self.layer2 = FCLayer(128, 64)
        self.layer3 = FCLayer(64, 32)
        self.layer4 = FCLayer(32, 10)

    def predict(self, x):
        """Forward through the four layers, keeping each pre-activation for backward."""
        self.z1 = self.layer1.forward(x)
        self.a1 = sigmoid(self.z1)
        self.z2 = self.layer2.forward(self.a1)
        self.a2 = sigmoid(self.z2)
        self.z3 = self.layer3.forward(self.a2)
        self.a3 = sigmoid(self.z3)
        self.z4 = self.layer4.forward(self.a3)
        self.a4 = sigmoid(self.z4)
        return self.a4

    def backward(self, dout):
        """Backpropagate dout = dL/d(y_pred) through every layer and sigmoid."""
        dout = dout * sigmoid_prime(self.z4)
        dout = self.layer4.backward(dout)
        dout = dout * sigmoid_prime(self.z3)
        dout = self.layer3.backward(dout)
        dout = dout * sigmoid_prime(self.z2)
        dout = self.layer2.backward(dout)
        dout = dout * sigmoid_prime(self.z1)
        dout = self.layer1.backward(dout)
        return dout

    def update(self, learning_rate):
        """One SGD step on every layer."""
        for layer in [self.layer1, self.layer2, self.layer3, self.layer4]:
            layer.W -= learning_rate * layer.dW
            layer.b -= learning_rate * layer.db


# ---------------------------------------------------------------- two more textbook layers


class BatchNorm:
    """Batch normalisation (training mode), with running statistics for inference."""

    def __init__(self, size, momentum=0.9):
        self.gamma, self.beta = np.ones(size), np.zeros(size)
        self.momentum = momentum
        self.running_mean, self.running_var = np.zeros(size), np.ones(size)

    def forward(self, x):
        mu = x.mean(axis=0)
        self.xc = x - mu
        var = np.mean(self.xc**2, axis=0)
        self.std = np.sqrt(var + 1e-7)
        self.xn = self.xc / self.std
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / n


class Relu:
    """max(x, 0), with the mask kept for backward."""

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


# ---------------------------------------------------------------- one classic bug in each


class FCLayerMeanBias(FCLayer):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = np.mean(dout, axis=0)  # BUG: the bias gradient is a sum over the batch
        return dx


class FCLayerForgotBias(FCLayer):
    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)  # BUG: self.db never set
        return np.dot(dout, self.W.T)


class MLPMissingDerivative(MLP):
    def backward(self, dout):
        dout = dout * sigmoid_prime(self.z4)
        dout = self.layer4.backward(dout)
        dout = dout * sigmoid_prime(self.z3)
        dout = self.layer3.backward(dout)
        dout = self.layer2.backward(dout)  # BUG: forgot dout * sigmoid_prime(self.z2)
        dout = dout * sigmoid_prime(self.z1)
        dout = self.layer1.backward(dout)
        return dout


class BatchNormForgotMean(BatchNorm):
    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        return dxc  # BUG: forgot the mean's share, - sum(dxc) / n


class ReluNoMask(Relu):
    def backward(self, dout):
        return dout  # BUG: the gradient passes where the unit was off


# ---------------------------------------------------------------- course style: function pairs with a cache


def affine_forward(x, w, b):
    """out = x (flattened) w + b; the cache keeps the inputs."""
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = dout.sum(axis=0)
    return dx, dw, db


def affine_backward_bug(dout, cache):
    x, w, b = cache
    dx, _, db = affine_backward(dout, cache)
    return dx, x.reshape(x.shape[0], -1).T.dot(dout) / x.shape[0], db  # BUG: dw averaged over the batch


def conv_forward_naive(x, w, b, conv_param):
    """A convolution in loops: each output entry is one window times one filter."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, ho, wo))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(window * w[k]) + b[k]
    return out, (xp, w, conv_param)


def conv_backward_naive(dout, cache, flip_bias=False):
    xp, w, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    n, f, ho, wo = dout.shape
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    rows, cols = slice(r * stride, r * stride + hh), slice(s * stride, s * stride + ww)
                    dw[k] += xp[i, :, rows, cols] * dout[i, k, r, s]
                    dxp[i, :, rows, cols] += w[k] * dout[i, k, r, s]
    db = dout.sum(axis=(0, 2, 3))
    if flip_bias:
        db = -db  # BUG: the bias's sign
    return dxp[:, :, pad : dxp.shape[2] - pad, pad : dxp.shape[3] - pad], dw, db


def conv_backward_bug(dout, cache):
    return conv_backward_naive(dout, cache, flip_bias=True)


# ---------------------------------------------------------------- book style: a loss class


class SoftmaxWithLoss:
    """Softmax and cross-entropy, with the textbook's log(y + 1e-7)."""

    def forward(self, x, t):
        self.t = t
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx * dout / n


class SoftmaxWithLossNoMean(SoftmaxWithLoss):
    def backward(self, dout=1):
        return super().backward(dout) * self.t.shape[0]  # BUG: not divided by the batch


def show(title: str, report) -> None:
    print(f"== {title}")
    print(report, end="\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    X, _, _, _ = load_mnist(args.data)
    x = X[: args.batch].astype(np.float64)
    np.random.seed(0)  # the notebook drew its weights from numpy's global generator

    # The notebook's own classes, their numpy code unchanged: every gradient agrees.
    fc, mlp = FCLayer(784, 128), MLP()
    show("the notebook's FCLayer", check_backward(fc, x))
    show("the notebook's MLP (forward = predict)", check_backward(mlp, x, forward="predict"))
    h = np.random.randn(args.batch, 16)
    show("a textbook BatchNorm", check_backward(BatchNorm(16), h))
    show("a textbook Relu (mask, copy, in-place assignment)", check_backward(Relu(), h))

    # One planted bug per layer: the report names exactly the gradients it breaks.
    planted = [
        ("FCLayer, db = mean(dout)", check_backward(FCLayerMeanBias(784, 128), x), ["b"]),
        ("FCLayer, db never set", check_backward(FCLayerForgotBias(784, 128), x), ["b"]),
        (
            "MLP, no sigmoid derivative at layer 2",
            check_backward(MLPMissingDerivative(), x, forward="predict"),
            ["x", "layer1.W", "layer1.b", "layer2.W", "layer2.b"],
        ),
        ("BatchNorm, dx without the mean's term", check_backward(BatchNormForgotMean(16), h), ["x"]),
        ("Relu, backward without the mask", check_backward(ReluNoMask(), h), ["x"]),
    ]
    for title, report, expected in planted:
        show(title, report)
        assert report.failed == expected, (title, report.failed)

    # Course style: function pairs passing a cache; rows named by the forward's own arguments.
    rng = np.random.default_rng(0)
    xa, wa, ba = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    show("affine_forward/affine_backward", check_backward((affine_forward, affine_backward), xa, wa, ba))
    xc, wc, bc = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 1, "pad": 1}
    show(
        "a naive convolution in loops",
        check_backward((conv_forward_naive, conv_backward_naive), xc, wc, bc, conv_param),
    )
    # The book's loss class: its 1e-7 inside the log makes the exact gradient differ a little: "close".
    scores, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    show("a textbook SoftmaxWithLoss", check_backward(SoftmaxWithLoss(), scores, labels))
    planted = [
        (
            "affine, dw averaged over the batch",
            check_backward((affine_forward, affine_backward_bug), xa, wa, ba),
            ["w"],
        ),
        (
            "naive convolution, db with the wrong sign",
            check_backward((conv_forward_naive, conv_backward_bug), xc, wc, bc, conv_param),
            ["b"],
        ),
        (
            "SoftmaxWithLoss, not divided by the batch",
            check_backward(SoftmaxWithLossNoMean(), scores, labels),
            ["x"],
        ),
    ]
    for title, report, expected in planted:
        show(title, report)
        assert report.failed == expected, (title, report.failed)
    assert conv_param == {"stride": 1, "pad": 1}  # what you pass is never changed
    print("each planted bug was caught in exactly the gradients it breaks")


if __name__ == "__main__":
    main()
