"""Piecewise constant functions (floor, ceil, round, trunc, sign, floor_divide): recorded ops
whose derivative is 0, at every order, so ``x * np.floor(x)`` differentiates as PyTorch and
JAX do (the jumps count as 0 too)."""

from __future__ import annotations

import numpy as np

from .core import Function, _value
from .elementwise import _Binary


class _Steps(Function):
    """A piecewise constant function (floor, ceil, round, trunc, sign, floor_divide):
    recorded, with derivative 0 (where it jumps, 0 as well, as PyTorch and JAX)."""

    def vjp(self, g, out, *inputs):
        # d(step a)/da = 0
        return tuple(
            np.zeros_like(_value(x)) if need else None for x, need in zip(inputs, self.needs_input_grad)
        )

    def jvp(self, t, out, *inputs):
        # d(step a) = 0
        return np.zeros_like(_value(out))


class Floor(_Steps):
    """The largest integer <= a."""

    name = "floor"

    def forward(self, a):
        return np.floor(a)


class Ceil(_Steps):
    """The smallest integer >= a."""

    name = "ceil"

    def forward(self, a):
        return np.ceil(a)


class Trunc(_Steps):
    """a rounded towards zero (numpy's trunc and fix)."""

    name = "trunc"

    def forward(self, a):
        return np.trunc(a)


class Round(_Steps):
    """a rounded to ``decimals`` places, halves to even (numpy's round, around and rint)."""

    name = "round"

    def forward(self, a, decimals=0):
        return np.round(a, decimals)


class Sign(_Steps):
    """-1, 0 or 1 by the sign of a (NaN for NaN)."""

    name = "sign"

    def forward(self, a):
        return np.sign(a)


class FloorDivide(_Steps, _Binary):
    """floor(a / b), broadcasting (``a // b``)."""

    name = "floor_divide"

    def forward(self, a, b):
        return np.floor_divide(a, b)
