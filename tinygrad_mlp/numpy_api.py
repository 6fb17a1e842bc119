"""numpy on Tensors: ``np.exp(t)``, ``np.dot(x, W)``, ``np.where(m, t, 0)`` record ops.

numpy hands a call to the Tensor class when a Tensor is among the arguments, through
two protocols (NEP 13 ``__array_ufunc__`` for ufuncs, NEP 18 ``__array_function__``
for other functions). The tables below map each numpy function the engine can
differentiate to the Tensor op that does the same, so that code written for numpy
arrays (a learner's hand-written layer, and the engine's own backward rules when
``create_graph=True``) runs unchanged on Tensors and is recorded.

- Comparisons and other value-only functions (``np.allclose``, ``np.argmax`` ...)
  give plain numpy results: there is nothing to differentiate.
- Anything else is an error naming the numpy function when a Tensor that requires
  grad is involved, never a silent conversion that drops the graph; on tensors that
  require no grad it simply runs on their arrays.
"""

from __future__ import annotations

import numpy as np

_TENSOR = None


def _tensor_cls():
    global _TENSOR
    if _TENSOR is None:
        from .tensor import Tensor

        _TENSOR = Tensor
    return _TENSOR


def _is_tensor(x) -> bool:
    return isinstance(x, _tensor_cls())


def _plain(x):
    """Arrays for Tensors, inside lists and tuples too."""
    if _is_tensor(x):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(i) for i in x)
    return x


def _lift_like(x, like):
    """``x`` as a Tensor; a number takes the dtype of the Tensor ``like``."""
    return x if _is_tensor(x) else like._lift(x)


def _first_tensor(args):
    return next(a for a in args if _is_tensor(a))


def _needs_graph(args) -> bool:
    stack = list(args)
    while stack:
        a = stack.pop()
        if _is_tensor(a) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)):
            stack.extend(a)
    return False


def _binary(method: str):
    def run(a, b):
        t = a if _is_tensor(a) else b
        return getattr(_lift_like(a, t), method)(_lift_like(b, t))

    return run


def _square(a):
    return a * a


_UFUNCS = {
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
_VALUE_UFUNCS = {
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


def _lift_pair(a, b):
    t = a if _is_tensor(a) else b
    return _lift_like(a, t), _lift_like(b, t)


def _minimum(a, b):
    a, b = _lift_pair(a, b)
    return -_maximum(-a, -b)  # min(a, b) = -max(-a, -b), ties split as in maximum


def _maximum(a, b):
    from .ops import Maximum

    return Maximum.apply(*_lift_pair(a, b))


def array_ufunc(ufunc, method: str, inputs: tuple, kwargs: dict):
    """``Tensor.__array_ufunc__``: see the module docstring."""
    if ufunc in _VALUE_UFUNCS and method == "__call__":
        return getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
    rule = _UFUNCS.get(ufunc) if method == "__call__" else None
    extra = {k: v for k, v in kwargs.items() if not (k == "out" and v is None)}
    if rule is None or extra:
        if not _needs_graph(inputs):
            return getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
        what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        why = f" with {', '.join(sorted(extra))}=" if rule is not None else ""
        raise TypeError(f"{what}{why} {_UNSUPPORTED}")
    return rule(*inputs)


# ---------------------------------------------------------------- numpy functions


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.sum(axis=axis, keepdims=keepdims)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return a.mean(axis=axis, keepdims=keepdims)


def _max(a, axis=None, out=None, keepdims=False, **kw):
    return a.max(axis=axis, keepdims=keepdims)


def _min(a, axis=None, out=None, keepdims=False, **kw):
    return a.min(axis=axis, keepdims=keepdims)


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    return a.clip(kw.get("min", a_min), kw.get("max", a_max))


def dot(a, b):
    """numpy.dot for Tensors: a matmul for 1-D and 2-D operands, a product for scalars."""
    t = a if _is_tensor(a) else b
    a, b = _lift_like(a, t), _lift_like(b, t)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise TypeError(f"numpy.dot of {a.ndim}-D and {b.ndim}-D Tensors is not supported (use np.matmul)")
    return a @ b


def _where(cond, a=None, b=None):
    if a is None and b is None:
        return np.where(_plain(cond))
    from .ops import Where

    t = _first_tensor((a, b))
    return Where.apply(_lift_like(a, t), _lift_like(b, t), cond=np.asarray(_plain(cond), dtype=bool))


def _transpose(a, axes=None):
    return a.transpose(*axes) if axes is not None else a.T


def _reshape(a, shape=None, order="C", **kw):
    if order != "C":
        raise TypeError("numpy.reshape of a Tensor supports order='C' only")
    return a.reshape(kw.get("newshape", shape))


def _broadcast_to(a, shape, subok=False):
    from .ops import BroadcastTo

    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return BroadcastTo.apply(a, shape=shape)


def _stack(arrays, axis=0, **kw):
    from .ops import Stack

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


_FUNCTIONS = {
    np.sum: _sum,
    np.mean: _mean,
    np.max: _max,
    np.amax: _max,
    np.min: _min,
    np.amin: _min,
    np.clip: _clip,
    np.dot: dot,
    np.where: _where,
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

# functions whose results are values, not floats to differentiate: run on the arrays
_VALUE_FUNCTIONS = {
    np.allclose,
    np.isclose,
    np.array_equal,
    np.array_equiv,
    np.argmax,
    np.argmin,
    np.argsort,
    np.nonzero,
    np.count_nonzero,
    np.any,
    np.all,
    np.result_type,
    np.can_cast,
    np.broadcast_shapes,
    np.iscomplexobj,
    np.isrealobj,
}


def array_function(func, types, args: tuple, kwargs: dict):
    """``Tensor.__array_function__``: see the module docstring."""
    tensor_cls = _tensor_cls()
    if any(not issubclass(t, (np.ndarray, tensor_cls)) for t in types):
        return NotImplemented  # another array type: let it (or numpy) decide
    rule = _FUNCTIONS.get(func)
    if rule is not None:
        return rule(*args, **kwargs)
    if func in _VALUE_FUNCTIONS or not _needs_graph(args) and not _needs_graph(tuple(kwargs.values())):
        return func(*_plain(args), **_plain(kwargs))
    raise TypeError(f"numpy.{func.__name__} {_UNSUPPORTED}")


def supported() -> list[str]:
    """The numpy functions and ufuncs that record ops on Tensors, by name."""
    names = {f"np.{f.__name__}" for f in _UFUNCS} | {f"np.{f.__name__}" for f in _FUNCTIONS}
    return sorted(names)


_UNSUPPORTED = (
    "is not supported on Tensors that require grad: the engine cannot record it, and running it "
    "on the arrays would drop the graph. Write it with supported numpy functions (see "
    "tinygrad_mlp.numpy_api.supported(): np.dot, np.matmul, np.sum, np.mean, np.max, np.min, "
    "np.maximum, np.minimum, np.clip, np.exp, np.log, np.sqrt, np.tanh, np.abs, np.where, ...), "
    "arithmetic and indexing, or add an op (README: Adding an op)"
)
