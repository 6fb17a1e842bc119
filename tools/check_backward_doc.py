"""The code blocks of docs/check_backward.md, run in order in one namespace (as notebook
cells), printing what each prints: the outputs the document shows.

    PYTHONPATH=. python tools/check_backward_doc.py
"""

import contextlib
import io
import os
import sys
import tempfile

# the module the "what cannot be recorded" block imports, so that its line can be named
MY_LAYERS = """import numpy as np


def smooth_forward(x, k):
    return np.convolve(x, k, mode="valid"), (x, k)


def smooth_backward(dout, cache):
    x, k = cache
    return np.convolve(dout, k[::-1], mode="full"), np.convolve(x[::-1], dout, mode="valid")
"""

BLOCKS = {}
BLOCKS["pair"] = """import numpy as np
from tinygrad_mlp import check_backward

def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)

def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.mean(dout, axis=0)          # planted bug: the sum, not the mean
    return dx, dw, db

rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
report = check_backward((affine_forward, affine_backward), x, w, b)
print(report)"""
BLOCKS["api"] = """print(report.passed, report.failed, [r.name for r in report.rows])
row = report["b"]
print(row.verdict, f"{row.max_rel:.3f}", row.problem)"""
BLOCKS["conv"] = """def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, ho, wo))                    # filled below, entry by entry: recorded
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, :, r * stride:r * stride + hh, s * stride:s * stride + ww]
                    out[i, k, r, s] = np.sum(window * w[k]) + b[k]
    return out, (xp, w, conv_param)

def conv_backward_naive(dout, cache):
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
                    dw[k] += xp[i, :, rows, rows] * dout[i, k, r, s]   # planted bug: rows twice
                    dxp[i, :, rows, cols] += w[k] * dout[i, k, r, s]
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pad:-pad, pad:-pad], dw, db

x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
conv_param = {"stride": 1, "pad": 1}
print(check_backward((conv_forward_naive, conv_backward_naive), x, w, b, conv_param))"""
BLOCKS["book"] = """class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W)       # planted bug: W, not W.T (square here, so no shape error)

class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return -np.sum(np.log(self.y[np.arange(len(t)), t] + 1e-7)) / len(t)

    def backward(self, dout=1):
        dx = self.y.copy()
        dx[np.arange(len(self.t)), self.t] -= 1
        return dx * dout / len(self.t)

print(check_backward(Affine(rng.standard_normal((3, 3)), rng.standard_normal(3)), rng.standard_normal((4, 3))))
print()
print(check_backward(SoftmaxWithLoss(), rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])))"""
BLOCKS["dropout"] = """def dropout_forward(x, dropout_param):
    mask = (np.random.rand(*x.shape) < dropout_param["p"]) / dropout_param["p"]   # unseeded
    out = (x * mask).astype(x.dtype, copy=False)
    return out, mask

def dropout_backward(dout, mask):
    return dout * mask

np.random.seed(1)  # (only so that the digits on this page repeat; the mask is drawn as it would be)
print(check_backward((dropout_forward, dropout_backward), rng.standard_normal((5, 4)), {"p": 0.6}))"""
BLOCKS["error"] = """from my_layers import smooth_forward, smooth_backward   # np.convolve on line 5

try:
    check_backward((smooth_forward, smooth_backward), rng.standard_normal(6), rng.standard_normal(3))
except ValueError as exc:   # LayerCheckError, a ValueError
    print(exc)"""


def main() -> None:
    """Run each block and print its output under a === header."""
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "my_layers.py"), "w") as f:
        f.write(MY_LAYERS)
    sys.path.insert(0, folder)
    namespace: dict = {}
    for name, code in BLOCKS.items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{name}>", "exec"), namespace)
        print(f"=== {name}\n{out.getvalue()}")


if __name__ == "__main__":
    main()
