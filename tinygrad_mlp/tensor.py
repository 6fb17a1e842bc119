"""Tensor: a numpy array that records the ops made from it, so backward can run.

A Tensor holds ``data`` (a numpy array, always floating point), ``grad`` (filled by
backward), ``requires_grad``, an optional ``name``, and ``_ctx``: the op (a
:class:`~tinygrad_mlp.ops.Function`) that made it, which holds the op's parents.
Leaves (tensors you create) have no ``_ctx``.

Dtype rules (the contract): Python numbers, lists, ints and bools become float32;
float16/32/64 numpy arrays and Tensors keep their dtype; ``dtype=`` overrides. A
Python number (or numpy scalar) in an op takes the tensor's dtype, so float32 stays
float32; two tensors of different float dtypes combine as numpy combines them.

A Tensor made from a numpy array of the same dtype shares its memory (like
``torch.from_numpy``); pass ``np.array(x)`` for a copy.
"""

from __future__ import annotations

import dis
import os
import sys
from collections.abc import Sequence

import numpy as np

from . import autograd, numpy_api, ops
from .autograd import MODE

_NUMBER = (int, float, bool, np.number, np.bool_)


def _as_array(data, dtype) -> np.ndarray:
    """The float array a Tensor holds, by the dtype rules above."""
    if isinstance(data, Tensor):
        arr = data.data
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    elif getattr(data, "_traced", False):  # an array being recorded by jit
        arr = data
    else:
        try:  # numpy's own asarray: a Tensor in a graph inside a list cannot become a leaf's data
            arr = numpy_api.construct.numpy_asarray(data)
        except ValueError as exc:
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}: {exc}") from None
        if dtype is None and arr.dtype.kind in "biuf":
            dtype = np.float32
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Tensor: dtype must be a floating point type, got {dtype}")
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float32)
    raise TypeError(f"Tensor: cannot make a float tensor from data of dtype {arr.dtype}")


def _plain(x):
    """The array behind a Tensor (other values as they are): for comparisons."""
    return x.data if isinstance(x, Tensor) else x


def _shape_args(shape: tuple) -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _apply(fn_cls: type[ops.Function], *inputs: Tensor, **kwargs) -> Tensor:
    """Run one op forward and, when any input requires grad, record it in the graph;
    inside ``func.jvp``, also carry the inputs' tangents forward through the op."""
    fn = fn_cls()
    n = len(inputs)
    # (one and two inputs spelled out: a comprehension is a function call in Python 3.11)
    if n == 2:
        a, b = inputs
        arrays = [a.data, b.data]
    elif n == 1:
        arrays = [inputs[0].data]
    else:
        arrays = [t.data for t in inputs]
    try:
        out = fn.forward(*arrays, **kwargs) if kwargs else fn.forward(*arrays)
    except ops.ShapeError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise fn.shape_error(exc, *arrays) from None
    if type(out) is not np.ndarray:  # numpy gives scalars for 0-d results (a jit's traced array stays)
        out = np.asarray(out) if isinstance(out, np.generic) or not getattr(out, "_traced", False) else out
    t = _new_tensor(Tensor)
    t.data, t.grad, t.name = out, None, None
    mode = MODE.get()
    if not mode.enabled:
        needs = ()
    elif n == 2:
        needs = (a.requires_grad, b.requires_grad)
    elif n == 1:
        needs = (inputs[0].requires_grad,)
    else:
        needs = tuple([x.requires_grad for x in inputs])
    if True in needs:
        fn.parents = inputs
        fn.arrays = arrays
        fn.needs_input_grad = needs
        if mode.tagging:
            if mode.anomaly:
                fn.created_at = _caller()
            if mode.in_backward:
                fn.in_backward = True
        t.requires_grad = True
        t._ctx = fn
    else:
        t.requires_grad = False
        t._ctx = None
    if mode.fw:
        _push_tangents(fn, inputs, t, mode.fw)
    return t


def _push_tangents(fn: ops.Function, inputs: tuple, out: Tensor, levels: tuple) -> None:
    """Forward mode: for each ``func.jvp`` level under way where an input has a tangent,
    the output's tangent by the op's tangent rule. The rule runs with that level (and
    the ones inside it) switched off, so its own ops carry only the outer levels'
    tangents: the tangent of a tangent, for nested forward mode."""
    for k, level in enumerate(levels):
        tangents = [level.get(id(x)) for x in inputs]
        if all(tt is None for tt in tangents):
            continue
        tangents = tuple(
            tt[1] if tt is not None else Tensor(np.zeros_like(x.data)) for tt, x in zip(tangents, inputs)
        )
        with autograd.using(fw=levels[:k]):
            tangent = fn.jvp(tangents, out, *inputs)
            tangent = _fit_tangent(tangent, out)
        level[id(out)] = (out, tangent)


def _fit_tangent(tangent, out: Tensor) -> Tensor:
    """A tangent as a Tensor of the output's shape and dtype."""
    if not isinstance(tangent, Tensor):
        tangent = Tensor(np.asarray(tangent, dtype=out.data.dtype))
    if tangent.data.dtype != out.data.dtype:
        tangent = _apply(ops.Cast, tangent, dtype=out.data.dtype)
    if tangent.shape != out.shape:
        tangent = _apply(ops.BroadcastTo, tangent, shape=out.shape)
    return tangent


def _apply_lifted(fn_cls: type[ops.Function], *inputs, **kwargs) -> Tensor:
    """``Function.apply``: numbers and arrays among the inputs become constant Tensors
    (of the first Tensor input's dtype, for numbers)."""
    first = next((x for x in inputs if isinstance(x, Tensor)), None)
    if first is None:  # arrays only (a rule's gradient): numbers take the arrays' float dtype
        floats = [x.dtype for x in inputs if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f"]
        first = _tensor_of(np.zeros((), np.result_type(*floats) if floats else np.float32))
    return _apply(fn_cls, *[x if isinstance(x, Tensor) else first._lift(x) for x in inputs], **kwargs)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller() -> str:
    """``file:line`` of the first frame outside this package: the user's line that made an op."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]


def _user_line() -> str:
    """``file:line`` of the first frame outside this package and numpy: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith((_PACKAGE_DIR + os.sep, _NUMPY_DIR + os.sep)):
            break
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _cut_message(t: Tensor, doing: str) -> str:
    why = "requires grad" if t.requires_grad else "carries a forward-mode tangent (func.jvp, jacfwd)"
    return (
        f"{_user_line()}: a Tensor of shape {t.shape} that {why} reached numpy as a plain array; "
        f"{doing} would cut the graph (the result would be a constant to autograd). For its values "
        f"(plotting, printing), use t.detach() or t.data; to keep the graph, stay with Tensors: "
        f"numpy functions on Tensors record, and so do np.array([...]), np.r_ and np.c_ of Tensors"
    )


def _norm_index(index) -> tuple:
    """An index as a tuple whose integer arrays are numpy arrays (lists and Tensors
    included), so backward can tell basic slicing from a scatter-add."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            if not np.all(i.data == np.round(i.data)):
                raise ops.ShapeError(f"index: a Tensor used as an index must hold integers, got {i.data}")
            i = i.data.astype(np.intp)
        elif isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype.kind not in "biu":
            raise ops.ShapeError(
                f"index: arrays used as indices must be integers or booleans, got dtype {i.dtype}"
            )
        out.append(i)
    return tuple(out)


_new_tensor = object.__new__


def _tensor_of(data: np.ndarray, requires_grad: bool = False, ctx=None, name: str | None = None) -> Tensor:
    """A Tensor around an array that is already right (``Tensor(...)`` without its checks)."""
    t = _new_tensor(Tensor)
    t.data, t.grad, t.name, t.requires_grad, t._ctx = data, None, name, requires_grad, ctx
    return t


class Tensor:
    """An n-dimensional array of floats that records the graph of ops made from it.

    >>> a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (a * a).sum().backward()
    >>> a.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_ctx", "__weakref__")
    __hash__ = object.__hash__  # comparisons give arrays (below); tensors hash by identity

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # backward keys its dicts by tensor, so every tensor hashes by identity, also in a
        # subclass (one that defines __eq__ would otherwise lose its hash)
        cls.__hash__ = object.__hash__

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None) -> None:
        # (_tensor_of and _apply, the hot path, fill these fields directly: keep them in step)
        self.data: np.ndarray = _as_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self.name: str | None = name
        self._ctx: ops.Function | None = None

    # ------------------------------------------------------------ factories
    @classmethod
    def zeros(cls, *shape, requires_grad: bool = False, dtype=np.float32, name: str | None = None) -> Tensor:
        """A tensor of zeros, e.g. ``Tensor.zeros(2, 3)`` or ``Tensor.zeros((2, 3))``."""
        return cls(np.zeros(_shape_args(shape), dtype=dtype), requires_grad=requires_grad, name=name)

    @classmethod
    def ones(cls, *shape, requires_grad: bool = False, dtype=np.float32, name: str | None = None) -> Tensor:
        """A tensor of ones."""
        return cls(np.ones(_shape_args(shape), dtype=dtype), requires_grad=requires_grad, name=name)

    @classmethod
    def randn(
        cls,
        *shape,
        requires_grad: bool = False,
        dtype=np.float32,
        name: str | None = None,
        rng: np.random.Generator | None = None,
    ) -> Tensor:
        """Standard normal samples, from ``rng`` or else numpy's global random state."""
        shape = _shape_args(shape)
        draw = rng.standard_normal(shape) if rng is not None else np.random.standard_normal(shape)
        return cls(np.asarray(draw, dtype=dtype), requires_grad=requires_grad, name=name)

    # ------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements."""
        return self.data.size

    @property
    def op(self) -> str | None:
        """The name of the op that made this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from (empty for a leaf)."""
        return () if self._ctx is None else self._ctx.parents

    @property
    def is_leaf(self) -> bool:
        """True for a tensor no op made (an input or a parameter)."""
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor has an item; this one has shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    def __bool__(self) -> bool:
        """The truth of a one-element tensor, as numpy and PyTorch; more elements are ambiguous
        (an error, not a silent True: ``if t:`` on a batch means ``.any()`` or ``.all()``)."""
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous: use (t > 0).any() "
                f"or .all(), or t.item() for one element"
            )
        return bool(self.data)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        """The rows, ``t[0]``, ``t[1]`` ... (each a recorded index op), as numpy and PyTorch
        iterate: ``for row in t``, ``a, b = t``, ``list(t)``."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if type(self.data) is not np.ndarray:  # traced by jit: its __array__ names the user's line
            return self.data.__array__(dtype)
        """The data for numpy (plotting, printing, ``np.asarray``) of a Tensor that is not part
        of a graph; for one that is (it requires grad, or carries a forward-mode tangent),
        an error naming the line: a plain array would cut the graph, as PyTorch refuses
        ``.numpy()`` on a tensor that requires grad. Take ``t.detach()`` or ``t.data``."""
        if self.requires_grad or MODE.get().fw and numpy_api.in_graph(self):
            raise numpy_api.GraphCutError(_cut_message(self, "converting it to a numpy array"))
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __float__(self) -> float:
        # float(t) and t.item() are the explicit ways to a value (as in PyTorch); numpy's
        # ``array[i] = t`` also lands here, and would cut the graph: that is an error
        if self.requires_grad or MODE.get().fw:
            frame = sys._getframe(1)
            if frame.f_code.co_code[frame.f_lasti] == _STORE_SUBSCR and numpy_api.in_graph(self):
                raise numpy_api.GraphCutError(_cut_message(self, "writing it into a numpy array"))
        if type(self.data) is not np.ndarray:  # traced by jit: its error says what the user wrote
            return float(self.data)
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = []
        if self.data.dtype != np.float32:
            extra.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extra.append(f"op={self._ctx.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name is not None:
            extra.append(f"name={self.name!r}")
        return "Tensor(" + ", ".join([body, *extra]) + ")"

    # ------------------------------------------------------------ autodiff
    def backward(self, grad=None) -> None:
        """Backpropagate from this tensor; see :mod:`tinygrad_mlp.autograd`.

        ``grad`` is dL/d(self); it may be left out for a one-element tensor (then 1).
        Afterwards every tensor of the graph that requires grad holds ``.grad``.
        """
        autograd.backward(self, grad)

    # ------------------------------------------------------------ operators
    def _lift(self, other) -> Tensor:
        """``other`` as a Tensor: a number takes this tensor's dtype (it never promotes)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, _NUMBER):
            return _tensor_of(np.asarray(other, dtype=self.data.dtype))
        if isinstance(other, (list, tuple)):  # a list holding Tensors is stacked, recorded
            built = numpy_api.construct.build(other)
            if isinstance(built, Tensor):
                return built
        return Tensor(other)

    def __add__(self, other) -> Tensor:
        return _apply(ops.Add, self, self._lift(other))

    def __radd__(self, other) -> Tensor:
        return _apply(ops.Add, self._lift(other), self)

    def __sub__(self, other) -> Tensor:
        return _apply(ops.Sub, self, self._lift(other))

    def __rsub__(self, other) -> Tensor:
        return _apply(ops.Sub, self._lift(other), self)

    def __mul__(self, other) -> Tensor:
        return _apply(ops.Mul, self, self._lift(other))

    def __rmul__(self, other) -> Tensor:
        return _apply(ops.Mul, self._lift(other), self)

    def __truediv__(self, other) -> Tensor:
        return _apply(ops.Div, self, self._lift(other))

    def __rtruediv__(self, other) -> Tensor:
        return _apply(ops.Div, self._lift(other), self)

    def __pow__(self, other) -> Tensor:
        if isinstance(other, _NUMBER):  # a constant exponent: the simpler, cheaper rule
            return _apply(ops.PowConst, self, p=float(other))
        return _apply(ops.Pow, self, self._lift(other))

    def __rpow__(self, other) -> Tensor:
        return _apply(ops.Pow, self._lift(other), self)

    def __matmul__(self, other) -> Tensor:
        return _apply(ops.MatMul, self, self._lift(other))

    def __rmatmul__(self, other) -> Tensor:
        return _apply(ops.MatMul, self._lift(other), self)

    def __neg__(self) -> Tensor:
        return _apply(ops.Neg, self)

    def __getitem__(self, index) -> Tensor:
        return _apply(ops.Index, self, index=_norm_index(index))

    def __setitem__(self, index, value) -> None:
        """``t[index] = value``, recorded as an op (``setitem``), as PyTorch records an
        in-place write: from now on ``t`` stands for the new values, and the gradient
        flows to the old ``t`` (except at ``index``) and to ``value`` (at ``index``).
        The arrays are never written in place, so what earlier ops saw stays as it was;
        an op that used ``t`` before the assignment makes backward refuse (as PyTorch
        does). A leaf that requires grad cannot be assigned into: copy it first."""
        mode = MODE.get()
        if self._ctx is None and self.requires_grad and mode.enabled:
            raise RuntimeError(
                f"setitem: cannot assign into a leaf tensor that requires grad (shape {self.shape}); "
                f"assign into a copy (out = x.copy(); out[i] = v) or do it under no_grad()"
            )
        old = _tensor_of(self.data, self.requires_grad, self._ctx, self.name)
        for level in mode.fw:  # the tangent so far belongs to the old values
            if id(self) in level:
                level[id(old)] = (old, level.pop(id(self))[1])
        new = _apply(ops.SetItem, old, self._lift(value), index=_norm_index(index))
        self.data = new.data
        if new._ctx is not None or self._ctx is not None:
            self._ctx, self.requires_grad = new._ctx, new.requires_grad
        for level in mode.fw:
            if id(new) in level:
                level[id(self)] = (self, level.pop(id(new))[1])
        autograd.MUTATED[0] += 1

    # ------------------------------------------------------------ numpy on Tensors
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy ufuncs on Tensors (``np.exp(t)``, ``array + t``) record the matching op;
        comparisons give numpy bool arrays. See ``numpy_api.py``."""
        return numpy_api.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """numpy functions on Tensors (``np.dot``, ``np.sum``, ``np.where`` ...) record the
        matching op. See ``numpy_api.py``."""
        return numpy_api.array_function(func, types, args, kwargs)

    def __eq__(self, other) -> np.ndarray:  # type: ignore[override]
        return self.data == _plain(other)

    def __ne__(self, other) -> np.ndarray:  # type: ignore[override]
        return self.data != _plain(other)

    def __lt__(self, other) -> np.ndarray:
        return self.data < _plain(other)

    def __le__(self, other) -> np.ndarray:
        return self.data <= _plain(other)

    def __gt__(self, other) -> np.ndarray:
        return self.data > _plain(other)

    def __ge__(self, other) -> np.ndarray:
        return self.data >= _plain(other)

    def __abs__(self) -> Tensor:
        return _apply(ops.Abs, self)

    def abs(self) -> Tensor:
        """|x|, elementwise (gradient 0 at 0, as PyTorch)."""
        return _apply(ops.Abs, self)

    def copy(self) -> Tensor:
        """A copy, recorded as an op (numpy's ``a.copy()``; PyTorch's ``clone()``)."""
        return _apply(ops.Copy, self)

    clone = copy

    def astype(
        self, dtype, order: str = "K", casting: str = "unsafe", subok: bool = True, copy: bool = True
    ) -> Tensor:
        """The values in another float dtype, recorded (the gradient is cast back); ndarray's
        signature: ``copy=False`` with the same dtype gives the Tensor itself, as numpy
        (``out.astype(x.dtype, copy=False)`` closes CS231n's layers)."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype: a Tensor holds floats; got dtype {dtype}")
        if order != "K" or casting != "unsafe":
            raise TypeError(f"astype: order={order!r} and casting={casting!r} are not supported on Tensors")
        if not copy and dtype == self.data.dtype:
            return self
        return _apply(ops.Cast, self, dtype=dtype)

    def dot(self, other) -> Tensor:
        """numpy's ``a.dot(b)`` for operands of any number of dimensions, as ``np.dot``: a
        product for 0-D, the inner product for 1-D, a matmul for 2-D, and for N-D the sum over
        the last axis of ``a`` and the second-to-last of ``b``."""
        return numpy_api.dot(self, other)

    def flatten(self) -> Tensor:
        """The elements as a 1-D tensor (a reshape)."""
        return self.reshape(-1)

    ravel = flatten

    # ------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        """e ** x, elementwise."""
        return _apply(ops.Exp, self)

    def log(self) -> Tensor:
        """Natural log, elementwise."""
        return _apply(ops.Log, self)

    def sqrt(self) -> Tensor:
        """Square root, elementwise."""
        return _apply(ops.Sqrt, self)

    def relu(self) -> Tensor:
        """max(x, 0), elementwise."""
        return _apply(ops.ReLU, self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)), elementwise; never overflows."""
        return _apply(ops.Sigmoid, self)

    def tanh(self) -> Tensor:
        """tanh(x), elementwise."""
        return _apply(ops.Tanh, self)

    # ------------------------------------------------------------ reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (None: all; an int, negative, or a tuple)."""
        return _apply(ops.Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``: built from sum, times 1/n."""
        total = self.sum(axis=axis, keepdims=keepdims)
        n = self.data.size // max(total.data.size, 1) if self.data.size else 0
        return total * (1.0 / n if n else np.nan)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; the gradient is split equally among tied maxima."""
        return _apply(ops.Max, self, axis=axis, keepdims=keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Minimum over ``axis``, as -max(-x): the gradient is split equally among tied minima."""
        return -((-self).max(axis=axis, keepdims=keepdims))

    def clip(self, min=None, max=None) -> Tensor:  # noqa: A002 (numpy's and PyTorch's names)
        """Values limited to [min, max] (numbers or arrays): a select, so the gradient is 1
        inside the range, edges included (as PyTorch's clamp), and 0 outside."""
        lo = -np.inf if min is None else min
        hi = np.inf if max is None else max
        inside = (self.data >= lo) & (self.data <= hi)
        limit = np.clip(self.data, lo, hi)
        return _apply(ops.Where, self, Tensor(np.asarray(limit, dtype=self.data.dtype)), cond=inside)

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along ``axis``, shifted by the max so it never overflows."""
        return _apply(ops.Softmax, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - log(sum(exp(x))) along ``axis``, shifted by the max so it never overflows."""
        return _apply(ops.LogSoftmax, self, axis=axis)

    # ------------------------------------------------------------ shapes
    def reshape(self, *shape) -> Tensor:
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one dimension may be -1."""
        return _apply(ops.Reshape, self, shape=_shape_args(shape))

    def transpose(self, *axes) -> Tensor:
        """Permute the axes as numpy does; with no axes, reverse them."""
        axes = _shape_args(axes)
        return _apply(ops.Transpose, self, axes=axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Swap two axes (what ``torch.transpose(dim0, dim1)`` does)."""
        perm = list(range(self.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return self.transpose(*perm)

    @property
    def T(self) -> Tensor:
        """The axes reversed, as ``numpy.ndarray.T``."""
        return _apply(ops.Transpose, self, axes=None)

    # ---- shape methods (numpy breadth)
    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor:
        """The axes of length 1 removed (all of them, or ``axis``), as ``ndarray.squeeze``."""
        return numpy_api.shape._squeeze(self, axis)

    def repeat(self, repeats, axis: int | None = None) -> Tensor:
        """Each element repeated ``repeats`` times (a number, or one per element) along
        ``axis`` (None: of the flattened tensor), as ``ndarray.repeat`` (not torch's repeat,
        which is ``np.tile``)."""
        return numpy_api.shape._repeat(self, repeats, axis)

    def take(self, indices, axis: int | None = None, mode: str = "raise") -> Tensor:
        """The elements at ``indices`` along ``axis`` (None: of the flattened tensor)."""
        return numpy_api.shape._take(self, indices, axis, mode=mode)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """The diagonal of the two axes (``offset`` above it when positive), last, as numpy."""
        return numpy_api.shape._diagonal(self, offset, axis1, axis2)

    def sort(self, axis: int = -1) -> None:
        """Sort in place along ``axis``, as ``ndarray.sort`` (``np.sort(t)`` gives a sorted
        copy). Recorded as an assignment, so the gradient flows through the permutation; a
        leaf that requires grad cannot be sorted in place (sort a copy)."""
        (old,) = numpy_api._unalias((self,), self)
        self[...] = numpy_api.shape._sort(old, axis)

    def argsort(self, axis: int = -1) -> np.ndarray:
        """The permutation that sorts along ``axis`` (stable: ties keep their order); an
        integer array, no gradient."""
        return np.argsort(self.data, axis=axis, kind="stable")

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        """The index of the largest value (over ``axis``); integers, no gradient."""
        return np.argmax(self.data, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        """The index of the smallest value (over ``axis``); integers, no gradient."""
        return np.argmin(self.data, axis=axis, keepdims=keepdims)

    # ---- elementwise and reduction methods (numpy breadth)
    def __mod__(self, other) -> Tensor:
        """``a % b``: the remainder with the sign of b (numpy's remainder, Python's %)."""
        return _apply(ops.Remainder, self, self._lift(other))

    def __rmod__(self, other) -> Tensor:
        return _apply(ops.Remainder, self._lift(other), self)

    def __floordiv__(self, other) -> Tensor:
        """``a // b``: floor(a / b), piecewise constant (gradient 0)."""
        return _apply(ops.FloorDivide, self, self._lift(other))

    def __rfloordiv__(self, other) -> Tensor:
        return _apply(ops.FloorDivide, self._lift(other), self)

    def log_sigmoid(self) -> Tensor:
        """log(sigmoid(x)), elementwise, stable for every x (its gradient sigmoid(-x) stays
        finite where log(sigmoid(x)) would be log(0)); torch's logsigmoid."""
        return _apply(ops.LogSigmoid, self)

    def round(self, decimals: int = 0) -> Tensor:
        """Rounded to ``decimals`` places, halves to even (numpy's ``a.round``); gradient 0."""
        return _apply(ops.Round, self, decimals=decimals)

    def prod(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Product over ``axis``; the gradient is right with zeros in the tensor (no division)."""
        return _apply(ops.Prod, self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis: int | None = None) -> Tensor:
        """Running sums along ``axis`` (None: of the flattened tensor), as numpy's ``a.cumsum``."""
        return numpy_api.reductions.cumsum(self, axis)

    def cumprod(self, axis: int | None = None) -> Tensor:
        """Running products along ``axis`` (None: of the flattened tensor); zeros are right."""
        return numpy_api.reductions.cumprod(self, axis)

    def var(self, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Variance over ``axis``, divided by n - ddof (numpy's ``a.var``; torch's ``correction``)."""
        return numpy_api.reductions.var(self, axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Standard deviation over ``axis``: the square root of :meth:`var`."""
        return numpy_api.reductions.std(self, axis, ddof=ddof, keepdims=keepdims)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """The sum of a diagonal (numpy's ``a.trace``): ``offset`` above the main one."""
        return numpy_api.reductions.trace(self, offset, axis1, axis2)


ops.core._engine_apply = _apply_lifted  # Function.apply, without an import on every call
autograd._TENSOR[:] = [Tensor, lambda t, dtype: _apply(ops.Cast, t, dtype=dtype)]
