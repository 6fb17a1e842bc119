"""Reductions on Tensors: sum, mean, max, min."""

from __future__ import annotations

import numpy as np


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.sum(axis=axis, keepdims=keepdims)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.mean(axis=axis, keepdims=keepdims)


def _max(a, axis=None, out=None, keepdims=False, **kw):
    return a.max(axis=axis, keepdims=keepdims)


def _min(a, axis=None, out=None, keepdims=False, **kw):
    return a.min(axis=axis, keepdims=keepdims)


FUNCTIONS = {
    np.sum: _sum,
    np.mean: _mean,
    np.max: _max,
    np.amax: _max,
    np.min: _min,
    np.amin: _min,
}
