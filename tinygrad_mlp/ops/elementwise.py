"""Elementwise ops: arithmetic, unary functions, where/maximum, casts and copies."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, _value, unbroadcast

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
