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

from . import elementwise, linalg, products, reductions, shape
from ._util import _needs_graph, _plain, _tensor_cls
from .products import dot as dot

_FAMILIES = (elementwise, reductions, shape, products, linalg)

_UFUNCS = dict(elementwise.UFUNCS)
_VALUE_UFUNCS = set(elementwise.VALUE_UFUNCS)
_FUNCTIONS = {}
for _family in _FAMILIES:
    _FUNCTIONS.update(_family.FUNCTIONS)

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
