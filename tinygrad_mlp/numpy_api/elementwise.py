"""Elementwise numpy on Tensors: ufuncs (arithmetic, exp, log ...), clip, where."""

from __future__ import annotations

import numpy as np

from ._util import _first_tensor, _is_tensor, _lift_like, _lift_pair, _plain


def _binary(method: str):
    def run(a, b):
        t = a if _is_tensor(a) else b
        return getattr(_lift_like(a, t), method)(_lift_like(b, t))

    return run


def _square(a):
    return a * a


UFUNCS = {
    np.add: _binary("__add__"),
    np.subtract: _binary("__sub__"),
    np.multiply: _binary("__mul__"),
    np.true_divide: _binary("__truediv__"),
    np.power: _binary("__pow__"),
    np.matmul: _binary("__matmul__"),
    np.maximum: lambda a, b: _maximum(a, b),
    np.minimum: lambda a, b: _minimum(a, b),
    np.negative: lambda a: -a,
    np.positive: lambda a: a,
    np.exp: lambda a: a.exp(),
    np.log: lambda a: a.log(),
    np.sqrt: lambda a: a.sqrt(),
    np.tanh: lambda a: a.tanh(),
    np.absolute: lambda a: a.abs(),
    np.square: _square,
}

# ufuncs whose results are not floats to differentiate: computed on the arrays
VALUE_UFUNCS = {
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.isfinite,
    np.isnan,
    np.isinf,
    np.sign,
    np.logical_and,
    np.logical_or,
    np.logical_not,
}


def _minimum(a, b):
    a, b = _lift_pair(a, b)
    return -_maximum(-a, -b)  # min(a, b) = -max(-a, -b), ties split as in maximum


def _maximum(a, b):
    from ..ops import Maximum

    return Maximum.apply(*_lift_pair(a, b))


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    return a.clip(kw.get("min", a_min), kw.get("max", a_max))


def _where(cond, a=None, b=None):
    if a is None and b is None:
        return np.where(_plain(cond))
    from ..ops import Where

    t = _first_tensor((a, b))
    return Where.apply(_lift_like(a, t), _lift_like(b, t), cond=np.asarray(_plain(cond), dtype=bool))


FUNCTIONS = {
    np.clip: _clip,
    np.where: _where,
}
