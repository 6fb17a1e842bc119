"""Reductions on Tensors: sum, mean, max, min, prod, cumsum, cumprod, var, std, average,
ptp, trace, diff, gradient, nansum, nanmean.

``prod``, ``cumsum`` and ``cumprod`` are ops (``cumprod`` a scan of products, so zeros in
the input are right); the others are built from recorded ops the way numpy computes them
(``var``: the mean of the squared deviations, two passes), so their derivatives at every
order come from those ops' rules.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ._util import _first_tensor, _is_tensor, _lift_like
from .shape import concatenate

_NO_VALUE = object()  # "not given", where numpy tells None apart from leaving an argument out


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.sum(axis=axis, keepdims=keepdims)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.mean(axis=axis, keepdims=keepdims)


def _max(a, axis=None, out=None, keepdims=False, **kw):
    return a.max(axis=axis, keepdims=keepdims)


def _min(a, axis=None, out=None, keepdims=False, **kw):
    return a.min(axis=axis, keepdims=keepdims)


def _check(name: str, out=None, **unsupported) -> None:
    """An error naming the numpy function for an argument the Tensor version does not take."""
    if out is not None:
        raise TypeError(f"numpy.{name} with out= is not supported on Tensors: use the returned Tensor")
    given = sorted(k for k, v in unsupported.items() if v is not None)
    if given:
        raise TypeError(f"numpy.{name} with {', '.join(given)}= is not supported on Tensors")


def _as_dtype(a, dtype):
    return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """numpy.prod: the product over ``axis``; right with zeros in the input (no division)."""
    _check("prod", out, where=where)
    result = ops.Prod.apply(_as_dtype(a, dtype), axis=axis, keepdims=keepdims)
    return result if initial is None else result * initial


def cumsum(a, axis=None, dtype=None, out=None):
    """numpy.cumsum: running sums along ``axis`` (None: of the flattened tensor)."""
    _check("cumsum", out)
    a = _as_dtype(a, dtype)
    if axis is None:
        a, axis = a.reshape(-1), 0
    return ops.Cumsum.apply(a, axis=axis)


def cumprod(a, axis=None, dtype=None, out=None):
    """numpy.cumprod: running products along ``axis`` (None: of the flattened tensor)."""
    _check("cumprod", out)
    a = _as_dtype(a, dtype)
    if axis is None:
        a, axis = a.reshape(-1), 0
    ops.core._normalize_axis(axis, a.ndim, "cumprod")
    return ops.cumulative_product(a, axis) if a.ndim else a * 1


def var(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None
):
    """numpy.var: the mean squared deviation from the mean, divided by n - ddof."""
    _check("var", out, where=where)
    a = _as_dtype(a, dtype)
    if correction is not None:
        ddof = correction
    axes = ops.core._normalize_axis(axis, a.ndim, "var")
    n = math.prod(a.shape[i] for i in axes)
    centre = a.mean(axis=axes, keepdims=True) if mean is None else mean
    dev = a - centre
    return (dev * dev).sum(axis=axes, keepdims=keepdims) / (n - ddof)


def std(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None
):
    """numpy.std: the square root of :func:`var` (its gradient is infinite where var is 0,
    except over one element: there the deviation is 0 whatever the input, so std is a
    constant 0 and every derivative of it is 0)."""
    _check("std", out, where=where)
    a = _as_dtype(a, dtype)
    axes = ops.core._normalize_axis(axis, a.ndim, "std")
    one = math.prod(a.shape[i] for i in axes) == 1 and (ddof if correction is None else correction) == 0
    if mean is None and one:  # |a - mean(a)|: exactly 0, slope 0
        return abs(a - a.mean(axis=axes, keepdims=True)).sum(axis=axes, keepdims=keepdims)
    return np.sqrt(var(a, axis, dtype, None, ddof, keepdims, mean=mean, correction=correction))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """numpy.average: the mean, or the weighted mean sum(a * w) / sum(w) (weights may be
    Tensors too); ``returned`` also gives the sum of the weights."""
    t = _first_tensor((a, weights))
    a = _lift_like(a, t)
    if weights is None:
        avg = a.mean(axis=axis, keepdims=keepdims)
        scl = np.asarray(a.size / max(avg.size, 1), dtype=avg.dtype)
    else:
        w = _lift_like(weights, t)
        if a.shape != w.shape:
            if axis is None:
                raise TypeError("numpy.average: axis must be given when the shapes of a and weights differ")
            if w.ndim != 1:
                raise TypeError("numpy.average: 1-D weights expected when the shapes of a and weights differ")
            if w.shape[0] != a.shape[axis]:
                raise ValueError("numpy.average: the length of weights does not match the axis")
            w = w.reshape([-1 if i == axis % a.ndim else 1 for i in range(a.ndim)])
        scl = np.broadcast_to(w, np.broadcast_shapes(w.shape, a.shape)).sum(axis=axis, keepdims=keepdims)
        if np.any(_value_of(scl) == 0):
            raise ZeroDivisionError("numpy.average: weights sum to zero, cannot be normalized")
        avg = (a * w).sum(axis=axis, keepdims=keepdims) / scl
    if not returned:
        return avg
    if scl.shape != avg.shape:
        scl = np.broadcast_to(scl, avg.shape) * 1
    return avg, scl


def _value_of(x):
    return x.data if _is_tensor(x) else np.asarray(x)


def ptp(a, axis=None, out=None, keepdims=False):
    """numpy.ptp: max - min over ``axis`` (the gradient goes to the max and the min)."""
    _check("ptp", out)
    return a.max(axis=axis, keepdims=keepdims) - a.min(axis=axis, keepdims=keepdims)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """numpy.trace: the sum of the diagonal ``offset`` of the planes (axis1, axis2)."""
    _check("trace", out)
    a = _as_dtype(a, dtype)
    if a.ndim < 2:
        raise ValueError(f"numpy.trace: needs a tensor of at least 2 dimensions, got shape {a.shape}")
    ax1, ax2 = (ops.core._normalize_axis(x, a.ndim, "trace")[0] for x in (axis1, axis2))
    if ax1 == ax2:
        raise ValueError("numpy.trace: axis1 and axis2 cannot be the same")
    rest = [i for i in range(a.ndim) if i not in (ax1, ax2)]
    plane = a.transpose(*rest, ax1, ax2)
    n1, n2 = plane.shape[-2:]
    rows = np.arange(max(0, -offset), max(min(n1, n2 - offset), 0))
    return plane[..., rows, rows + offset].sum(axis=-1)


def diff(a, n=1, axis=-1, prepend=_NO_VALUE, append=_NO_VALUE):
    """numpy.diff: the n-th differences along ``axis``, after joining ``prepend`` and
    ``append`` (numbers, arrays or Tensors) to its ends."""
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"numpy.diff: order must be non-negative but got {n!r}")
    t = _first_tensor((a, prepend, append))
    a = _lift_like(a, t)
    if a.ndim == 0:
        raise ValueError("numpy.diff: requires input that is at least one dimensional")
    axis = ops.core._normalize_axis(axis, a.ndim, "diff")[0]
    parts = []
    for what, end in (("prepend", prepend), ("a", a), ("append", append)):
        if end is _NO_VALUE:
            continue
        end = _lift_like(end, t)
        if end.ndim == 0:
            end = np.broadcast_to(end, a.shape[:axis] + (1,) + a.shape[axis + 1 :])
        if end.ndim != a.ndim or any(m != k for i, (m, k) in enumerate(zip(end.shape, a.shape)) if i != axis):
            raise ValueError(
                f"numpy.diff: {what} of shape {end.shape} cannot be joined to a of shape {a.shape} "
                f"along axis {axis}"
            )
        parts.append(end)
    if len(parts) > 1:
        a = concatenate(parts, axis)
    lo = [slice(None)] * a.ndim
    hi = [slice(None)] * a.ndim
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    for _ in range(n):
        a = a[tuple(hi)] - a[tuple(lo)]
    return a


def gradient(f, *varargs, axis=None, edge_order=1):
    """numpy.gradient with unit spacing (or one number per axis): central differences
    (f[i+1] - f[i-1]) / 2 inside, one-sided differences at the two ends (edge_order=1);
    a tuple of Tensors for several axes, as numpy."""
    if edge_order != 1:
        raise TypeError("numpy.gradient with edge_order=2 is not supported on Tensors: use edge_order=1")
    axes = ops.core._normalize_axis(axis, f.ndim, "gradient") if axis is not None else tuple(range(f.ndim))
    if axis is not None and not isinstance(axis, (int, np.integer)):
        axes = tuple(int(a) % f.ndim for a in axis)  # numpy keeps the order given
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        varargs = varargs * len(axes)
    if varargs and (len(varargs) != len(axes) or any(np.ndim(h) != 0 for h in varargs)):
        raise TypeError(
            "numpy.gradient on Tensors takes one number of spacing per axis (no coordinate arrays)"
        )
    out = []
    for k, ax in enumerate(axes):
        if f.shape[ax] < 2:
            raise ValueError(
                "numpy.gradient: shape of the array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required"
            )

        def part(lo, hi, _ax=ax):
            index = [slice(None)] * f.ndim
            index[_ax] = slice(lo, hi)
            return f[tuple(index)]

        ends = [part(1, 2) - part(0, 1)]
        if f.shape[ax] > 2:
            ends.append((part(2, None) - part(None, -2)) / 2)
        ends.append(part(-1, None) - part(-2, -1))
        g = concatenate(ends, ax)
        out.append(g / varargs[k] if varargs else g)
    return out[0] if len(out) == 1 else tuple(out)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    """numpy.nansum: the sum with NaNs counted as 0 (they get gradient 0)."""
    _check("nansum", out, **kw)
    a = _as_dtype(a, dtype)
    return ops.Where.apply(a, 0.0, cond=~np.isnan(a.data)).sum(axis=axis, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    """numpy.nanmean: the mean of the values that are not NaN (NaN where all are)."""
    _check("nanmean", out, **kw)
    a = _as_dtype(a, dtype)
    count = (~np.isnan(a.data)).sum(axis=axis, keepdims=keepdims).astype(a.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return nansum(a, axis=axis, keepdims=keepdims) / count


FUNCTIONS = {
    np.sum: _sum,
    np.mean: _mean,
    np.max: _max,
    np.amax: _max,
    np.min: _min,
    np.amin: _min,
    np.prod: prod,
    np.cumsum: cumsum,
    np.cumprod: cumprod,
    np.var: var,
    np.std: std,
    np.average: average,
    np.ptp: ptp,
    np.trace: trace,
    np.diff: diff,
    np.gradient: gradient,
    np.nansum: nansum,
    np.nanmean: nanmean,
}
