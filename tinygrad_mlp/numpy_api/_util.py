"""What every family of numpy functions on Tensors shares: telling Tensors apart and lifting
numbers and arrays to constants of a Tensor's dtype."""

from __future__ import annotations

from ..autograd import MODE

_TENSOR = None


def _tensor_cls():
    global _TENSOR
    if _TENSOR is None:
        from ..tensor import Tensor

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


def in_graph(t) -> bool:
    """True when the Tensor ``t`` is part of a graph being recorded: it requires grad, or it
    carries a forward-mode tangent of a ``func.jvp`` under way. Running numpy on its array
    would give a constant to autograd: a dropped gradient or tangent."""
    if t.requires_grad:
        return True
    levels = MODE.get().fw
    return bool(levels) and any(id(t) in level for level in levels)


def _needs_graph(args) -> bool:
    """True when a Tensor in ``args`` (inside lists and tuples too) is part of a graph."""
    stack = list(args)
    while stack:
        a = stack.pop()
        if _is_tensor(a) and in_graph(a):
            return True
        if isinstance(a, (list, tuple)):
            stack.extend(a)
    return False


def _lift_pair(a, b):
    t = a if _is_tensor(a) else b
    return _lift_like(a, t), _lift_like(b, t)


class GraphCutError(RuntimeError):
    """A Tensor that is part of a graph being recorded was about to become a plain numpy
    array (``Tensor.__array__``), which would drop its gradient or tangent."""
