"""Recording a step: a traced array type that runs numpy for real and writes down each call.

While a step is traced, the arrays it reads from outside (arguments, parameters, optimizer
state) are wrapped in :class:`Var`. A ``Var`` holds its real array (``value``) and answers
numpy's protocols (``__array_ufunc__``, ``__array_function__``) and the array methods: each
call runs numpy on the real arrays, as the eager step would, and appends one :class:`Instr`
to the trace. So the program is recorded at the level the rules are written in, numpy
calls, from the rules themselves: an op's ``forward`` and ``vjp`` and the optimizer's
``step`` run unchanged on ``Var`` arrays (as JAX traces ``jnp`` code, and as HIPS autograd
records numpy calls on its boxes). Nothing is written twice.

What cannot be recorded is an error (:class:`TraceError`), never a value frozen silently:
Python that needs a traced value (``float(t)``, ``t.item()``, ``bool(t)``, ``if t > 0``,
``np.asarray(t)``) in the user's code names the user's line, as JAX's concretization
errors do. A branch on a traced value inside the engine's own rules (cross-entropy's checks
of its class indices, the sigmoid slope's ``max(s) > 7/8``) is recorded as a guard: the
compiled step checks it again at every call and, where it no longer holds, compiles the
other branch (as TorchDynamo's guards do). A branch on a floating-point exception (the
sigmoid's ``exp(-a)`` overflowing, :mod:`tinygrad_mlp._fpe`) is recorded as a trap on that
call (:meth:`Var.trapped`): the same guard, at no cost.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

import numpy as np

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_JIT = os.path.dirname(os.path.abspath(__file__))


class TraceError(RuntimeError):
    """The step did something the tracer cannot record or replay; the message names the line."""


class ConcretizationError(TraceError):
    """Python needed the value of a traced array (``float(t)``, ``if t > 0``) inside a jitted step."""


@dataclass(eq=False)
class Instr:
    """One recorded numpy call. ``kind``: "call" (``fn(*args, **kwargs)``), "method"
    (``args[0].<name>(*args[1:], **kwargs)``), "getitem", "setitem" (``args[0][args[1]] =
    args[2]``) or "guard" (``bool(args[0])`` must be ``kwargs['expect']``). ``out``: the Var
    written; ``inplace``: it existed before (``out=`` or ``+=``) rather than being made here.
    ``views``: the input Vars whose memory ``out`` shares (numpy views). ``op``, ``phase`` and
    ``line`` say where it came from (the engine op, "forward"/"vjp"/"step", the user's line)."""

    kind: str
    name: str
    fn: object
    args: tuple
    kwargs: dict
    out: Var | None
    inplace: bool = False
    views: tuple = ()
    scalar: bool = False  # numpy returned a scalar: the replay makes it a 0-d array again
    op: str = ""
    phase: str = ""
    line: str = ""
    # a call the rule ran with a floating-point exception trapped (tinygrad_mlp._fpe): the
    # exception ("over", "invalid") and whether the call ran clean when recorded; the compiled
    # step keeps the trap as the guard of the branch the rule took
    trap: str = ""
    clean: bool = True

    def inputs(self) -> list[Var]:
        """The Vars this instruction reads (an in-place one reads its output too)."""
        found: list[Var] = []
        _collect(self.args, found)
        _collect(tuple(self.kwargs.values()), found)
        if (
            self.inplace
            and self.out is not None
            and self.kind != "setitem"
            and not any(x is self.out for x in found)
        ):
            found.append(self.out)
        return found


def _collect(obj, found: list) -> None:
    if isinstance(obj, Var):
        if not any(x is obj for x in found):  # (== on a Var is a traced comparison)
            found.append(obj)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _collect(x, found)
    elif isinstance(obj, dict):
        for x in obj.values():
            _collect(x, found)


@dataclass
class Trace:
    """The program being recorded: instructions in order, and a counter for names."""

    instrs: list[Instr] = field(default_factory=list)
    count: int = 0
    thread: int = 0


_ACTIVE: list[Trace | None] = [None]
LOCK = threading.RLock()


def _trace() -> Trace:
    trace = _ACTIVE[0]
    if trace is None or trace.thread != threading.get_ident():
        raise TraceError(
            "jit: a traced array was used outside the step that traced it (kept in a global, "
            "or used by another thread); return the values you need from the step instead"
        )
    return trace


def user_line() -> str:
    """``file:line: code`` of the first frame outside the package: the user's line."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    import linecache

    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f": {code}" if code else "")


def _origin() -> tuple[str, str]:
    """The engine op and phase the current numpy call belongs to, from the calling frames:
    ("sigmoid", "forward"), ("matmul", "vjp"), ("SGD", "step"), or ("", "user")."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_name
        if name in ("forward", "vjp", "step"):
            owner = frame.f_locals.get("self")
            if owner is not None and not os.path.abspath(frame.f_code.co_filename).startswith(_JIT):
                label = getattr(owner, "name", None) if name != "step" else None
                return (label or type(owner).__name__), name
        if name == "_backprop":
            return "backward", "vjp"
        frame = frame.f_back
    return "", "user"


def _unwrap(obj):
    """``obj`` with every Var replaced by its real array (in tuples, lists and dicts too);
    a Python number the tracer follows (:attr:`Var.weak`) is that number again."""
    if isinstance(obj, Var):
        return obj.value.item() if obj.weak else obj.value
    if isinstance(obj, tuple):
        return tuple(_unwrap(x) for x in obj)
    if isinstance(obj, list):
        return [_unwrap(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _has_tensor(objs) -> bool:
    return any(hasattr(x, "_ctx") and hasattr(x, "requires_grad") for x in objs)


def _record(kind, name, fn, args, kwargs, result, out=None) -> Var:
    """Append one instruction; wrap ``result`` (the real answer) in a new Var unless the
    call wrote into ``out``. A result sharing memory with an input Var records that."""
    trace = _trace()
    op, phase = _origin()
    scalar = False
    if out is None:
        if not isinstance(result, np.ndarray):
            if isinstance(result, (np.generic, int, float, bool)):
                result, scalar = np.asarray(result), True
            else:
                raise TraceError(
                    f"jit: {name} returned {type(result).__name__}, which the tracer cannot record"
                )
        out = Var(result)
        ins: list[Var] = []
        _collect((args, kwargs), ins)
        views = tuple(v for v in ins if np.may_share_memory(v.value, result))
        inplace = False
    else:
        views, inplace = (), True
    trace.instrs.append(
        Instr(
            kind,
            name,
            fn,
            args,
            kwargs,
            out,
            inplace,
            views,
            scalar,
            op,
            phase,
            user_line() if phase == "user" else "",
        )
    )
    return out


def _ufunc_name(ufunc, method: str) -> str:
    return f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")


class Var:
    """A traced array: the real array (``value``) of one buffer of the recorded program.

    In-place numpy calls on it (``out=``, ``+=``) write its array and are recorded as writes
    to the same buffer, so the optimizer's in-place updates are traced as they run."""

    __slots__ = ("value", "label", "weak", "__weakref__")
    _traced = True
    __array_priority__ = 1000

    def __init__(self, value: np.ndarray, label: str = "", weak: bool = False) -> None:
        self.value = value
        self.label = label
        # A Python number followed by the tracer (an optimizer's step count, and Python
        # arithmetic on it): Python's operators on it stay Python's, so numpy meets a Python
        # number where the eager step had one (which numpy casts to the array's dtype).
        self.weak = weak

    # ------------------------------------------------------------ what is known without values
    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    itemsize = property(lambda self: self.value.itemsize)
    nbytes = property(lambda self: self.value.nbytes)
    flags = property(lambda self: self.value.flags)

    @property
    def base(self):
        """Not None where numpy's array is a view (autograd copies such a gradient)."""
        return None if self.value.base is None else True

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"Traced<{self.value.dtype}{list(self.value.shape)}>"

    __str__ = __repr__

    # ------------------------------------------------------------ numpy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _has_tensor(inputs):
            return NotImplemented  # the Tensor's own protocol records the op
        out = kwargs.pop("out", None)
        if isinstance(out, tuple):
            if len(out) != 1:
                raise TraceError(
                    f"jit: {ufunc.__name__} with several outputs is not supported in a traced step"
                )
            out = out[0]
        if out is not None and not isinstance(out, Var):
            raise TraceError(
                f"jit: np.{ufunc.__name__} writes into an array made outside the traced values "
                f"(out= a plain numpy array) at {user_line()}: a side effect the compiled step cannot replay"
            )
        if method == "at":  # np.add.at(a, index, b): an in-place write into a, as a scatter-add
            target = inputs[0]
            if not isinstance(target, Var) or out is not None:
                raise TraceError(
                    f"jit: np.{ufunc.__name__}.at into an array made outside the traced values at "
                    f"{user_line()}: a side effect the compiled step cannot replay"
                )
            ufunc.at(*_unwrap(inputs), **_unwrap(kwargs))
            return _record("call", _ufunc_name(ufunc, method), ufunc.at, inputs, kwargs, None, target)
        real = getattr(ufunc, method)(
            *_unwrap(inputs), **_unwrap(kwargs), **({"out": out.value} if out is not None else {})
        )
        if method not in ("__call__", "reduce", "accumulate", "outer"):
            raise TraceError(f"jit: np.{ufunc.__name__}.{method} is not supported in a traced step")
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return _record("call", _ufunc_name(ufunc, method), fn, inputs, kwargs, real, out)

    def __array_function__(self, func, types, args, kwargs):
        if _has_tensor(args):
            return NotImplemented
        if func in (np.array2string, np.array_repr, np.array_str):
            return repr(self)
        if "out" in kwargs and kwargs["out"] is not None:
            raise TraceError(f"jit: np.{func.__name__}(..., out=) is not supported in a traced step")
        if func is np.copyto:  # np.copyto(dst, src, where=): an in-place write into dst
            dst = args[0] if args else kwargs.get("dst")
            if not isinstance(dst, Var):
                raise TraceError(
                    f"jit: np.copyto into an array made outside the traced values at {user_line()}: "
                    f"a side effect the compiled step cannot replay"
                )
            func(*_unwrap(args), **_unwrap(kwargs))
            return _record("call", "np.copyto", func, args, kwargs, None, dst)
        if func is np.shape:
            return self.value.shape
        if func is np.ndim:
            return self.value.ndim
        real = func(*_unwrap(args), **_unwrap(kwargs))
        if isinstance(real, (tuple, list)):
            return type(real)(
                _record(
                    "getitem",
                    "getitem",
                    None,
                    (_record("call", f"np.{func.__name__}", func, args, kwargs, real),),
                    {},
                    r,
                )
                for r in real
            )  # pragma: no cover (split/meshgrid: not used by the rules)
        return _record("call", f"np.{func.__name__}", func, args, kwargs, real)

    @classmethod
    def trapped(cls, kind: str, fn, args: tuple, kwargs: dict):
        """:func:`tinygrad_mlp._fpe.trapped` on traced arrays: run and record the call, and
        mark it with its trap and whether it ran clean (the branch the rule takes next)."""
        from .. import _fpe

        trace = _trace()
        start = len(trace.instrs)
        result = _fpe.run(kind, fn, args, kwargs)
        if result is None:  # it raised inside the protocol, before it was recorded
            out = kwargs.get("out")
            out = out[0] if isinstance(out, tuple) else out
            rest = {k: v for k, v in kwargs.items() if k != "out"}
            if isinstance(out, Var):  # (written already: record it without running it twice)
                _record("call", _ufunc_name(fn, "__call__"), fn, args, rest, None, out)
            else:
                with np.errstate(**{kind: "ignore"}):
                    fn(*args, **kwargs)
        if len(trace.instrs) != start + 1 or trace.instrs[-1].kind != "call":  # pragma: no cover
            raise TraceError(f"jit: a trapped {getattr(fn, '__name__', fn)} call recorded no single call")
        trace.instrs[-1].trap, trace.instrs[-1].clean = kind, result is not None
        return result

    def __array__(self, dtype=None, copy=None):
        raise _concrete("converted to a numpy array (np.asarray, np.array, an index or a plain numpy array)")

    # ------------------------------------------------------------ Python needing a value
    def __bool__(self) -> bool:
        caller = os.path.abspath(sys._getframe(1).f_code.co_filename)
        if caller.startswith(_PACKAGE + os.sep) and not caller.startswith(_JIT):
            # a branch inside the engine's own code: specialise on it, checked at every call
            answer = bool(self.value)
            op, phase = _origin()
            _trace().instrs.append(
                Instr("guard", "guard", None, (self,), {"expect": answer}, None, op=op, phase=phase)
            )
            return answer
        raise _concrete("used as a condition (if, while, and/or, bool())")

    def __float__(self):
        raise _concrete("converted to a Python float")

    def __int__(self):
        raise _concrete("converted to a Python int")

    def __index__(self):
        raise _concrete("used as an index")

    def __complex__(self):
        raise _concrete("converted to a Python complex")

    def item(self, *args):
        """Always an error inside a traced step: the value is not known when it is recorded."""
        raise _concrete("read with .item()")

    def tolist(self):
        """Always an error inside a traced step."""
        raise _concrete("read with .tolist()")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------ methods, recorded as called
    def _method(self, name, *args, **kwargs):
        if kwargs.get("out") is not None:
            raise TraceError(f"jit: .{name}(out=) is not supported in a traced step")
        real = getattr(self.value, name)(*_unwrap(args), **_unwrap(kwargs))
        return _record("method", name, name, (self, *args), kwargs, real)

    def dot(self, other):
        """``a.dot(b)``, recorded as ``np.dot``."""
        return np.dot(self, other)

    @property
    def T(self):
        """The axes reversed, recorded."""
        return self._method("transpose")

    def __getitem__(self, index):
        real = self.value[_unwrap(index)]
        return _record("getitem", "getitem", None, (self, index), {}, real)

    def __setitem__(self, index, value) -> None:
        self.value[_unwrap(index)] = _unwrap(value)
        _record("setitem", "setitem", None, (self, index, value), {}, None, out=self)

    # ------------------------------------------------------------ operators, as numpy's ufuncs
    def _binary(ufunc, reflected=False, inplace=False):
        def method(self, other):
            if _has_tensor((other,)):
                return NotImplemented
            if self.weak and (type(other) in (int, float) or (type(other) is Var and other.weak)):
                return _python_op(ufunc, self, other, reflected)
            if inplace:
                return ufunc(self, other, out=(self,))
            return ufunc(other, self) if reflected else ufunc(self, other)

        return method

    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _binary(np.add, inplace=True)
    __sub__, __rsub__, __isub__ = (
        _binary(np.subtract),
        _binary(np.subtract, True),
        _binary(np.subtract, inplace=True),
    )
    __mul__, __rmul__, __imul__ = (
        _binary(np.multiply),
        _binary(np.multiply, True),
        _binary(np.multiply, inplace=True),
    )
    __truediv__, __rtruediv__ = _binary(np.divide), _binary(np.divide, True)
    __itruediv__ = _binary(np.divide, inplace=True)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _binary(np.power, True), _binary(np.power, inplace=True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __floordiv__, __mod__ = _binary(np.floor_divide), _binary(np.remainder)
    __lt__, __le__, __gt__, __ge__ = (
        _binary(np.less),
        _binary(np.less_equal),
        _binary(np.greater),
        _binary(np.greater_equal),
    )
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)  # type: ignore[assignment]
    __and__, __or__, __xor__ = _binary(np.bitwise_and), _binary(np.bitwise_or), _binary(np.bitwise_xor)
    __hash__ = object.__hash__
    del _binary

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.abs(self)

    def __invert__(self):
        return np.invert(self)


_PYTHON_OPS = {
    np.add: ("+", lambda a, b: a + b),
    np.subtract: ("-", lambda a, b: a - b),
    np.multiply: ("*", lambda a, b: a * b),
    np.divide: ("/", lambda a, b: a / b),
    np.power: ("**", lambda a, b: a**b),
    np.floor_divide: ("//", lambda a, b: a // b),
    np.remainder: ("%", lambda a, b: a % b),
    np.less: ("<", lambda a, b: a < b),
    np.less_equal: ("<=", lambda a, b: a <= b),
    np.greater: (">", lambda a, b: a > b),
    np.greater_equal: (">=", lambda a, b: a >= b),
    np.equal: ("==", lambda a, b: a == b),
    np.not_equal: ("!=", lambda a, b: a != b),
}


def _python_op(ufunc, var: Var, other, reflected: bool) -> Var:
    """Python arithmetic on followed Python numbers, recorded as Python arithmetic."""
    if ufunc not in _PYTHON_OPS:
        raise TraceError(f"jit: {ufunc.__name__} on a Python number the tracer follows is not supported")
    symbol, op = _PYTHON_OPS[ufunc]
    left, right = (other, var) if reflected else (var, other)
    result = op(_unwrap(left), _unwrap(right))
    out = Var(np.asarray(result), weak=True)
    origin, phase = _origin()
    _trace().instrs.append(Instr("python", symbol, op, (left, right), {}, out, op=origin, phase=phase))
    return out


def _recorded_method(name: str):
    def method(self, *args, **kwargs):
        return self._method(name, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``ndarray.{name}``, run and recorded."
    return method


for _name in [
    *("sum", "max", "min", "mean", "prod", "all", "any", "argmax", "argmin"),
    *("reshape", "transpose", "swapaxes", "squeeze", "ravel", "flatten", "astype", "copy"),
]:
    setattr(Var, _name, _recorded_method(_name))


def _register() -> None:
    from .. import _fpe

    if Var not in _fpe.TRACED:
        _fpe.TRACED.append(Var)


_register()


def _concrete(what: str) -> ConcretizationError:
    return ConcretizationError(
        f"jit: a traced value was {what} at {user_line()}. Inside a jitted step values are recorded, "
        f"not known, so Python cannot branch on them or read them (as in JAX). Return the value from "
        f"the step and read it after the call, or move this line out of the step."
    )


def is_traced(x) -> bool:
    """True for a traced array."""
    return type(x) is Var
