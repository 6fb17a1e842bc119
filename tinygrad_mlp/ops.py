"""The operations of the engine: one small class per op, its derivatives beside it.

Every op is a :class:`Function` with three methods:

- ``forward(*arrays)``: numpy arrays in, a numpy array out;
- ``vjp(g, out, *inputs)``: the vector-Jacobian product, run by backward: from
  ``g`` = dL/d(out), one gradient per input (``None`` for an input that needs none);
- ``jvp(tangents, out, *inputs)``: the tangent rule, run by forward mode
  (``func.jvp``): from one tangent per input, the tangent of the output.

Each rule carries its math in a one-line comment. The derivative of an op is
written once: ``vjp`` and ``jvp`` use only arithmetic, Tensor-style methods
(``.sum(axis, keepdims)``, ``.reshape``, ``.T``, indexing) and numpy functions that
Tensors implement (``np.where``, ``np.exp``, ``np.broadcast_to`` ...). So the same
code runs on arrays for a first derivative (fast: plain numpy) and on Tensors when
``grad(create_graph=True)`` records the backward pass to differentiate it again:
higher derivatives come for free, as in HIPS autograd.

Rules read the op's inputs and output as arguments rather than keeping them, and
keep on ``self`` only constants (axes, shapes, masks). Nothing holds the output
Tensor, so a graph has no reference cycles and is freed by reference counting.

To add an op: write a ``Function`` subclass here (forward, vjp, jvp), then a Tensor
method in ``tensor.py`` that calls ``_apply(YourOp, ...)``, then a line in the op
table of ``tests/test_ops.py``. An op of your own may instead define the
first-round ``backward(g)`` on arrays (as ``torch.autograd.Function``); it then has
first derivatives only.

This module imports numpy only; it knows nothing of Tensor.
"""

from __future__ import annotations

import numpy as np


class ShapeError(ValueError):
    """Inputs whose shapes an op cannot take; the message names the op and the shapes."""


def unbroadcast(grad, shape: tuple[int, ...]):
    """Sum ``grad`` back down to ``shape``: the adjoint of numpy broadcasting is a sum.

    Broadcasting copies a value along new leading axes and along axes of length 1, so
    the gradient of that value is the sum over those axes. Works on arrays and Tensors.
    """
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if gshape[lead:] == shape:  # only new leading axes, as for a bias: summing them gives the shape
        return grad.sum(axis=0 if lead == 1 else tuple(range(lead)))
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape)


def _normalize_axis(axis, ndim: int, op: str) -> tuple[int, ...]:
    """Turn None, an int (maybe negative) or a tuple of ints into a sorted tuple of axes.

    A 0-d tensor accepts axis 0 and -1 as PyTorch does (there is nothing to reduce)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out)) if ndim else ()


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _engine_apply(cls, *inputs, **kwargs):
    """Replaced by the Tensor layer (which sits on top of this module) when it is
    imported; importing the package always does."""
    from .tensor import _apply_lifted

    return _apply_lifted(cls, *inputs, **kwargs)


def _call(cls, *args, **kwargs):
    """Run op ``cls`` inside a rule: straight on arrays, recorded when an argument is a Tensor."""
    if all(type(a) is np.ndarray for a in args):
        return cls().forward(*args, **kwargs)
    return cls.apply(*args, **kwargs)


def _value(x) -> np.ndarray:
    """The array of an array or a Tensor: for masks and other constants inside rules."""
    return np.asarray(x)


class Function:
    """One node type of the graph: ``forward`` on arrays; ``vjp`` and ``jvp`` for derivatives.

    The engine (``tensor._apply``) sets ``parents`` (the input Tensors, as an ordered
    tuple), ``arrays`` (their arrays at that moment) and ``needs_input_grad`` (one
    bool per input) on the instance when the result is recorded; a rule may skip
    the inputs that need no gradient. ``in_backward`` is True for an op recorded by a
    ``create_graph`` backward pass.
    """

    name = "function"
    parents: tuple = ()
    arrays: tuple = ()
    needs_input_grad: tuple[bool, ...] = ()
    in_backward = False
    differentiable = False  # True where vjp is written for Tensors too (set below)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.differentiable = any("vjp" in vars(k) for k in cls.__mro__ if k is not Function)

    def forward(self, *arrays: np.ndarray, **kwargs) -> np.ndarray:
        """Compute the output from the inputs' arrays."""
        raise NotImplementedError

    def vjp(self, g, out, *inputs):
        """From g = dL/d(out), return dL/d(input) for each input (None where not needed).

        The default serves ops of your own written in the first round's style: it calls
        ``backward(g)``, which uses what ``forward`` saved on ``self``."""
        return self.backward(g)

    def backward(self, g: np.ndarray):
        """dL/d(input) for each input from g = dL/d(output), on arrays (ops of your own)."""
        raise NotImplementedError(f"op '{self.name}' defines neither vjp nor backward")

    def jvp(self, tangents, out, *inputs):
        """From one tangent per input, the tangent of the output (forward mode)."""
        raise NotImplementedError(
            f"forward mode: op '{self.name}' has no tangent rule; define "
            f"jvp(self, tangents, out, *inputs) on it to use it in func.jvp/jacfwd"
        )

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        """The error to raise when numpy refused the inputs in ``forward`` (``exc``):
        it names the op and the input shapes. Ops may say more."""
        shapes = ", ".join(str(a.shape) for a in arrays)
        return ShapeError(f"{self.name}: {exc} (input shapes {shapes})")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run this op on Tensors and record it, as ``torch.autograd.Function.apply``:
        the way to use an op of your own, ``MyOp.apply(x, y)``. Numbers and arrays
        among the inputs become constants."""
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
    """a + b, broadcasting."""

    name = "add"

    def forward(self, a, b):
        return a + b

    def vjp(self, g, out, a, b):
        # d(a+b)/da = g, d(a+b)/db = g  (summed back to each operand's shape)
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g, a.shape) if need_a else None, unbroadcast(g, b.shape) if need_b else None)

    def jvp(self, t, out, a, b):
        # d(a+b) = da + db
        return t[0] + t[1]


class Sub(_Binary):
    """a - b, broadcasting."""

    name = "sub"

    def forward(self, a, b):
        return a - b

    def vjp(self, g, out, a, b):
        # d(a-b)/da = g, d(a-b)/db = -g
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g, a.shape) if need_a else None, unbroadcast(-g, b.shape) if need_b else None)

    def jvp(self, t, out, a, b):
        # d(a-b) = da - db
        return t[0] - t[1]


class Mul(_Binary):
    """a * b, broadcasting (the product rule)."""

    name = "mul"

    def forward(self, a, b):
        return a * b

    def vjp(self, g, out, a, b):
        # d(a*b)/da = g * b, d(a*b)/db = g * a
        need_a, need_b = self.needs_input_grad
        return (
            unbroadcast(g * b, a.shape) if need_a else None,
            unbroadcast(g * a, b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(a*b) = da * b + a * db
        return t[0] * b + a * t[1]


class Div(_Binary):
    """a / b, broadcasting (the quotient rule, from the quotient itself)."""

    name = "div"

    def forward(self, a, b):
        return a / b

    def vjp(self, g, out, a, b):
        # d(a/b)/da = g / b
        # d(a/b)/db = -g * a / b**2, computed as -(g / b) * (a / b): no b*b to overflow or underflow
        need_a, need_b = self.needs_input_grad
        g_over_b = g / b
        return (
            unbroadcast(g_over_b, a.shape) if need_a else None,
            unbroadcast(-g_over_b * out, b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(a/b) = (da - (a/b) * db) / b
        return (t[0] - out * t[1]) / b


class Pow(_Binary):
    """a ** b, both tensors, broadcasting. (A constant exponent is :class:`PowConst`.)"""

    name = "pow"

    def forward(self, a, b):
        return a**b

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                # d(a**b)/da = g * b * a**(b-1); 0 where b == 0 (a**0 is constant, even at a == 0)
                ga = unbroadcast(np.where(_value(b) == 0, 0, g * b * a ** (b - 1)), a.shape)
            if need_b:
                # d(a**b)/db = g * a**b * log(a); 0 where a == 0 (as PyTorch does)
                gb = unbroadcast(np.where(_value(a) == 0, 0, g * out * np.log(a)), b.shape)
        return ga, gb

    def jvp(self, t, out, a, b):
        # d(a**b) = da * b * a**(b-1) + db * a**b * log(a)   (same zeros as vjp)
        with np.errstate(divide="ignore", invalid="ignore"):
            da = np.where(_value(b) == 0, 0, t[0] * b * a ** (b - 1))
            db = np.where(_value(a) == 0, 0, t[1] * out * np.log(a))
        return da + db


class PowConst(Function):
    """a ** p for a constant number p (``x ** 2``, ``x ** 0.5``): no log, no exponent gradient."""

    name = "pow"

    def forward(self, a, p=2.0):
        self.p = p
        return np.square(a) if p == 2 else a**p  # numpy's a**2.0 runs its general power loop

    def vjp(self, g, out, a):
        # d(a**p)/da = g * p * a**(p-1)   (p == 0: 0; p == 1: g; p == 2: 2 a g, without a power)
        p = self.p
        if p == 0:
            return (np.zeros_like(_value(a)),)
        if p == 1:
            return (g,)
        if p == 2:
            return (g * (a + a),)
        return (g * (p * a ** (p - 1)),)

    def jvp(self, t, out, a):
        # d(a**p) = p * a**(p-1) * da
        p = self.p
        if p == 0:
            return t[0] * 0
        return t[0] * (p * a ** (p - 1)) if p != 1 else t[0]


class MatMul(Function):
    """numpy.matmul: 2-D @ 2-D, 1-D operands (vector), and batched (broadcast) stacks."""

    name = "matmul"

    def forward(self, a, b):
        return a @ b  # shapes are checked by numpy; shape_error says what it refused

    def shape_error(self, exc: Exception, a: np.ndarray, b: np.ndarray) -> ShapeError:
        if a.ndim == 0 or b.ndim == 0:
            return ShapeError(
                f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}"
            )
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka != kb:
            return ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                f"{ka} (last dim of a) != {kb} ({'dim -2' if b.ndim >= 2 else 'dim 0'} of b)"
            )
        return ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast together")

    def vjp(self, g, out, a, b):
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

    def jvp(self, t, out, a, b):
        # d(a@b) = da @ b + a @ db
        return t[0] @ b + a @ t[1]


# ---------------------------------------------------------------- unary elementwise


class Neg(Function):
    """-a."""

    name = "neg"

    def forward(self, a):
        return -a

    def vjp(self, g, out, a):
        # d(-a)/da = -g
        return (-g,)

    def jvp(self, t, out, a):
        # d(-a) = -da
        return -t[0]


class Exp(Function):
    """exp(a), reusing the output in its derivatives."""

    name = "exp"

    def forward(self, a):
        return np.exp(a)

    def vjp(self, g, out, a):
        # d(exp a)/da = g * exp(a)
        return (g * out,)

    def jvp(self, t, out, a):
        # d(exp a) = exp(a) * da
        return t[0] * out


class Log(Function):
    """Natural log."""

    name = "log"

    def forward(self, a):
        return np.log(a)

    def vjp(self, g, out, a):
        # d(log a)/da = g / a
        return (g / a,)

    def jvp(self, t, out, a):
        # d(log a) = da / a
        return t[0] / a


class Sqrt(Function):
    """sqrt(a), reusing the output in its derivatives."""

    name = "sqrt"

    def forward(self, a):
        return np.sqrt(a)

    def vjp(self, g, out, a):
        # d(sqrt a)/da = g / (2 sqrt(a))
        return (g / (2 * out),)

    def jvp(self, t, out, a):
        # d(sqrt a) = da / (2 sqrt(a))
        return t[0] / (2 * out)


class Abs(Function):
    """|a|; its derivative at 0 is taken as 0, as PyTorch does."""

    name = "abs"

    def forward(self, a):
        return np.abs(a)

    def vjp(self, g, out, a):
        # d|a|/da = g * sign(a)   (selected, so an infinite g never meets a zero)
        a = _value(a)
        return (np.where(a > 0, g, np.where(a < 0, -g, 0)),)

    def jvp(self, t, out, a):
        # d|a| = sign(a) * da
        a = _value(a)
        return np.where(a > 0, t[0], np.where(a < 0, -t[0], 0))


class ReLU(Function):
    """max(a, 0); its derivative at 0 is taken as 0, as PyTorch does."""

    name = "relu"

    def forward(self, a):
        return np.maximum(a, 0)

    def vjp(self, g, out, a):
        # d(relu a)/da = g where a > 0, else 0   (a select, not g * mask: inf * 0 would be NaN)
        return (np.where(_value(a) > 0, g, 0),)

    def jvp(self, t, out, a):
        # d(relu a) = da where a > 0, else 0
        return np.where(_value(a) > 0, t[0], 0)


_min = np.minimum.reduce  # a.min() without its Python wrapper

# Above these inputs exp(-a) stays finite (it overflows near -88.7 in float32, -709.8 in float64).
_EXP_SAFE = {np.dtype(np.float16): -11.0, np.dtype(np.float32): -80.0, np.dtype(np.float64): -700.0}


class Sigmoid(Function):
    """sigma(a) = 1 / (1 + exp(-a)), accurate for every a.

    Computed from e = exp(-|a|), which never overflows: sigma(a) = 1 / (1 + e) for
    a >= 0 and e / (1 + e) for a < 0, so a tiny sigmoid keeps its relative precision
    (float32 sigmoid(-100) is 3.8e-44, not 0) and log(sigmoid(a)) stays finite.
    """

    name = "sigmoid"

    def forward(self, a):
        if a.size and _min(a, None) > _EXP_SAFE.get(a.dtype, 0.0):
            # fast path: while exp(-a) cannot overflow, 1 / (1 + exp(-a)) is as exact as the
            # two-branch form below, in four passes over one new array (made with out= for a
            # 0-d input, whose negative would otherwise be a numpy scalar, not writable)
            out = np.negative(a) if a.ndim else np.negative(a, out=np.empty_like(a))
            np.exp(out, out=out)
            out += 1
            return np.reciprocal(out, out=out)
        e = np.abs(a, out=np.empty_like(a))
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|a|), in (0, 1]
        out = np.add(e, 1, out=np.empty_like(e))
        np.divide(np.where(a < 0, e, 1), out, out=out)
        return out

    def vjp(self, g, out, a):
        # d(sigma a)/da = g * sigma(a) * (1 - sigma(a))
        grad = 1 - out
        grad *= out  # in place on arrays; on Tensors these rebind to new ones
        grad *= g
        return (grad,)

    def jvp(self, t, out, a):
        # d(sigma a) = sigma(a) * (1 - sigma(a)) * da
        return t[0] * out * (1 - out)


class Tanh(Function):
    """tanh(a), stable for any a, reusing the output in its derivatives."""

    name = "tanh"

    def forward(self, a):
        return np.tanh(a)

    def vjp(self, g, out, a):
        # d(tanh a)/da = g * (1 - tanh(a)**2)
        grad = 1 - out * out
        grad *= g
        return (grad,)

    def jvp(self, t, out, a):
        # d(tanh a) = (1 - tanh(a)**2) * da
        return t[0] * (1 - out * out)


class Where(Function):
    """np.where(cond, a, b) with a constant boolean ``cond``: a select, broadcasting."""

    name = "where"

    def forward(self, a, b, cond=None):
        self.cond = cond
        return np.where(cond, a, b)

    def vjp(self, g, out, a, b):
        # d where(c, a, b)/da = g where c, else 0; d/db = g where not c, else 0
        need_a, need_b = self.needs_input_grad
        c = self.cond
        return (
            unbroadcast(np.where(c, g, 0), a.shape) if need_a else None,
            unbroadcast(np.where(c, 0, g), b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d where(c, a, b) = where(c, da, db)
        return np.where(self.cond, t[0], t[1])


class Maximum(_Binary):
    """np.maximum(a, b), broadcasting; a tie sends half the gradient to each side (as PyTorch)."""

    name = "maximum"

    def forward(self, a, b):
        return np.maximum(a, b)

    def _weights(self, a, b):
        a, b = _value(a), _value(b)
        return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0)).astype(np.result_type(a, b))

    def vjp(self, g, out, a, b):
        # d max(a, b)/da = g where a > b, g/2 where a == b; d/db = the rest
        need_a, need_b = self.needs_input_grad
        w = self._weights(a, b)
        return (
            unbroadcast(np.where(w > 0, g * w, 0), a.shape) if need_a else None,
            unbroadcast(np.where(w < 1, g * (1 - w), 0), b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d max(a, b) = da where a > b, db where a < b, (da + db)/2 at ties
        w = self._weights(a, b)
        return t[0] * w + t[1] * (1 - w)


class Cast(Function):
    """The same values in another float dtype."""

    name = "cast"

    def forward(self, a, dtype=np.float32):
        self.dtype = a.dtype
        return a.astype(dtype)

    def vjp(self, g, out, a):
        # d cast(a)/da = g cast back to a's dtype
        return (_call(Cast, g, dtype=self.dtype),)

    def jvp(self, t, out, a):
        # d cast(a) = cast(da)
        return _call(Cast, t[0], dtype=out.dtype)


class Copy(Function):
    """A copy (``t.copy()``, ``np.copy``): the identity, as a node of its own."""

    name = "copy"

    def forward(self, a):
        return a.copy()

    def vjp(self, g, out, a):
        # d copy(a)/da = g
        return (g,)

    def jvp(self, t, out, a):
        # d copy(a) = da
        return t[0]


# ---------------------------------------------------------------- reductions


class Sum(Function):
    """Sum over axes (None: all)."""

    name = "sum"

    def forward(self, a, axis=None, keepdims=False):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        self.keepdims = keepdims
        return a.sum(axis=None if axis is None else self.axes, keepdims=keepdims)  # None: the fast path

    def vjp(self, g, out, a):
        # d(sum a)/da = g copied along the summed axes
        if type(g) is np.ndarray and g.ndim == 0:
            # a sum of everything: a read-only view of g with zero strides, made directly
            # (np.broadcast_to builds the same view in a few microseconds more)
            view = np.ndarray(a.shape, g.dtype, buffer=g, strides=(0,) * a.ndim)
            view.flags.writeable = False
            return (view,)
        g = g.reshape(_keepdims_shape(a.shape, self.axes))
        return (np.broadcast_to(g, a.shape),)

    def jvp(self, t, out, a):
        # d(sum a) = sum(da)
        return t[0].sum(axis=self.axes, keepdims=self.keepdims)


class Max(Function):
    """Max over axes; the gradient is split equally among tied maxima."""

    name = "max"

    def forward(self, a, axis=None, keepdims=False):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        if any(a.shape[i] == 0 for i in self.axes) or (a.size == 0 and not self.axes):
            raise ShapeError(f"max: cannot take the max over an empty axis (tensor of shape {a.shape})")
        self.keepdims = keepdims
        return a.max(axis=self.axes, keepdims=keepdims)

    def _weights(self, out, a):
        """1/count at the maxima (count: how many tie), 0 elsewhere: a constant."""
        a = _value(a)
        mask = a == _value(out).reshape(_keepdims_shape(a.shape, self.axes))
        return (mask / mask.sum(axis=self.axes, keepdims=True)).astype(a.dtype)

    def vjp(self, g, out, a):
        # d(max a)/da = g at the maxima, split equally among tied maxima; 0 elsewhere
        w = self._weights(out, a)
        g = g.reshape(_keepdims_shape(a.shape, self.axes))
        return (np.where(w > 0, g * w, 0),)

    def jvp(self, t, out, a):
        # d(max a) = mean of da over the tied maxima
        return (t[0] * self._weights(out, a)).sum(axis=self.axes, keepdims=self.keepdims)


# ---------------------------------------------------------------- shape ops


class Reshape(Function):
    """A new shape, same data."""

    name = "reshape"

    def forward(self, a, shape=()):
        self.target = tuple(shape)
        return a.reshape(shape)

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(
            f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {self.target}"
        )

    def vjp(self, g, out, a):
        # d(reshape a)/da = g reshaped back to a's shape
        return (g.reshape(a.shape),)

    def jvp(self, t, out, a):
        # d(reshape a) = reshape(da)
        return t[0].reshape(out.shape)


class BroadcastTo(Function):
    """np.broadcast_to(a, shape): a read-only broadcast view."""

    name = "broadcast_to"

    def forward(self, a, shape=()):
        return np.broadcast_to(a, shape)

    def vjp(self, g, out, a):
        # d broadcast(a)/da = g summed over the broadcast axes
        return (unbroadcast(g, a.shape),)

    def jvp(self, t, out, a):
        # d broadcast(a) = broadcast(da)
        return np.broadcast_to(t[0], out.shape)


class Transpose(Function):
    """Permute axes (None: reverse them)."""

    name = "transpose"

    def forward(self, a, axes=None):
        if axes is not None:
            if any(not -a.ndim <= x < a.ndim for x in axes) or sorted(
                int(x) % max(a.ndim, 1) for x in axes
            ) != list(range(a.ndim)):
                raise ShapeError(
                    f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes "
                    f"of shape {a.shape} (to swap two axes, use swapaxes)"
                )
            axes = tuple(int(x) % a.ndim for x in axes)
        self.axes = axes
        return np.transpose(a, axes)

    def vjp(self, g, out, a):
        # d(transpose a)/da = g transposed back by the inverse permutation
        return (np.transpose(g, None if self.axes is None else tuple(np.argsort(self.axes))),)

    def jvp(self, t, out, a):
        # d(transpose a) = transpose(da)
        return np.transpose(t[0], self.axes)


class Index(Function):
    """``a[index]`` with basic slices, ints, None, Ellipsis, and integer or boolean arrays."""

    name = "index"

    def forward(self, a, index=()):
        self.index = index
        return a[index]

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(f"index: cannot index a tensor of shape {a.shape}: {exc}")

    def vjp(self, g, out, a):
        # d(a[i])/da = g scattered back to position i; repeated indices add up
        return (_call(Scatter, g, shape=a.shape, index=self.index),)

    def jvp(self, t, out, a):
        # d(a[i]) = da[i]
        return t[0][self.index]


class Scatter(Function):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up): the
    backward of indexing, an op of its own so that it can be differentiated again."""

    name = "scatter"

    def forward(self, g, shape=(), index=()):
        self.index = index
        grad = np.zeros(shape, dtype=g.dtype)
        if any(isinstance(i, np.ndarray) and i.dtype != bool for i in index):
            np.add.at(grad, index, g)  # integer arrays can repeat an index
        else:
            grad[index] = g
        return grad

    def vjp(self, gg, out, g):
        # d scatter(g)/dg = gg[i]
        return (gg[self.index],)

    def jvp(self, t, out, g):
        # d scatter(g) = scatter(dg)
        return _call(Scatter, t[0], shape=out.shape, index=self.index)


class SetItem(Function):
    """``a`` with ``a[index] = v`` written in (a new array; ``a`` itself is unchanged): how
    an assignment into a tensor, ``out[mask] = 0``, is recorded."""

    name = "setitem"

    def forward(self, a, v, index=()):
        self.index = index
        out = a.copy()
        out[index] = v
        return out

    def shape_error(self, exc: Exception, a: np.ndarray, v: np.ndarray) -> ShapeError:
        return ShapeError(
            f"setitem: cannot assign a value of shape {v.shape} into a tensor of shape {a.shape}: {exc}"
        )

    def vjp(self, g, out, a, v):
        # d/da = g with the assigned positions zeroed; d/dv = g at the assigned positions
        need_a, need_b = self.needs_input_grad
        ga = _call(SetItem, g, np.zeros((), g.dtype), index=self.index) if need_a else None
        gv = unbroadcast(g[self.index], v.shape) if need_b else None
        return ga, gv

    def jvp(self, t, out, a, v):
        # d(a with a[i] = v) = da with da[i] = dv
        return _call(SetItem, t[0], t[1], index=self.index)


class Stack(Function):
    """np.stack of several arrays of one shape along a new first axis."""

    name = "stack"

    def forward(self, *arrays):
        return np.stack(arrays)

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        return ShapeError(f"stack: all inputs must have one shape, got {[a.shape for a in arrays]}")

    def vjp(self, g, out, *inputs):
        # d stack(a_0, ..., a_n)/da_i = g[i]
        return tuple(g[i] if need else None for i, need in enumerate(self.needs_input_grad))

    def jvp(self, t, out, *inputs):
        # d stack(a_i) = stack(da_i)
        return _call(Stack, *t)


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
        return np.asarray(-(onehot * log_p).sum() / self.n, dtype=log_p.dtype)

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
        return np.asarray(0.5 * np.vdot(diff, diff), dtype=diff.dtype)

    def vjp(self, g, out, p, t):
        # d(0.5*sum((p-t)**2))/dp = g * (p - t), d/dt = -g * (p - t)
        need_p, need_t = self.needs_input_grad
        gd = g * (p - t)
        return (gd if need_p else None, -gd if need_t else None)

    def jvp(self, t, out, pred, target):
        # d(0.5*sum((p-t)**2)) = sum((p - t) * (dp - dt))
        return ((pred - target) * (t[0] - t[1])).sum()
