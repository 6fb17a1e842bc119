"""Shape functions on Tensors: reshape, transpose, stack, broadcast_to ..."""

from __future__ import annotations

import numpy as np

from ._util import _first_tensor, _lift_like


def _transpose(a, axes=None):
    return a.transpose(*axes) if axes is not None else a.T


def _reshape(a, shape=None, order="C", **kw):
    if order != "C":
        raise TypeError("numpy.reshape of a Tensor supports order='C' only")
    return a.reshape(kw.get("newshape", shape))


def _broadcast_to(a, shape, subok=False):
    from ..ops import BroadcastTo

    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return BroadcastTo.apply(a, shape=shape)


def _stack(arrays, axis=0, **kw):
    from ..ops import Stack

    t = _first_tensor(arrays)
    out = Stack.apply(*[_lift_like(x, t) for x in arrays])
    return out if axis == 0 else np.moveaxis(out, 0, axis)


def _moveaxis(a, source, destination):
    """np.moveaxis as a transpose: the permutation that puts ``source`` axes at ``destination``."""
    src = [int(x) % a.ndim for x in np.atleast_1d(source)]
    dst = [int(x) % a.ndim for x in np.atleast_1d(destination)]
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return a.transpose(*order)


def _zeros_like(a, dtype=None, **kw):
    return np.zeros(a.shape, dtype=dtype or a.dtype)


def _ones_like(a, dtype=None, **kw):
    return np.ones(a.shape, dtype=dtype or a.dtype)


FUNCTIONS = {
    np.transpose: _transpose,
    np.reshape: _reshape,
    np.swapaxes: lambda a, axis1, axis2: a.swapaxes(axis1, axis2),
    np.broadcast_to: _broadcast_to,
    np.copy: lambda a, **kw: a.copy(),
    np.stack: _stack,
    np.moveaxis: _moveaxis,
    np.ravel: lambda a, order="C": a.reshape(-1),
    np.zeros_like: _zeros_like,
    np.ones_like: _ones_like,
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
}
