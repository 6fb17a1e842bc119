"""Elementwise numpy on Tensors: ufuncs (arithmetic, exp, log, the trigonometric family ...),
clip, where, round, sinc, nan_to_num."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ._util import _first_tensor, _is_tensor, _lift_like, _lift_pair, _plain, _tensor_cls


def _binary(method: str):
    def run(a, b):
        t = a if _is_tensor(a) else b
        return getattr(_lift_like(a, t), method)(_lift_like(b, t))

    return run


def _op(cls):
    """numpy's call of a ufunc as the op ``cls`` on Tensors (numbers and arrays as constants)."""

    def run(*args):
        return cls.apply(*args)

    return run


def _square(a):
    return a * a


def _power(a, b):
    if _is_tensor(a) and isinstance(b, (int, float, np.integer, np.floating)):
        return a ** float(b)  # a constant exponent: PowConst, whose rules are exact at p = 0 and 1
    return _binary("__pow__")(a, b)


def _fmin(a, b):
    a, b = _lift_pair(a, b)
    return -ops.Fmax.apply(-a, -b)  # fmin(a, b) = -fmax(-a, -b), NaNs ignored as in fmax


def _scale(factor: float):
    """An angle conversion: a product with a constant (numpy's deg2rad is x * (pi/180) too)."""

    def run(a):
        return a * factor

    return run


UFUNCS = {
    np.add: _binary("__add__"),
    np.subtract: _binary("__sub__"),
    np.multiply: _binary("__mul__"),
    np.true_divide: _binary("__truediv__"),
    np.power: _power,
    np.matmul: _binary("__matmul__"),
    np.maximum: lambda a, b: _maximum(a, b),
    np.minimum: lambda a, b: _minimum(a, b),
    np.fmax: _op(ops.Fmax),
    np.fmin: _fmin,
    np.negative: lambda a: -a,
    np.positive: lambda a: a,
    np.conjugate: lambda a: _real(a),  # a real Tensor is its own conjugate
    np.exp: lambda a: a.exp(),
    np.exp2: _op(ops.Exp2),
    np.expm1: _op(ops.Expm1),
    np.log: lambda a: a.log(),
    np.log2: _op(ops.Log2),
    np.log10: _op(ops.Log10),
    np.log1p: _op(ops.Log1p),
    np.logaddexp: _op(ops.LogAddExp),
    np.logaddexp2: _op(ops.LogAddExp2),
    np.sqrt: lambda a: a.sqrt(),
    np.cbrt: _op(ops.Cbrt),
    np.reciprocal: _op(ops.Reciprocal),
    np.tanh: lambda a: a.tanh(),
    np.absolute: lambda a: a.abs(),
    np.fabs: lambda a: a.abs(),
    np.square: _square,
    np.sin: _op(ops.Sin),
    np.cos: _op(ops.Cos),
    np.tan: _op(ops.Tan),
    np.arcsin: _op(ops.Arcsin),
    np.arccos: _op(ops.Arccos),
    np.arctan: _op(ops.Arctan),
    np.sinh: _op(ops.Sinh),
    np.cosh: _op(ops.Cosh),
    np.arcsinh: _op(ops.Arcsinh),
    np.arccosh: _op(ops.Arccosh),
    np.arctanh: _op(ops.Arctanh),
    np.arctan2: _op(ops.Arctan2),
    np.hypot: _op(ops.Hypot),
    np.deg2rad: _scale(math.pi / 180),
    np.radians: _scale(math.pi / 180),
    np.rad2deg: _scale(180 / math.pi),
    np.degrees: _scale(180 / math.pi),
    np.remainder: _op(ops.Remainder),  # also np.mod and %
    np.fmod: _op(ops.Fmod),
    # piecewise constant: recorded, with derivative 0
    np.floor: _op(ops.Floor),
    np.ceil: _op(ops.Ceil),
    np.trunc: _op(ops.Trunc),
    np.rint: _op(ops.Round),
    np.sign: _op(ops.Sign),
    np.floor_divide: _op(ops.FloorDivide),
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
    np.signbit,
    np.logical_and,
    np.logical_or,
    np.logical_not,
}


def _minimum(a, b):
    a, b = _lift_pair(a, b)
    return -_maximum(-a, -b)  # min(a, b) = -max(-a, -b), ties split as in maximum


def _maximum(a, b):
    return ops.Maximum.apply(*_lift_pair(a, b))


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    return a.clip(kw.get("min", a_min), kw.get("max", a_max))


def _where(cond, a=None, b=None):
    if a is None and b is None:
        return np.where(_plain(cond))
    t = _first_tensor((a, b))
    return ops.Where.apply(_lift_like(a, t), _lift_like(b, t), cond=np.asarray(_plain(cond), dtype=bool))


def _round(a, decimals=0, out=None):
    _no_out("round", out)
    return ops.Round.apply(a, decimals=decimals)


def _fix(x, out=None):
    _no_out("fix", out)
    return ops.Trunc.apply(x)


def _sinc(x):
    return ops.Sinc.apply(x)


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by constants (numpy's defaults: 0 and the largest finite
    values); the finite values pass through, gradient 1; the replaced ones get gradient 0."""
    data = _plain(x)
    target = np.nan_to_num(data, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    return ops.Where.apply(x, target, cond=np.isfinite(data))


def _real(x):
    """numpy.real (and real_if_close, conj) of a real Tensor: the Tensor itself, gradient 1.
    A Tensor holds floats, so there is no complex part to drop."""
    return x * 1


def _real_if_close(x, tol=100):
    return _real(x)


def _imag(x):
    """numpy.imag of a real Tensor: zeros of its shape, a constant (gradient 0)."""
    return _tensor_of_value(np.zeros(np.shape(_plain(x)), dtype=_plain(x).dtype))


def _angle(z, deg=False):
    """numpy.angle of a real Tensor: 0 or pi (180) by sign, piecewise constant (gradient 0)."""
    return _tensor_of_value(np.angle(_plain(z), deg=deg).astype(_plain(z).dtype))


def _tensor_of_value(values):
    return _tensor_cls()(values)


def _select(condlist, choicelist, default=0):
    """numpy.select: the first choice whose condition holds, else ``default``; a chain of
    where (the gradient reaches the chosen entries only)."""
    if len(condlist) != len(choicelist):
        raise ValueError("numpy.select: list of cases must be same length as list of conditions")
    t = _first_tensor((*choicelist, default))
    result = _lift_like(default, t)
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        result = _where(cond, choice, result)
    shape = np.broadcast_shapes(
        *[np.shape(_plain(c)) for c in condlist], *[np.shape(_plain(c)) for c in choicelist]
    )
    return result if result.shape == shape else np.broadcast_to(result, shape)


def _no_out(name: str, out) -> None:
    if out is not None:
        raise TypeError(f"numpy.{name} with out= is not supported on Tensors: use the returned Tensor")


FUNCTIONS = {
    np.clip: _clip,
    np.where: _where,
    np.round: _round,
    np.around: _round,
    np.fix: _fix,
    np.sinc: _sinc,
    np.nan_to_num: _nan_to_num,
    np.real: _real,
    np.real_if_close: _real_if_close,
    np.imag: _imag,
    np.angle: _angle,
    np.select: _select,
}
