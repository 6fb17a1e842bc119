"""Trigonometric and hyperbolic functions and their inverses, sinc, arctan2 and hypot.

Each unary op writes its derivative once, in ``slope`` (see :class:`~.elementwise._Unary`),
with numpy calls that record on Tensors, so every order comes from the same line.
The slopes use stable forms: (1 - a)(1 + a) rather than 1 - a**2 (no cancellation near
|a| = 1), hypot rather than a square root of squares (no overflow).
"""

from __future__ import annotations

import math

import numpy as np

from .core import _call, _value, unbroadcast
from .elementwise import _Binary, _Unary


class Sin(_Unary):
    """sin(a)."""

    name = "sin"

    def forward(self, a):
        return np.sin(a)

    def slope(self, a, out):
        # d(sin a)/da = cos(a)
        return np.cos(a)


class Cos(_Unary):
    """cos(a)."""

    name = "cos"

    def forward(self, a):
        return np.cos(a)

    def slope(self, a, out):
        # d(cos a)/da = -sin(a)
        return -np.sin(a)


class Tan(_Unary):
    """tan(a)."""

    name = "tan"

    def forward(self, a):
        return np.tan(a)

    def slope(self, a, out):
        # d(tan a)/da = 1 / cos(a)**2 = 1 + tan(a)**2
        return 1 + out * out


class Arcsin(_Unary):
    """The inverse of sin, on [-1, 1]."""

    name = "arcsin"

    def forward(self, a):
        return np.arcsin(a)

    def slope(self, a, out):
        # d(arcsin a)/da = 1 / sqrt(1 - a**2) = 1 / sqrt((1 - a)(1 + a))
        return 1 / np.sqrt((1 - a) * (1 + a))


class Arccos(_Unary):
    """The inverse of cos, on [-1, 1]."""

    name = "arccos"

    def forward(self, a):
        return np.arccos(a)

    def slope(self, a, out):
        # d(arccos a)/da = -1 / sqrt((1 - a)(1 + a))
        return -1 / np.sqrt((1 - a) * (1 + a))


class Arctan(_Unary):
    """The inverse of tan."""

    name = "arctan"

    def forward(self, a):
        return np.arctan(a)

    def slope(self, a, out):
        # d(arctan a)/da = 1 / (1 + a**2)   (a**2 = inf for huge a gives the limit, 0)
        return 1 / (1 + a * a)


class Sinh(_Unary):
    """sinh(a)."""

    name = "sinh"

    def forward(self, a):
        return np.sinh(a)

    def slope(self, a, out):
        # d(sinh a)/da = cosh(a)
        return np.cosh(a)


class Cosh(_Unary):
    """cosh(a)."""

    name = "cosh"

    def forward(self, a):
        return np.cosh(a)

    def slope(self, a, out):
        # d(cosh a)/da = sinh(a)
        return np.sinh(a)


class Arcsinh(_Unary):
    """The inverse of sinh."""

    name = "arcsinh"

    def forward(self, a):
        return np.arcsinh(a)

    def slope(self, a, out):
        # d(arcsinh a)/da = 1 / sqrt(a**2 + 1) = 1 / hypot(a, 1)   (no overflow for huge a)
        return 1 / np.hypot(a, 1.0)


class Arccosh(_Unary):
    """The inverse of cosh, on [1, inf)."""

    name = "arccosh"

    def forward(self, a):
        return np.arccosh(a)

    def slope(self, a, out):
        # d(arccosh a)/da = 1 / sqrt(a**2 - 1) = 1 / (sqrt(a - 1) sqrt(a + 1))
        return 1 / (np.sqrt(a - 1) * np.sqrt(a + 1))


class Arctanh(_Unary):
    """The inverse of tanh, on (-1, 1)."""

    name = "arctanh"

    def forward(self, a):
        return np.arctanh(a)

    def slope(self, a, out):
        # d(arctanh a)/da = 1 / (1 - a**2) = 1 / ((1 - a)(1 + a))
        return 1 / ((1 - a) * (1 + a))


class Sinc(_Unary):
    """sinc(a) = sin(pi a) / (pi a) (1 at 0), numpy's normalised sinc; with ``k`` > 0, its
    k-th derivative, which is what the derivative rules of sinc record: the k-th rule
    is the op with k + 1, so every order is exact, at 0 too (where sin(y)/y cancels)."""

    name = "sinc"

    def forward(self, a, k=0):
        self.k = k
        if k:
            self.name = f"sinc_d{k}"
        return np.sinc(a) if k == 0 else _sinc_derivative(a, k)

    def slope(self, a, out):
        # d(sinc^(k) a)/da = sinc^(k+1)(a)
        return _call(Sinc, a, k=self.k + 1)


_SERIES_TERMS = 24


def _sinc_derivative(x: np.ndarray, k: int) -> np.ndarray:
    """d^k/dx^k sinc(x) = pi**k h^(k)(pi x), with h(y) = sin(y) / y.

    For |y| < 2, h's Taylor series: h^(k)(y) = sum over 2n >= k of
    (-1)**n y**(2n-k) / ((2n+1) (2n-k)!), which has no cancellation there. Elsewhere,
    Leibniz's rule on sin(y) * (1/y): h^(k)(y) = sum_j C(k, j) sin(y + j pi/2)
    (-1)**(k-j) (k-j)! / y**(k-j+1)."""
    y = math.pi * x
    small = np.abs(y) < 2
    ys = np.where(small, y, 0).astype(x.dtype)
    series = np.zeros_like(ys)
    for n in range((k + 1) // 2, (k + 1) // 2 + _SERIES_TERMS):
        m = 2 * n - k
        series += ((-1) ** n / ((2 * n + 1) * math.factorial(m))) * ys**m
    yl = np.where(small, 2, y).astype(x.dtype)
    leibniz = np.zeros_like(yl)
    for j in range(k + 1):
        coef = math.comb(k, j) * (-1) ** (k - j) * math.factorial(k - j)
        leibniz += coef * np.sin(yl + j * math.pi / 2) / yl ** (k - j + 1)
    return math.pi**k * np.where(small, series, leibniz)


class Arctan2(_Binary):
    """The angle of the point (b, a): arctan2(a, b) = atan(a / b) in the right quadrant."""

    name = "arctan2"

    def forward(self, a, b):
        return np.arctan2(a, b)

    def _parts(self, a, b):
        # with r = hypot(a, b), never a square that overflows: b / r**2 and -a / r**2
        r = np.hypot(a, b)
        return b / r / r, -a / r / r

    def vjp(self, g, out, a, b):
        # d(arctan2(a, b))/da = g * b / (a**2 + b**2), d/db = -g * a / (a**2 + b**2)
        need_a, need_b = self.needs_input_grad
        da, db = self._parts(a, b)
        return (
            unbroadcast(g * da, a.shape) if need_a else None,
            unbroadcast(g * db, b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(arctan2(a, b)) = (b da - a db) / (a**2 + b**2)
        da, db = self._parts(a, b)
        return t[0] * da + t[1] * db


class Hypot(_Binary):
    """sqrt(a**2 + b**2) without overflow (numpy's hypot scales); 0 gradient at (0, 0), as |a|."""

    name = "hypot"

    def forward(self, a, b):
        return np.hypot(a, b)

    def _parts(self, a, b, out):
        # a / r and b / r, with a stand-in r = 1 at r == 0 (where a = b = 0: both 0, finite)
        r = np.where(_value(out) == 0, 1, out)
        return a / r, b / r

    def vjp(self, g, out, a, b):
        # d(hypot(a, b))/da = g * a / hypot(a, b), d/db = g * b / hypot(a, b)
        need_a, need_b = self.needs_input_grad
        da, db = self._parts(a, b, out)
        return (
            unbroadcast(g * da, a.shape) if need_a else None,
            unbroadcast(g * db, b.shape) if need_b else None,
        )

    def jvp(self, t, out, a, b):
        # d(hypot(a, b)) = (a da + b db) / hypot(a, b)
        da, db = self._parts(a, b, out)
        return t[0] * da + t[1] * db
