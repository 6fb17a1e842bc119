"""What every family of numpy functions on Tensors shares: telling Tensors apart and lifting
numbers and arrays to constants of a Tensor's dtype."""

from __future__ import annotations

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


def _needs_graph(args) -> bool:
    stack = list(args)
    while stack:
        a = stack.pop()
        if _is_tensor(a) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)):
            stack.extend(a)
    return False


def _lift_pair(a, b):
    t = a if _is_tensor(a) else b
    return _lift_like(a, t), _lift_like(b, t)
