"""Reductions: sums and maxima over axes."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _keepdims_shape, _normalize_axis, _value

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
