"""Arrays built from Tensors: ``np.array([x, 2 * x])``, ``np.r_[x, 0]``, ``np.c_[a, b]``,
``np.mean([x, x + 2])`` record ops.

numpy offers no protocol for these: ``np.array`` of a list, ``np.r_`` and a list given to a
function never ask the Tensors inside the list, they convert each one with
``Tensor.__array__``. So when tinygrad_mlp is imported, ``numpy.array``, ``numpy.asarray``,
``numpy.asanyarray``, ``numpy.r_``, ``numpy.c_`` and the numpy functions this package
records that take one array-like argument (``np.mean``, ``np.sum`` ...) are replaced by
thin wrappers. Each calls numpy's own function first; only when numpy's conversion reaches
a Tensor that is part of a graph (``Tensor.__array__`` raises :class:`GraphCutError`) does
the wrapper build the list as a Tensor (a stack per nesting level, numbers taking the
Tensors' dtype) and call again, now with a Tensor that dispatches. A call without such a
Tensor costs one extra Python call (about 0.1 microseconds: see the README of this round).

What the wrappers cannot see stays an error, never a constant: ``np.exp([x, y])`` (a
ufunc), ``np.zeros(2)[0] = x``, ``np.asarray(x)`` on a Tensor in a graph all raise
``GraphCutError`` naming the user's line and the fix (``x.detach()``, ``x.data``, or keep
it a Tensor), as PyTorch refuses ``.numpy()`` on a tensor that requires grad.
``uninstall()`` puts numpy's own functions back.
"""

from __future__ import annotations

import functools

import numpy as np

from ._util import GraphCutError, _is_tensor, _needs_graph, _tensor_cls

_ORIGINAL: dict = {}  # (module, name) -> numpy's own object, while the wrappers are installed
numpy_asarray = np.asarray  # numpy's own (this module is imported before the wrappers are installed)


def build(obj):
    """A (nested) list or tuple holding Tensors, numbers and arrays as one Tensor: the
    entries of each level stacked along a new first axis (``np.array`` semantics). Entries
    without Tensors are numpy constants of the Tensors' dtype (numbers never promote)."""
    if _is_tensor(obj) or not isinstance(obj, (list, tuple)):
        return obj
    parts = [build(x) for x in obj]
    tensors = [p for p in parts if _is_tensor(p)]
    if not tensors:
        return numpy_asarray(obj)
    from ..ops import Stack

    dtype = np.result_type(*[t.dtype for t in tensors])
    tensor = _tensor_cls()
    entries = [p if _is_tensor(p) else tensor(numpy_asarray(p, dtype=dtype)) for p in parts]
    shapes = {e.shape for e in entries}
    if len(shapes) > 1:
        raise ValueError(
            f"numpy.array: the entries of a list holding Tensors must have one shape, got "
            f"{[e.shape for e in entries]}"
        )
    return Stack.apply(*entries)


def _finish(t, what: str, dtype=None, ndmin: int = 0):
    if dtype is not None:
        if np.dtype(dtype).kind != "f":
            raise GraphCutError(
                f"numpy.{what}(..., dtype={np.dtype(dtype)}) of Tensors in a graph: a Tensor holds floats, "
                f"and converting would drop the gradient; use a float dtype, or detach() the Tensors"
            )
        t = t.astype(dtype) if t.dtype != np.dtype(dtype) else t
    if ndmin > t.ndim:
        t = t.reshape((1,) * (ndmin - t.ndim) + t.shape)
    return t


def _make_array(original, what: str):
    @functools.wraps(original)
    def make(object, dtype=None, *args, **kwargs):  # noqa: A002 (numpy's name)
        try:  # (a call with an empty **kwargs costs numpy's builtins 0.3 us: spelled out)
            if args or kwargs:
                return original(object, dtype, *args, **kwargs)
            return original(object) if dtype is None else original(object, dtype)
        except GraphCutError:
            if not isinstance(object, (list, tuple)):
                raise  # np.asarray(tensor): the error names the fix
        return _finish(build(object), what, dtype, kwargs.get("ndmin", 0))

    return make


class _Joiner:
    """``np.r_`` (rows: entries made 1-d, joined along axis 0) and ``np.c_`` (columns:
    1-d entries made columns, joined along the last axis), recorded when a Tensor in a
    graph is among the entries; numpy's own object otherwise."""

    def __init__(self, original, columns: bool) -> None:
        self._original, self._columns = original, columns

    def __getitem__(self, key):
        try:
            return self._original[key]
        except GraphCutError:
            pass
        from .shape import concatenate

        items = key if isinstance(key, tuple) else (key,)
        name = "c_" if self._columns else "r_"
        if any(isinstance(k, str) for k in items):
            raise TypeError(f"numpy.{name} with a string directive is not supported on Tensors in a graph")
        tensors = [build(k) for k in items if not isinstance(k, slice)]
        first = next(t for t in tensors if _is_tensor(t))
        parts = [first._lift(self._original[k] if isinstance(k, slice) else build(k)) for k in items]
        if self._columns:  # 0-d -> (1, 1), (n,) -> (n, 1)
            return concatenate([p.reshape(-1, 1) if p.ndim < 2 else p for p in parts], axis=-1)
        return concatenate([p.reshape(1) if p.ndim == 0 else p for p in parts], axis=0)

    def __len__(self) -> int:
        return 0

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._original, name)


def _accept_lists(original):
    """``original`` (a numpy function this package records) also for list arguments that
    hold Tensors in a graph: those become Tensors (:func:`build`), and the call dispatches."""

    @functools.wraps(original)
    def run(*args, **kwargs):
        try:
            return original(*args, **kwargs) if kwargs else original(*args)
        except GraphCutError:
            lists = [isinstance(a, (list, tuple)) and _needs_graph((a,)) for a in args]
            if not any(lists) and not any(_needs_graph((v,)) for v in kwargs.values()):
                raise
        args = [build(a) if is_list else a for a, is_list in zip(args, lists)]
        kwargs = {
            k: build(v) if isinstance(v, (list, tuple)) and _needs_graph((v,)) else v
            for k, v in kwargs.items()
        }
        return original(*args, **kwargs)

    return run


# numpy functions that need no wrapper: their dispatch looks inside their sequence argument
# already (np.concatenate([a, b]) reaches the Tensors), or the engine's own rules call them on
# arrays on the training step's path (a list holding a Tensor in a graph stays an error there)
_NO_WRAPPER = {
    "concatenate",
    "stack",
    "hstack",
    "vstack",
    "dstack",
    "column_stack",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "einsum",
    "block",
    "where",
    "broadcast_to",
    "transpose",
    "swapaxes",
    "shape",
    "ndim",
    "size",
    "zeros_like",
    "ones_like",
    "copy",
}


_WRAPPERS: dict = {}  # made once: installing again puts back the very same objects


def _replace(module, name: str, make) -> None:
    original = _ORIGINAL.setdefault((module, name), getattr(module, name))
    wrapper = _WRAPPERS.get((module, name))
    if wrapper is None:
        wrapper = _WRAPPERS[(module, name)] = make(original)
    setattr(module, name, wrapper)


def install(functions) -> None:
    """Put the wrappers in place (once): ``numpy.array``/``asarray``/``asanyarray``, ``r_``,
    ``c_``, and every function of ``functions`` that takes one array-like argument."""
    if _ORIGINAL:
        return
    for name in ("array", "asarray", "asanyarray"):
        _replace(np, name, lambda original, name=name: _make_array(original, name))
    _replace(np, "r_", lambda original: _Joiner(original, columns=False))
    _replace(np, "c_", lambda original: _Joiner(original, columns=True))
    for func in functions:
        name = getattr(func, "__name__", "")
        if name in _NO_WRAPPER:
            continue
        for module in (np, np.linalg):
            if getattr(module, name, None) is func:
                _replace(module, name, _accept_lists)


def uninstall() -> None:
    """Give numpy its own functions back (``np.array`` of Tensors in a graph is then an error)."""
    for (module, name), original in _ORIGINAL.items():
        setattr(module, name, original)
    _ORIGINAL.clear()
