"""The operations of the engine: one small class per op, forward beside backward.

Every op is a :class:`Function`. ``forward`` takes numpy arrays and returns a numpy
array; ``backward`` takes the gradient of the loss with respect to that output and
returns one gradient per input (``None`` for an input that does not need one). What
backward needs is saved on ``self`` as plain arrays, never as the output Tensor, so a
graph holds no reference cycles and is freed by reference counting alone.

Each backward rule carries its math in a one-line comment, with ``g`` standing for
the incoming gradient dL/d(out).

To add an op: write a ``Function`` subclass here, then a Tensor method in
``tensor.py`` that calls ``_apply(YourOp, ...)``, then a line in the op table of
``tests/test_ops.py``.

This module imports numpy only; it knows nothing of Tensor.
"""

from __future__ import annotations

import numpy as np


class ShapeError(ValueError):
    """Inputs whose shapes an op cannot take; the message names the op and the shapes."""


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back down to ``shape``: the adjoint of numpy broadcasting is a sum.

    Broadcasting copies a value along new leading axes and along axes of length 1, so
    the gradient of that value is the sum over those axes.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if not ones:  # only new leading axes, as for a bias: the sum has the right shape already
        return grad.sum(axis=tuple(range(lead)))
    return grad.sum(axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape)


def _normalize_axis(axis, ndim: int, op: str) -> tuple[int, ...]:
    """Turn None, an int (maybe negative) or a tuple of ints into a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _engine_apply(cls, *inputs, **kwargs):
    """Replaced by ``tensor._apply`` when the Tensor layer (which sits on top of this
    module) is imported; importing the package always does."""
    from .tensor import _apply

    return _apply(cls, *inputs, **kwargs)


class Function:
    """One node type of the graph: ``forward`` on arrays, ``backward`` on gradients.

    The engine (``tensor._apply``) sets ``parents`` (the input Tensors, as an ordered
    tuple) and ``needs_input_grad`` (one bool per input) on the instance when the
    result is recorded; backward may skip the inputs that need no gradient.
    """

    name = "function"
    parents: tuple = ()
    needs_input_grad: tuple[bool, ...] = ()

    def forward(self, *arrays: np.ndarray, **kwargs) -> np.ndarray:
        """Compute the output from the inputs' arrays; save on ``self`` what backward needs."""
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """From g = dL/d(output), return dL/d(input) for each input (None where not needed)."""
        raise NotImplementedError

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        """The error to raise when numpy refused the inputs in ``forward`` (``exc``):
        it names the op and the input shapes. Ops may say more."""
        shapes = ", ".join(str(a.shape) for a in arrays)
        return ShapeError(f"{self.name}: {exc} (input shapes {shapes})")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run this op on Tensors and record it, as ``torch.autograd.Function.apply``:
        the way to use an op of your own, ``MyOp.apply(x, y)``."""
        return _engine_apply(cls, *inputs, **kwargs)


# ---------------------------------------------------------------- binary arithmetic


class _Binary(Function):
    """Elementwise op of two broadcastable arrays. Shapes are checked by numpy itself
    (no cost when they fit); the engine turns its error into :meth:`shape_error`."""

    def shape_error(self, exc: Exception, a: np.ndarray, b: np.ndarray) -> ShapeError:
        if not isinstance(exc, ValueError):
            return super().shape_error(exc, a, b)
        return ShapeError(f"{self.name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


class Add(_Binary):
    """a + b, broadcasting. Backward: g to each side, summed back to its shape."""

    name = "add"

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        # d(a+b)/da = g, d(a+b)/db = g  (summed back to each operand's shape)
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None, unbroadcast(g, sb) if need_b else None)


class Sub(_Binary):
    """a - b, broadcasting. Backward: g and -g, summed back to each shape."""

    name = "sub"

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        # d(a-b)/da = g, d(a-b)/db = -g
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None, unbroadcast(-g, sb) if need_b else None)


class Mul(_Binary):
    """a * b, broadcasting. Backward: g * b and g * a (the product rule)."""

    name = "mul"

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        # d(a*b)/da = g * b, d(a*b)/db = g * a
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        return (
            unbroadcast(g * b, a.shape) if need_a else None,
            unbroadcast(g * a, b.shape) if need_b else None,
        )


class Div(_Binary):
    """a / b, broadcasting. Backward: g / b and -g * a / b**2 (the quotient rule)."""

    name = "div"

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        # d(a/b)/da = g / b, d(a/b)/db = -g * a / b**2
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        return (
            unbroadcast(g / b, a.shape) if need_a else None,
            unbroadcast(-g * a / (b * b), b.shape) if need_b else None,
        )


class Pow(_Binary):
    """a ** b, broadcasting. Backward: g * b * a**(b-1) and g * a**b * log(a)."""

    name = "pow"

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g):
        a, b, out = self.a, self.b, self.out
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            # d(a**b)/da = g * b * a**(b-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = unbroadcast(g * b * a ** (b - 1), a.shape)
        if need_b:
            # d(a**b)/db = g * a**b * log(a)   (taken as 0 where a == 0, as PyTorch does)
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = np.where(a == 0, 0, g * out * np.log(a))
            gb = unbroadcast(gb.astype(out.dtype, copy=False), b.shape)
        return ga, gb


class MatMul(Function):
    """numpy.matmul: 2-D @ 2-D, 1-D operands (vector), and batched (broadcast) stacks."""

    name = "matmul"

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}"
            )
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka != kb:
            raise ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                f"{ka} (last dim of a) != {kb} ({'dim -2' if b.ndim >= 2 else 'dim 0'} of b)"
            )
        self.a, self.b = a, b
        return a @ b

    def shape_error(self, exc: Exception, a: np.ndarray, b: np.ndarray) -> ShapeError:
        # inner dimensions were checked above: what numpy refused is the batch dimensions
        return ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast together")

    def backward(self, g):
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            # d(a@b)/da = g @ b.T, d(a@b)/db = a.T @ g
            return (g @ b.T if need_a else None, a.T @ g if need_b else None)
        # General case: view 1-D operands as a row (a) or a column (b), then undo.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if need_a:
            # d(a@b)/da = g @ b^T (over the last two axes), summed over broadcast batch axes
            ga = unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            # d(a@b)/db = a^T @ g (over the last two axes), summed over broadcast batch axes
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


# ---------------------------------------------------------------- unary elementwise


class Neg(Function):
    """-a. Backward: -g."""

    name = "neg"

    def forward(self, a):
        return -a

    def backward(self, g):
        # d(-a)/da = -g
        return (-g,)


class Exp(Function):
    """exp(a). Backward: g * exp(a), reusing the output."""

    name = "exp"

    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        # d(exp a)/da = g * exp(a)
        return (g * self.out,)


class Log(Function):
    """Natural log. Backward: g / a."""

    name = "log"

    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, g):
        # d(log a)/da = g / a
        return (g / self.a,)


class Sqrt(Function):
    """sqrt(a). Backward: g / (2 sqrt(a)), reusing the output."""

    name = "sqrt"

    def forward(self, a):
        self.out = np.sqrt(a)
        return self.out

    def backward(self, g):
        # d(sqrt a)/da = g / (2 sqrt(a))
        return (g / (2 * self.out),)


class ReLU(Function):
    """max(a, 0). Backward: g where a > 0, else 0."""

    name = "relu"

    def forward(self, a):
        self.mask = a > 0
        return np.maximum(a, 0)

    def backward(self, g):
        # d(relu a)/da = g * (a > 0)
        return (g * self.mask,)


class Sigmoid(Function):
    """sigma(a) = 1 / (1 + exp(-a)), computed as (1 + tanh(a/2)) / 2.

    The tanh form never overflows (sigmoid(-1000) is 0, sigmoid(1000) is 1, no
    warning) and is faster in numpy than the exp form, in four in-place passes.
    """

    name = "sigmoid"

    def forward(self, a):
        out = np.multiply(a, 0.5, out=np.empty_like(a))  # out=: stays an array for 0-d input
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        self.out = out
        return out

    def backward(self, g):
        # d(sigma a)/da = g * sigma(a) * (1 - sigma(a))
        s = self.out
        grad = 1 - s
        grad *= s
        grad *= g
        return (grad,)


class Tanh(Function):
    """tanh(a), stable for any a. Backward: g * (1 - tanh(a)**2), reusing the output."""

    name = "tanh"

    def forward(self, a):
        self.out = np.tanh(a)
        return self.out

    def backward(self, g):
        # d(tanh a)/da = g * (1 - tanh(a)**2)
        grad = 1 - self.out * self.out
        grad *= g
        return (grad,)


# ---------------------------------------------------------------- reductions


class Sum(Function):
    """Sum over axes (None: all). Backward: g copied back along the summed axes."""

    name = "sum"

    def forward(self, a, axis=None, keepdims=False):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        self.shape = a.shape
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        # d(sum a)/da = g copied along the summed axes
        g = g.reshape(_keepdims_shape(self.shape, self.axes))
        return (np.broadcast_to(g, self.shape),)


class Max(Function):
    """Max over axes. Backward: g to the maxima, split equally among ties."""

    name = "max"

    def forward(self, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ShapeError(f"max: cannot take the max of an empty tensor of shape {a.shape}")
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        out = a.max(axis=self.axes, keepdims=True)
        self.a, self.out_keep = a, out
        return out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in self.axes])

    def backward(self, g):
        # d(max a)/da = g at the maxima, split equally among tied maxima; 0 elsewhere
        mask = self.a == self.out_keep
        count = mask.sum(axis=self.axes, keepdims=True)
        g = g.reshape(self.out_keep.shape)
        return ((mask * (g / count)).astype(self.a.dtype, copy=False),)


# ---------------------------------------------------------------- shape ops


class Reshape(Function):
    """A new shape, same data. Backward: g reshaped back."""

    name = "reshape"

    def forward(self, a, shape=()):
        self.shape, self.target = a.shape, tuple(shape)
        return a.reshape(shape)

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(
            f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {self.target}"
        )

    def backward(self, g):
        # d(reshape a)/da = g reshaped back to a's shape
        return (g.reshape(self.shape),)


class Transpose(Function):
    """Permute axes (None: reverse them). Backward: g permuted back."""

    name = "transpose"

    def forward(self, a, axes=None):
        if axes is not None:
            if sorted(int(x) % max(a.ndim, 1) for x in axes) != list(range(a.ndim)) or any(
                not -a.ndim <= x < a.ndim for x in axes
            ):
                raise ShapeError(
                    f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes "
                    f"of shape {a.shape} (to swap two axes, use swapaxes)"
                )
            axes = tuple(int(x) % a.ndim for x in axes)
        self.axes = axes
        return np.transpose(a, axes)

    def backward(self, g):
        # d(transpose a)/da = g transposed back by the inverse permutation
        return (np.transpose(g, None if self.axes is None else np.argsort(self.axes)),)


class Index(Function):
    """``a[index]`` with basic slices, ints, None, Ellipsis and integer arrays."""

    name = "index"

    def forward(self, a, index=()):
        self.shape, self.index = a.shape, index
        # Integer arrays can repeat an index; those need a scatter-add in backward.
        self.advanced = any(isinstance(i, np.ndarray) for i in index)
        return a[index]

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(f"index: cannot index a tensor of shape {a.shape}: {exc}")

    def backward(self, g):
        # d(a[i])/da = g scattered back to position i; repeated indices add up
        grad = np.zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            np.add.at(grad, self.index, g)
        else:
            grad[self.index] = g
        return (grad,)


# ---------------------------------------------------------------- softmax family


class Softmax(Function):
    """exp(a) / sum(exp(a)) along an axis, shifted by the max. Backward: s * (g - sum(g * s))."""

    name = "softmax"

    def forward(self, a, axis=-1):
        _normalize_axis(axis, a.ndim, self.name)
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        self.out = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        return self.out

    def backward(self, g):
        # d(softmax a)/da = s * (g - sum(g * s)) along the axis
        s = self.out
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """a - log(sum(exp(a))) along an axis, shifted by the max. Backward: g - softmax(a) * sum(g)."""

    name = "log_softmax"

    def forward(self, a, axis=-1):
        _normalize_axis(axis, a.ndim, self.name)
        shifted = a - a.max(axis=axis, keepdims=True)  # exp never overflows
        self.out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, g):
        # d(log_softmax a)/da = g - softmax(a) * sum(g) along the axis
        return (g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    """Mean softmax cross-entropy of logits (N, C) against class indices or probabilities.

    Fused: the forward keeps the softmax, and the backward is the well-known
    (softmax - target) / N, with no log or exp in it.
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
        self.p, self.onehot, self.n = np.exp(log_p), onehot, n
        return np.asarray(-(onehot * log_p).sum() / n, dtype=log_p.dtype)

    def backward(self, g):
        # dL/dlogits = g * (softmax(logits) - target) / N
        return (g * (self.p - self.onehot) / self.n,)


class HalfSSE(Function):
    """0.5 * sum((pred - target)**2): the loss whose gradient the original notebook used.

    Fused, because it is on the hot path of the original recipe: backward is
    g * (pred - target), the ``dout = y_pred - y`` of the hand-written code.
    """

    name = "half_sse"

    def forward(self, pred, target):
        if pred.shape != target.shape:
            raise ShapeError(f"half_sse: pred {pred.shape} and target {target.shape} differ in shape")
        self.diff = pred - target
        return np.asarray(0.5 * np.vdot(self.diff, self.diff), dtype=self.diff.dtype)

    def backward(self, g):
        # d(0.5*sum((p-t)**2))/dp = g * (p - t), d/dt = -g * (p - t)
        need_p, need_t = self.needs_input_grad
        return (g * self.diff if need_p else None, -g * self.diff if need_t else None)
