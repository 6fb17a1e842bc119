"""Reductions: sums, maxima, products over axes, and the scans (cumsum, cumprod) behind them."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, _keepdims_shape, _normalize_axis, _value

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
    """Max over axes; the gradient is split equally among tied maxima. A NaN is the max of
    its row (as in numpy and PyTorch): the gradient goes to the NaNs."""

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
        top = _value(out).reshape(_keepdims_shape(a.shape, self.axes))
        mask = a == top
        if np.isnan(top).any():  # a NaN is the max of its row (numpy's value): it takes the gradient
            mask |= np.isnan(a) & np.isnan(top)
        return (mask / mask.sum(axis=self.axes, keepdims=True)).astype(a.dtype)

    def vjp(self, g, out, a):
        # d(max a)/da = g at the maxima, split equally among tied maxima; 0 elsewhere
        w = self._weights(out, a)
        g = g.reshape(_keepdims_shape(a.shape, self.axes))
        return (np.where(w > 0, g * w, 0),)

    def jvp(self, t, out, a):
        # d(max a) = mean of da over the tied maxima
        return (t[0] * self._weights(out, a)).sum(axis=self.axes, keepdims=self.keepdims)


class Prod(Function):
    """Product over axes (None: all). Its gradient is the product of the other elements,
    computed without dividing by the input, so it is right with zeros in the input (one
    zero: only the zero's gradient is nonzero; two or more: all are 0), at every order."""

    name = "prod"

    def forward(self, a, axis=None, keepdims=False):
        self.axes = _normalize_axis(axis, a.ndim, self.name)
        self.keepdims = keepdims
        return a.prod(axis=self.axes, keepdims=keepdims)

    def vjp(self, g, out, a):
        # d(prod a)/da_i = g * prod_{j != i} a_j
        g = g.reshape(_keepdims_shape(a.shape, self.axes))
        return (g * _others_product(a, self.axes),)

    def jvp(self, t, out, a):
        # d(prod a) = sum_i (prod_{j != i} a_j) da_i
        return (t[0] * _others_product(a, self.axes)).sum(axis=self.axes, keepdims=self.keepdims)


def _others_product(a, axes: tuple[int, ...]):
    """For each element, the product of the other elements over ``axes`` (Tensor-friendly):
    the exclusive prefix product times the exclusive suffix product, both by scans of
    multiplications, so no division and no 0 * inf."""
    if not axes:
        return a * 0 + 1
    if len(axes) == 1:
        return _exclusive_scan(a, axes[0]) * _exclusive_scan(a, axes[0], reverse=True)
    # several axes: move them to the end as one axis, and back afterwards
    kept = [i for i in range(a.ndim) if i not in axes]
    perm = kept + list(axes)
    moved = a.transpose(*perm)
    flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
    others = _others_product(flat, (len(kept),)).reshape(moved.shape)
    return others.transpose(*np.argsort(perm))


def cumulative_product(a, axis: int):
    """np.cumprod along one axis, by a scan of ``log2(n)`` multiplications of shifted copies
    (Hillis and Steele), each a recorded op: its derivatives at every order are those of
    products, so zeros in the input are right (no division)."""
    return _scan(a, axis % max(a.ndim, 1), reverse=False)


def _scan(a, axis: int, reverse: bool):
    """Inclusive prefix (or, reversed, suffix) products along ``axis``."""
    n = a.shape[axis]
    d = 1
    while d < n:
        a = a * (_call(Shift, a, shift=-d if reverse else d, axis=axis) + _edge(a, d, axis, reverse))
        d *= 2
    return a


def _exclusive_scan(a, axis: int, reverse: bool = False):
    """Exclusive prefix (suffix) products: the product of the elements before (after) each."""
    inclusive = _scan(a, axis, reverse)
    return _call(Shift, inclusive, shift=-1 if reverse else 1, axis=axis) + _edge(a, 1, axis, reverse)


def _edge(a, d: int, axis: int, reverse: bool) -> np.ndarray:
    """Ones at the first (last) ``d`` places along ``axis``, zeros elsewhere: what a shift
    by ``d`` leaves empty, filled with the product's identity."""
    n = a.shape[axis]
    line = np.zeros(n, dtype=_value(a).dtype)
    if reverse:
        line[n - d :] = 1
    else:
        line[:d] = 1
    return line.reshape([n if i == axis else 1 for i in range(a.ndim)])


class Shift(Function):
    """The values moved ``shift`` places along ``axis`` (forward if positive), zeros coming in
    and values falling off the end: a linear op, the building block of the scans."""

    name = "shift"

    def forward(self, a, shift=1, axis=-1):
        self.shift, self.axis = shift, axis
        out = np.zeros_like(a)
        n = a.shape[axis]
        src = [slice(None)] * a.ndim
        dst = [slice(None)] * a.ndim
        if shift >= 0:
            src[axis], dst[axis] = slice(0, max(n - shift, 0)), slice(min(shift, n), n)
        else:
            src[axis], dst[axis] = slice(min(-shift, n), n), slice(0, max(n + shift, 0))
        out[tuple(dst)] = a[tuple(src)]
        return out

    def vjp(self, g, out, a):
        # d(shift(a, s))/da = g shifted by -s (the transpose of a shift)
        return (_call(Shift, g, shift=-self.shift, axis=self.axis),)

    def jvp(self, t, out, a):
        # d(shift(a, s)) = shift(da, s)
        return _call(Shift, t[0], shift=self.shift, axis=self.axis)


class Cumsum(Function):
    """Cumulative sum along ``axis`` (``reverse``: from the end, which is its transpose)."""

    name = "cumsum"

    def forward(self, a, axis=0, reverse=False):
        self.axis = _normalize_axis(axis, a.ndim, self.name)[0] if a.ndim else 0
        self.reverse = reverse
        if not a.ndim:
            return a.copy()
        if reverse:
            flip = [slice(None)] * a.ndim
            flip[self.axis] = slice(None, None, -1)
            flip = tuple(flip)
            return np.cumsum(a[flip], axis=self.axis)[flip]
        return np.cumsum(a, axis=self.axis)

    def vjp(self, g, out, a):
        # d(cumsum a)/da = g summed from the end: the reverse cumulative sum of g
        return (_call(Cumsum, g, axis=self.axis, reverse=not self.reverse),)

    def jvp(self, t, out, a):
        # d(cumsum a) = cumsum(da)
        return _call(Cumsum, t[0], axis=self.axis, reverse=self.reverse)
