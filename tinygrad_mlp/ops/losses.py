"""The softmax family and the fused losses: dedicated rules where numerics demand them."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, _normalize_axis

# ---------------------------------------------------------------- softmax family


class Softmax(Function):
    """exp(a) / sum(exp(a)) along an axis, shifted by the max so it never overflows."""

    name = "softmax"

    def forward(self, a, axis=-1):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        if a.size == 0:
            return a.copy()
        e = np.exp(a - a.max(axis=self.axes, keepdims=True))
        return e / e.sum(axis=self.axes, keepdims=True)

    def vjp(self, g, out, a):
        # d(softmax a)/da = s * (g - sum(g * s)) along the axis, s = softmax(a)
        return (out * (g - (g * out).sum(axis=self.axes, keepdims=True)),)

    def jvp(self, t, out, a):
        # d(softmax a) = s * (da - sum(s * da)) along the axis
        return out * (t[0] - (t[0] * out).sum(axis=self.axes, keepdims=True))


class LogSoftmax(Function):
    """a - log(sum(exp(a))) along an axis, shifted by the max so it never overflows."""

    name = "log_softmax"

    def forward(self, a, axis=-1):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        if a.size == 0:
            return a.copy()
        shifted = a - a.max(axis=self.axes, keepdims=True)  # exp never overflows
        return shifted - np.log(np.exp(shifted).sum(axis=self.axes, keepdims=True))

    def vjp(self, g, out, a):
        # d(log_softmax a)/da = g - softmax(a) * sum(g) along the axis
        return (g - np.exp(out) * g.sum(axis=self.axes, keepdims=True),)

    def jvp(self, t, out, a):
        # d(log_softmax a) = da - sum(softmax(a) * da) along the axis
        return t[0] - (np.exp(out) * t[0]).sum(axis=self.axes, keepdims=True)


class CrossEntropy(Function):
    """Mean softmax cross-entropy of logits (N, C) against class indices or probabilities.

    Fused: the gradient is the well-known (softmax - target) / N.
    """

    name = "cross_entropy"

    def forward(self, logits, target=None):
        if logits.ndim != 2:
            raise ShapeError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
        n, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if target.ndim == 1:
            if target.shape[0] != n:
                raise ShapeError(
                    f"cross_entropy: logits {logits.shape} and class indices {target.shape} differ in N"
                )
            if not np.issubdtype(target.dtype, np.integer):
                raise ShapeError(f"cross_entropy: class indices must be integers, got {target.dtype}")
            if n and (target.min() < 0 or target.max() >= c):
                raise ShapeError(
                    f"cross_entropy: class indices must lie in [0, {c}), got {target.min()}..{target.max()}"
                )
            onehot = np.zeros_like(log_p)
            onehot[np.arange(n), target] = 1
        elif target.shape == logits.shape:
            onehot = target.astype(log_p.dtype, copy=False)
        else:
            raise ShapeError(
                f"cross_entropy: target must be class indices (N,) or probabilities (N, C); "
                f"got logits {logits.shape} and target {target.shape}"
            )
        self.onehot, self.n = onehot, max(n, 1)
        return -(onehot * log_p).sum() / self.n  # a scalar of log_p's dtype (the engine makes it 0-d)

    def vjp(self, g, out, logits):
        # dL/dlogits = g * (softmax(logits) - target) / N
        p = _call(Softmax, logits, axis=1)
        return (g * ((p - self.onehot) / self.n),)

    def jvp(self, t, out, logits):
        # dL = sum((softmax(logits) - target) * dlogits) / N
        p = _call(Softmax, logits, axis=1)
        return (t[0] * ((p - self.onehot) / self.n)).sum()


class HalfSSE(Function):
    """0.5 * sum((pred - target)**2): the loss whose gradient the original notebook used.

    Fused, because it is on the hot path of the original recipe: its gradient is
    g * (pred - target), the ``dout = y_pred - y`` of the hand-written code.
    """

    name = "half_sse"

    def forward(self, pred, target):
        if pred.shape != target.shape:
            raise ShapeError(f"half_sse: pred {pred.shape} and target {target.shape} differ in shape")
        diff = pred - target
        return 0.5 * np.vdot(diff, diff)  # a scalar of diff's dtype (the engine makes it 0-d)

    def vjp(self, g, out, p, t):
        # d(0.5*sum((p-t)**2))/dp = g * (p - t), d/dt = -g * (p - t)
        need_p, need_t = self.needs_input_grad
        gd = g * (p - t)
        return (gd if need_p else None, -gd if need_t else None)

    def jvp(self, t, out, pred, target):
        # d(0.5*sum((p-t)**2)) = sum((p - t) * (dp - dt))
        return ((pred - target) * (t[0] - t[1])).sum()
