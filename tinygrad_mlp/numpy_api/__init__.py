"""numpy on Tensors: ``np.exp(t)``, ``np.dot(x, W)``, ``np.where(m, t, 0)`` record ops.

numpy hands a call to the Tensor class when a Tensor is among the arguments, through
two protocols (NEP 13 ``__array_ufunc__`` for ufuncs, NEP 18 ``__array_function__``
for other functions). The tables below map each numpy function the engine can
differentiate to the Tensor op that does the same, so that code written for numpy
arrays (a learner's hand-written layer, and the engine's own backward rules when
``create_graph=True``) runs unchanged on Tensors and is recorded.

- Comparisons and other value-only functions (``np.allclose``, ``np.argmax`` ...)
  give plain numpy results: there is nothing to differentiate.
- Anything else is an error naming the numpy function when a Tensor that is part of a
  graph (it requires grad, or carries a forward-mode tangent) is involved, never a
  silent conversion that drops the graph or the tangent; on other tensors it simply
  runs on their arrays.
- ``out=`` is honoured: the result is written into ``out`` (a Tensor: recorded as an
  assignment ``out[...] = result``).
- Arrays built from Tensors (``np.array([x, 2 * x])``, ``np.r_``, ``np.c_``, a list given
  to ``np.mean``) record too: see ``construct.py``.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..autograd import MODE
from . import construct, elementwise, linalg, products, reductions, shape
from ._util import GraphCutError as GraphCutError
from ._util import _is_tensor, _needs_graph, _plain, _tensor_cls, in_graph
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
for _family in _FAMILIES:
    _VALUE_FUNCTIONS |= getattr(_family, "VALUE_FUNCTIONS", set())


def numpy_name(f, prefix: str = "np") -> str:
    """A numpy function's name as a user writes it: ``np.sin``, ``np.linalg.inv`` (its module,
    so ``np.linalg.cross`` and ``np.cross`` stay apart); ``prefix="numpy"`` for messages."""
    module = getattr(f, "__module__", None) or "numpy"
    sub = module[len("numpy") :] if module.startswith("numpy.") else ""
    return f"{prefix}{sub}.{f.__name__}"


def array_ufunc(ufunc, method: str, inputs: tuple, kwargs: dict):
    """``Tensor.__array_ufunc__``: see the module docstring."""
    if ufunc in _VALUE_UFUNCS and method == "__call__":
        return getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
    rule = _UFUNCS.get(ufunc) if method == "__call__" else None
    out = kwargs.get("out")
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    if rule is None or extra:
        if not _needs_graph(inputs) and not _needs_graph(tuple(kwargs.values())):
            return getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
        what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        why = f" with {', '.join(sorted(extra))}=" if rule is not None else ""
        raise TypeError(f"{what}{why} {_UNSUPPORTED}")
    if out is None:
        return rule(*inputs)
    if len(out) != 1:
        raise TypeError(f"numpy.{ufunc.__name__}: out= must hold one array for a one-output ufunc")
    return _write_out(out[0], rule(*_unalias(inputs, out[0])), f"numpy.{ufunc.__name__}")


def array_function(func, types, args: tuple, kwargs: dict):
    """``Tensor.__array_function__``: see the module docstring."""
    tensor_cls = _tensor_cls()
    if any(not issubclass(t, (np.ndarray, tensor_cls)) for t in types):
        return NotImplemented  # another array type: let it (or numpy) decide
    rule = _FUNCTIONS.get(func)
    if rule is not None:
        pos = _out_position(func)
        out = kwargs.get("out")
        if out is None and pos is not None and len(args) > pos:
            out = args[pos]
        if out is None:
            return rule(*args, **kwargs)
        # the result is computed without out= and then written into it, as numpy does
        if pos is not None and len(args) > pos:
            args = args[:pos] + (None,) + args[pos + 1 :]
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        return _write_out(out, rule(*_unalias(args, out), **kwargs), numpy_name(func, "numpy"))
    if func in _VALUE_FUNCTIONS or not _needs_graph(args) and not _needs_graph(tuple(kwargs.values())):
        return func(*_plain(args), **_plain(kwargs))
    raise TypeError(f"{numpy_name(func, 'numpy')} {_UNSUPPORTED}")


_OUT_POSITIONS: dict = {}


def _out_position(func) -> int | None:
    """The position of ``out`` among ``func``'s positional parameters (None: it has none)."""
    if func not in _OUT_POSITIONS:
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            params = []
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        names = []
        for p in params:  # only parameters that can be given by position: einsum(*operands, out=)
            if p.kind not in positional:
                break
            names.append(p.name)
        _OUT_POSITIONS[func] = names.index("out") if "out" in names else None
    return _OUT_POSITIONS[func]


def _unalias(args: tuple, out) -> tuple:
    """``args`` with ``out`` (when it is one of them, a Tensor) replaced by a node holding its
    current values and graph, so that the op reads the values from before the write
    (``np.clip(y, lo, hi, y)``) and backward finds its input unchanged."""
    if not _is_tensor(out) or not any(a is out for a in args):
        return args
    from ..tensor import _tensor_of

    old = _tensor_of(out.data, out.requires_grad, out._ctx, out.name)
    for level in MODE.get().fw:
        if id(out) in level:
            level[id(old)] = (old, level[id(out)][1])
    return tuple(old if a is out else a for a in args)


def _write_out(out, result, what: str):
    """numpy's ``out=``: the result written into ``out`` (a Tensor: recorded as
    ``out[...] = result``; an array: only a result that is not part of a graph), and
    ``out`` returned."""
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if _is_tensor(out):
        out[...] = result
        return out
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{what}: out= must be a Tensor or a numpy array, got {type(out).__name__}")
    if _is_tensor(result) and in_graph(result):
        raise GraphCutError(
            f"{what}(..., out=<numpy array>): the result is part of a graph being recorded, and "
            f"writing it into a numpy array would drop its gradient; pass a Tensor as out=, or "
            f"leave out= away and use the returned Tensor"
        )
    out[...] = _plain(result)
    return out


GROUPS = ("elementwise", "reductions", "shape", "products", "linalg", "sorting", "building arrays")
_SORTING = {np.sort, np.partition}
_BUILDING = {np.linspace, np.zeros_like, np.ones_like, np.copy, np.broadcast_to}
_BUILDERS = ("np.array", "np.asarray", "np.asanyarray", "np.r_", "np.c_")  # construct.py's wrappers


def supported_groups() -> dict[str, list[str]]:
    """:func:`supported` grouped as numpy's documentation groups them (``GROUPS``)."""
    groups: dict[str, set] = {g: set() for g in GROUPS}
    for f in _UFUNCS:
        groups["products" if f is np.matmul else "elementwise"].add(numpy_name(f))
    for family in _FAMILIES:
        own = family.__name__.rsplit(".", 1)[1]
        for f in family.FUNCTIONS:
            group = "sorting" if f in _SORTING else "building arrays" if f in _BUILDING else own
            groups[group].add(numpy_name(f))
    groups["building arrays"].update(_BUILDERS)
    return {g: sorted(names) for g, names in groups.items()}


def supported() -> list[str]:
    """The numpy functions and ufuncs that record ops on Tensors, by the name a user writes
    (``np.sin``, ``np.linalg.inv``), and the array builders (``np.array``, ``np.r_`` ...)."""
    return sorted({n for names in supported_groups().values() for n in names})


def supported_table() -> str:
    """docs/numpy.md's table of :func:`supported`, one row per group (a test keeps the page equal to it)."""
    rows = ["| group | numpy functions that record on Tensors |", "| --- | --- |"]
    for group, names in supported_groups().items():
        rows.append(f"| {group} | {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(rows)


_UNSUPPORTED = (
    "is not supported on Tensors that require grad: the engine cannot record it, and running it "
    "on the arrays would drop the graph. Write it with supported numpy functions (see "
    "tinygrad_mlp.numpy_api.supported(): np.dot, np.matmul, np.sum, np.mean, np.max, np.min, "
    "np.maximum, np.minimum, np.clip, np.exp, np.log, np.sqrt, np.tanh, np.abs, np.where, ...), "
    "arithmetic and indexing, or add an op (README: Adding an op)"
)


construct.install(_FUNCTIONS)
