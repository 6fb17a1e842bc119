"""The base of every op: :class:`Function`, :class:`ShapeError` and the helpers rules share
(``unbroadcast``, axis normalisation, ``_call`` to run an op inside a rule)."""

from __future__ import annotations

import numpy as np


class ShapeError(ValueError):
    """Inputs whose shapes an op cannot take; the message names the op and the shapes."""


def unbroadcast(grad, shape: tuple[int, ...]):
    """Sum ``grad`` back down to ``shape``: the adjoint of numpy broadcasting is a sum.

    Broadcasting copies a value along new leading axes and along axes of length 1, so
    the gradient of that value is the sum over those axes. Works on arrays and Tensors.
    """
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if gshape[lead:] == shape:  # only new leading axes, as for a bias: summing them gives the shape
        return grad.sum(axis=0 if lead == 1 else tuple(range(lead)))
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape)


def _normalize_axis(axis, ndim: int, op: str) -> tuple[int, ...]:
    """Turn None, an int (maybe negative) or a tuple of ints into a sorted tuple of axes.

    A 0-d tensor accepts axis 0 and -1 as PyTorch does (there is nothing to reduce)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out)) if ndim else ()


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _engine_apply(cls, *inputs, **kwargs):
    """Replaced by the Tensor layer (which sits on top of this module) when it is
    imported; importing the package always does."""
    from ..tensor import _apply_lifted

    return _apply_lifted(cls, *inputs, **kwargs)


def _call(cls, *args, **kwargs):
    """Run op ``cls`` inside a rule: straight on arrays, recorded when an argument is a Tensor."""
    if all(type(a) is np.ndarray for a in args):
        return cls().forward(*args, **kwargs)
    return cls.apply(*args, **kwargs)


def _value(x) -> np.ndarray:
    """The array of an array or a Tensor: for masks and other constants inside rules (a
    Tensor's own ``data``: ``np.asarray`` refuses a Tensor that is part of a graph)."""
    data = getattr(x, "data", None)
    return data if isinstance(data, np.ndarray) and not isinstance(x, np.ndarray) else np.asarray(x)


class Function:
    """One node type of the graph: ``forward`` on arrays; ``vjp`` and ``jvp`` for derivatives.

    The engine (``tensor._apply``) sets ``parents`` (the input Tensors, as an ordered
    tuple), ``arrays`` (their arrays at that moment) and ``needs_input_grad`` (one
    bool per input) on the instance when the result is recorded; a rule may skip
    the inputs that need no gradient. ``in_backward`` is True for an op recorded by a
    ``create_graph`` backward pass.
    """

    name = "function"
    parents: tuple = ()
    arrays: tuple = ()
    needs_input_grad: tuple[bool, ...] = ()
    in_backward = False
    differentiable = False  # True where vjp is written for Tensors too (set below)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.differentiable = any("vjp" in vars(k) for k in cls.__mro__ if k is not Function)

    def forward(self, *arrays: np.ndarray, **kwargs) -> np.ndarray:
        """Compute the output from the inputs' arrays."""
        raise NotImplementedError

    def vjp(self, g, out, *inputs):
        """From g = dL/d(out), return dL/d(input) for each input (None where not needed).

        The default serves ops of your own written in the first round's style: it calls
        ``backward(g)``, which uses what ``forward`` saved on ``self``."""
        return self.backward(g)

    def backward(self, g: np.ndarray):
        """dL/d(input) for each input from g = dL/d(output), on arrays (ops of your own)."""
        raise NotImplementedError(f"op '{self.name}' defines neither vjp nor backward")

    def jvp(self, tangents, out, *inputs):
        """From one tangent per input, the tangent of the output (forward mode)."""
        raise NotImplementedError(
            f"forward mode: op '{self.name}' has no tangent rule; define "
            f"jvp(self, tangents, out, *inputs) on it to use it in func.jvp/jacfwd"
        )

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        """The error to raise when numpy refused the inputs in ``forward`` (``exc``):
        it names the op and the input shapes. Ops may say more."""
        shapes = ", ".join(str(a.shape) for a in arrays)
        return ShapeError(f"{self.name}: {exc} (input shapes {shapes})")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run this op on Tensors and record it, as ``torch.autograd.Function.apply``:
        the way to use an op of your own, ``MyOp.apply(x, y)``. Numbers and arrays
        among the inputs become constants."""
        return _engine_apply(cls, *inputs, **kwargs)
