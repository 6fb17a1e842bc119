"""Elementwise ops: arithmetic, exp and log families, sigmoid, where/maximum, binary functions
(logaddexp, remainder, fmax), casts and copies. (Piecewise constant ones: ``steps``;
trigonometric ones: ``trig``.)"""

from __future__ import annotations

import math

import numpy as np

from .._fpe import STATE as _STATE
from .._fpe import raising as _raising
from .._fpe import trapped
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
    """a ** b, both tensors, broadcasting. (A constant exponent is :class:`PowConst`.)

    Where a == 0 the rules use a safe stand-in (1) for a inside the powers and logs, so
    no 0 * inf appears in a value or in any derivative of it: the exact zeros stay
    exact at every order (d(0**b)/db = 0, as PyTorch; d(a**0)/da = 0)."""

    name = "pow"

    def forward(self, a, b):
        return a**b

    def _parts(self, a, b, out, need_a=True, need_b=True, still_a=None):
        """(b * a**(b-1), a**b * log(a)): the two partial derivatives (None where not needed),
        from a stand-in a = 1 where a == 0 and b == 0 (the first) or a == 0 (the second).
        ``still_a`` (forward mode): where a's tangent is 0, the first partial uses the
        stand-in too, so no infinite partial is multiplied by that zero tangent (its own
        derivative along b, 0 * inf, would be NaN: d/db of 0 * 0**(b-1) for a constant base 0)."""
        zero = _value(a) == 0
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):  # a negative base gives NaN, as numpy
            if not zero.any():
                da = b * a ** (b - 1) if need_a else None
                db = out * np.log(a) if need_b else None
                return da, db
            if need_a:  # b * 0**(b-1) is right for b != 0 (inf for 0 < b < 1); b == 0 gives 0 * 1
                stand_in = zero & (_value(b) == 0)
                if still_a is not None:
                    stand_in = stand_in | (zero & still_a)
                da = b * np.where(stand_in, 1, a) ** (b - 1)
            if need_b:
                db = np.where(zero, 0, out * np.log(np.where(zero, 1, a)))
        return da, db

    def vjp(self, g, out, a, b):
        # d(a**b)/da = g * b * a**(b-1), d(a**b)/db = g * a**b * log(a)   (0 at the zeros above)
        need_a, need_b = self.needs_input_grad
        da, db = self._parts(a, b, out, need_a, need_b)
        return (
            unbroadcast(g * da, a.shape) if need_a else None,
            unbroadcast(g * db, b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(a**b) = b * a**(b-1) * da + a**b * log(a) * db
        da, db = self._parts(a, b, out, still_a=_value(t[0]) == 0)
        return t[0] * _finite_where_still(t[0], da) + t[1] * _finite_where_still(t[1], db)


def _finite_where_still(tangent, partial):
    """``partial`` with 0 where it is infinite and ``tangent`` is 0: a zero tangent times an
    infinite partial derivative (the jvp of 0**y along y meets d(0**y)/d0 = inf) is 0, not NaN.
    Finite partials are left alone, so the term's own derivatives are untouched."""
    bad = (_value(tangent) == 0) & ~np.isfinite(_value(partial))
    return np.where(bad, 0, partial) if bad.any() else partial


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
        if p == 0:  # exactly 0, even for an infinite da
            return np.zeros_like(_value(t[0]))
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


class Sigmoid(Function):
    """sigma(a) = 1 / (1 + exp(-a)), accurate for every a.

    While exp(-a) does not overflow, 1 / (1 + exp(-a)) is exact. Where it would (float32
    a < -88.7, float64 a < -709.8) it is computed from e = exp(-|a|), which never
    overflows: sigma(a) = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0, so a tiny
    sigmoid keeps its relative precision (float32 sigmoid(-100) is 3.8e-44, not 0) and
    log(sigmoid(a)) stays finite. The test is the overflow itself, trapped on the one exp
    call (:mod:`tinygrad_mlp._fpe`): no pass over ``a`` to look for large values.
    """

    name = "sigmoid"
    exp_neg = None  # exp(-a), kept by the fast forward for the slope

    def forward(self, a):
        if a.dtype.kind == "f":
            # fast path, in four passes (made with out= for a 0-d input, whose negative would
            # otherwise be a numpy scalar, not writable). exp(-a) is kept for the slope:
            # e * sigma(a)**2 = e / (1 + e)**2, exact for every a, in two passes, with no
            # test of where sigma(a) nears 1 (the first-order hot path)
            e = np.negative(a) if a.ndim else np.negative(a, out=np.empty_like(a))
            if _exp_clean(e):  # no exp(-a) overflowed
                out = e + 1 if a.ndim else np.add(e, 1, out=np.empty_like(e))  # (empty_like: a Python call)
                self.exp_neg = e
                return np.reciprocal(out, out=out)
        e = np.abs(a, out=np.empty_like(a))
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|a|), in (0, 1]
        out = np.add(e, 1, out=np.empty_like(e))
        np.copyto(e, 1, where=_value(a) >= 0)  # the numerator, where(a < 0, e, 1), in place
        np.divide(e, out, out=out)
        return out

    def vjp(self, g, out, a):
        # d(sigma a)/da = g * sigma(a) * (1 - sigma(a)) = g * e * sigma(a)**2, e = exp(-a)
        # (exact where sigma(a) rounds to 1 too; at a = -inf, e * sigma = inf * 0 is the one
        # invalid product: trapped, and the slope there is taken from _sigmoid_slope)
        e = self.exp_neg
        slope = None
        if (
            e is not None
            and (type(out) is np.ndarray or getattr(out, "_traced", False))
            and e.shape == out.shape
        ):
            slope = _times_clean(e, out)
            if slope is not None:
                slope *= out
        if slope is None:
            slope = _sigmoid_slope(a, out)
        slope *= g  # in place on arrays; on Tensors this rebinds to a new one
        return (slope,)

    def jvp(self, t, out, a):
        # d(sigma a) = sigma(a) * (1 - sigma(a)) * da
        return t[0] * _sigmoid_slope(a, out)


def _exp_clean(e) -> bool:
    """exp(e) in place, with overflow trapped: False where one overflowed (tinygrad_mlp._fpe;
    written out for plain arrays, the first-order hot path: 0.3 us, the helper's calls 1 us)."""
    if type(e) is np.ndarray and _STATE is not None:
        token = _STATE.set(_raising("over"))
        try:
            np.exp(e, out=e)
        except FloatingPointError:
            return False
        finally:
            _STATE.reset(token)
        return True
    return trapped("over", np.exp, e, out=e) is not None


def _times_clean(e, out):
    """e * out with the invalid operation trapped (inf * 0): None where it happened."""
    if type(e) is np.ndarray and type(out) is np.ndarray and _STATE is not None:
        token = _STATE.set(_raising("invalid"))
        try:
            return e * out
        except FloatingPointError:
            return None
        finally:
            _STATE.reset(token)
    return trapped("invalid", np.multiply, e, out)


_max = np.maximum.reduce  # a.max() without its Python wrapper
_NEAR_ONE = 0.875  # below it, 1 - sigma(a) loses at most 3 bits; above it the exact form is used


def _sigmoid_slope(a, out):
    """sigma'(a) = sigma(a) * sigma(-a) = e / (1 + e)**2 with e = exp(-|a|), exact for every a.

    sigma(a) * (1 - sigma(a)) is exact while sigma(a) <= 1/2 and loses precision as sigma
    nears 1 (1 - sigma(a) rounds to 0 once sigma(a) rounds to 1: float32 a > 17). For a > 0
    the slope is also e * sigma(a)**2 (e = exp(-a)), which is e / (1 + e)**2, exact.
    On arrays (the first-order hot path) the cheap form, unless one max finds a sigma(a) > 7/8:
    then the exact form everywhere, with the cheap one written over it where sigma(a) <= 7/8."""
    if type(out) is np.ndarray or getattr(out, "_traced", False):  # arrays (also as jit records them)
        if out.ndim and out.size and _max(out, None) > _NEAR_ONE:
            # e * sigma**2 with e = exp(-|a|) (= exp(-a) where it is used: a > 0 there; never
            # overflows), then the cheap form written over it where sigma <= 7/8: one new
            # array and a mask, not three arrays
            slope = np.abs(a)
            np.negative(slope, out=slope)
            np.exp(slope, out=slope)
            slope *= out
            slope *= out
            cheap = out <= _NEAR_ONE
            np.subtract(1, out, out=slope, where=cheap)
            np.multiply(slope, out, out=slope, where=cheap)
            return slope
        slope = 1 - out
        if not out.ndim:  # numpy gives a scalar for a 0-d result: make it an array to write into
            slope = np.asarray(slope)
            if out > _NEAR_ONE:  # (a 0-d sigma near 1: the exact form)
                slope = np.asarray(np.exp(-np.abs(a)) * out * out)
                return slope
        slope *= out
        return slope
    # on Tensors (higher orders): two analytic forms of sigma', selected; both finite everywhere
    e = np.exp(-np.abs(a))
    return np.where(_value(a) > 0, e * out * out, out * (1 - out))


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
    """np.maximum(a, b), broadcasting; a tie sends half the gradient to each side (as PyTorch).

    A NaN wins, as in numpy's value: the gradient goes to the NaN operand (half each when
    both are NaN), so a NaN upstream gradient reaches the NaN's source instead of vanishing."""

    name = "maximum"
    nan_wins = True  # False for fmax, which returns the other operand

    def forward(self, a, b):
        return np.maximum(a, b)

    def _weights(self, a, b):
        """The share of the gradient that goes to a (the rest goes to b): a constant."""
        a, b = _value(a), _value(b)
        w = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if nan_a.any() or nan_b.any():
            win = 1.0 if self.nan_wins else 0.0
            w = np.where(nan_a, np.where(nan_b, 0.5, win), np.where(nan_b, 1.0 - win, w))
        return w.astype(np.result_type(a, b))

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
        # d(cast a)/da = g cast back to a's dtype
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
        # d(copy a)/da = g
        return (g,)

    def jvp(self, t, out, a):
        # d copy(a) = da
        return t[0]


# ---------------------------------------------------------------- unary functions (numpy's ufuncs)


class _Unary(Function):
    """An elementwise f(a) whose derivative f'(a) is written once, in ``slope(a, out)``
    (Tensor-friendly, so it records for higher orders): vjp is g * f'(a), jvp is f'(a) * da."""

    def slope(self, a, out):
        """f'(a), from the input and the output."""
        raise NotImplementedError

    def vjp(self, g, out, a):
        # d(f a)/da = g * f'(a), with f' the op's slope
        return (g * self.slope(a, out),)

    def jvp(self, t, out, a):
        # d(f a) = f'(a) * da
        return t[0] * self.slope(a, out)


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


class Log1p(_Unary):
    """log(1 + a), exact for tiny a."""

    name = "log1p"

    def forward(self, a):
        return np.log1p(a)

    def slope(self, a, out):
        # d(log1p a)/da = 1 / (1 + a)
        return 1 / (1 + a)


class Expm1(_Unary):
    """exp(a) - 1, exact for tiny a."""

    name = "expm1"

    def forward(self, a):
        return np.expm1(a)

    def slope(self, a, out):
        # d(expm1 a)/da = exp(a)   (not out + 1, which is 0 where exp(a) is below rounding)
        return np.exp(a)


class Log2(_Unary):
    """Base-2 log."""

    name = "log2"

    def forward(self, a):
        return np.log2(a)

    def slope(self, a, out):
        # d(log2 a)/da = 1 / (a ln 2)
        return 1 / (a * _LN2)


class Log10(_Unary):
    """Base-10 log."""

    name = "log10"

    def forward(self, a):
        return np.log10(a)

    def slope(self, a, out):
        # d(log10 a)/da = 1 / (a ln 10)
        return 1 / (a * _LN10)


class Exp2(_Unary):
    """2 ** a."""

    name = "exp2"

    def forward(self, a):
        return np.exp2(a)

    def slope(self, a, out):
        # d(exp2 a)/da = 2**a ln 2
        return out * _LN2


class Cbrt(_Unary):
    """The real cube root (negative for negative a)."""

    name = "cbrt"

    def forward(self, a):
        return np.cbrt(a)

    def slope(self, a, out):
        # d(cbrt a)/da = 1 / (3 cbrt(a)**2)   (inf at 0, as the function is vertical there)
        return 1 / (3 * (out * out))


class Reciprocal(_Unary):
    """1 / a."""

    name = "reciprocal"

    def forward(self, a):
        return np.reciprocal(a)

    def slope(self, a, out):
        # d(1/a)/da = -1/a**2
        return -(out * out)


class LogSigmoid(_Unary):
    """log(sigma(a)) = -log(1 + exp(-a)), stable for every a: min(a, 0) - log1p(exp(-|a|)).

    Its slope is sigma(-a) = -expm1(out): 1 for very negative a (where log(sigmoid(a))
    would be log(0) in float32 below -88, with an infinite gradient), e^a-small for large a."""

    name = "log_sigmoid"

    def forward(self, a):
        return np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a)))

    def slope(self, a, out):
        # d(log sigma(a))/da = sigma(-a) = 1 - exp(log sigma(a)) = -expm1(out)
        return -np.expm1(out)


# ---------------------------------------------------------------- binary functions (numpy's ufuncs)


class LogAddExp(_Binary):
    """log(exp(a) + exp(b)) without overflow (numpy's logaddexp)."""

    name = "logaddexp"
    exp = staticmethod(np.exp)

    def forward(self, a, b):
        return np.logaddexp(a, b)

    def vjp(self, g, out, a, b):
        # d(logaddexp(a, b))/da = g * exp(a - out) (the softmax weight of a: <= 1, never overflows)
        need_a, need_b = self.needs_input_grad
        return (
            unbroadcast(g * self.exp(a - out), a.shape) if need_a else None,
            unbroadcast(g * self.exp(b - out), b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(logaddexp(a, b)) = exp(a - out) da + exp(b - out) db
        return t[0] * self.exp(a - out) + t[1] * self.exp(b - out)


class LogAddExp2(LogAddExp):
    """log2(2**a + 2**b) without overflow (numpy's logaddexp2)."""

    name = "logaddexp2"
    exp = staticmethod(np.exp2)  # d/da = 2**(a - out)

    def forward(self, a, b):
        return np.logaddexp2(a, b)


class Remainder(_Binary):
    """a mod b with the sign of b (numpy's remainder, Python's %): a - floor(a/b) * b."""

    name = "remainder"

    def forward(self, a, b):
        return np.remainder(a, b)

    def _quotient(self, a, b, out):
        # the integer q with a = q b + out (constant: the function is a - q b between its jumps)
        a, b, out = _value(a), _value(b), _value(out)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.round((a - out) / b)

    def vjp(self, g, out, a, b):
        # d(a mod b)/da = g, d(a mod b)/db = -g * q
        need_a, need_b = self.needs_input_grad
        return (
            unbroadcast(g, a.shape) if need_a else None,
            unbroadcast(-g * self._quotient(a, b, out), b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(a mod b) = da - q db
        return t[0] - t[1] * self._quotient(a, b, out)


class Fmod(Remainder):
    """a mod b with the sign of a (C's fmod): a - trunc(a/b) * b."""

    name = "fmod"

    def forward(self, a, b):
        return np.fmod(a, b)


class Fmax(Maximum):
    """np.fmax(a, b): the max, ignoring a NaN (the other operand is the result and takes the
    gradient); ties split as in maximum."""

    name = "fmax"
    nan_wins = False

    def forward(self, a, b):
        return np.fmax(a, b)
