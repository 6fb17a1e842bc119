"""What learners write, as one shape the check drives: a *subject*.

- an object whose ``forward`` (any method name) returns an output (or several) and
  whose ``backward`` takes one ``dout`` per output, or, for a whole network, the same
  inputs as the forward (``gradient(x, t)``);
- a function pair ``(f_forward, f_backward)``: ``f_forward(*inputs) -> (out, cache)``
  (or ``(out1, out2, cache)``), ``f_backward(dout, cache)`` (one dout per output);
- a loss function ``f(*inputs) -> (loss, grads)`` (``svm_loss(x, y)``), or a bound method
  of a model returning ``(loss, grads)`` with the grads in a dict by parameter name.

Where gradients are found: returned by the backward (one per float array input, a
tuple, or a dict by name), in ``d<name>`` attributes (``W`` -> ``dW``), in a ``grads``
list or dict next to a ``params`` one (matched by position or key), or, for an input,
stored on the object as ``d<input name>`` (``self.dx``) by a backward that returns None.

Paths name the arrays an object holds (``W``, ``layer1.W``, ``layers.0.b``,
``params.W1``); one array under two paths is one parameter, named by the first.
"""

from __future__ import annotations

import copy
import inspect
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tensor import Tensor


class LayerCheckError(ValueError):
    """A layer or inputs ``check_backward`` cannot check; the message says what and why."""


# ---------------------------------------------------------------- finding arrays by path

_LEAF_TYPES = (np.ndarray, np.generic, Tensor, str, bytes, int, float, complex, bool, type(None))


def descend(value) -> bool:
    """Whether to look for parameters inside ``value``: lists, tuples, dicts and objects
    of user classes; never modules, classes, functions, numpy or Tensor objects."""
    if isinstance(value, (list, tuple, dict)):
        return True
    if isinstance(value, (*_LEAF_TYPES, type, types.ModuleType, types.FunctionType, types.MethodType)):
        return False
    module = type(value).__module__ or ""
    return hasattr(value, "__dict__") and module.split(".")[0] not in ("numpy", "builtins")


def children(obj) -> Iterator[tuple[str, object]]:
    """(key, value) of what a list, tuple, dict or object holds."""
    if isinstance(obj, (list, tuple)):
        yield from ((str(i), v) for i, v in enumerate(obj))
    elif isinstance(obj, dict):
        yield from ((k, v) for k, v in obj.items() if isinstance(k, str) and "." not in k)
    else:
        yield from ((k, v) for k, v in vars(obj).items() if not k.startswith("__"))


def float_arrays(obj, prefix: str = "", _seen: set | None = None, _depth: int = 0) -> dict[str, np.ndarray]:
    """Every float ndarray held by ``obj``, by path (``W``, ``layer1.W``, ``layers.0.b``),
    in attribute order; each container visited once (an array under two paths is listed
    under both)."""
    seen = set() if _seen is None else _seen
    found: dict[str, np.ndarray] = {}
    if id(obj) in seen or _depth > 10:
        return found
    seen.add(id(obj))
    for key, value in children(obj):
        path = f"{prefix}{key}"
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            found[path] = value
        elif descend(value):
            found.update(float_arrays(value, path + ".", seen, _depth + 1))
    return found


def get(root, path: str):
    """The value at ``path`` (``layers.0.W``) under ``root``."""
    obj = root
    for part in path.split("."):
        if isinstance(obj, (list, tuple)):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj[part]
        else:
            obj = getattr(obj, part)
    return obj


def put(root, path: str, value) -> None:
    """Set the value at ``path`` (a tuple on the way is rebuilt with the new value)."""
    *head, last = path.split(".")
    owner = get(root, ".".join(head)) if head else root
    if isinstance(owner, list):
        owner[int(last)] = value
    elif isinstance(owner, tuple):
        rebuilt = list(owner)
        rebuilt[int(last)] = value
        put(root, ".".join(head), type(owner)(rebuilt) if type(owner) is tuple else owner._make(rebuilt))
    elif isinstance(owner, dict):
        owner[last] = value
    else:
        setattr(owner, last, value)


def lookup(root, path: str):
    """The value at ``path``, or None where there is none."""
    try:
        return get(root, path)
    except (AttributeError, KeyError, IndexError, ValueError, TypeError):
        return None


def grad_path(path: str) -> str:
    """Where backward stores the gradient of the array at ``path``: the last attribute
    name gets a ``d`` (``layer1.W`` -> ``layer1.dW``, ``Ws.0`` -> ``dWs.0``)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isdigit():
            parts[i] = "d" + parts[i]
            break
    return ".".join(parts)


def grads_path(path: str) -> str | None:
    """The place in a ``grads`` list or dict that holds the gradient of the array at
    ``path`` in the ``params`` next to it (``layers.0.params.1`` -> ``layers.0.grads.1``)."""
    parts = path.split(".")
    if len(parts) >= 2 and parts[-2] == "params":
        return ".".join([*parts[:-2], "grads", parts[-1]])
    return None


def in_grads(path: str) -> bool:
    """Whether ``path`` lies inside a ``grads`` container (a gradient, not a parameter)."""
    return "grads" in path.split(".")[:-1]


def to_float64(obj):
    """A deep copy of ``obj`` whose float arrays are float64 (shared arrays stay shared)."""
    twin = copy.deepcopy(obj)
    converted: dict[int, np.ndarray] = {}
    for path, arr in float_arrays(twin).items():
        if id(arr) not in converted:
            converted[id(arr)] = arr.astype(np.float64)
        put(twin, path, converted[id(arr)])
    return twin


def fresh(inputs: list) -> list:
    """Copies of the inputs for one run: arrays copied, anything else deep-copied (a
    ``bn_param`` dict the forward writes into stays the learner's)."""
    return [x.copy() if isinstance(x, np.ndarray) else copy.deepcopy(x) for x in inputs]


def signature_names(fn, count: int) -> list[str]:
    """The names of ``fn``'s first ``count`` positional parameters (``x``, ``w``, ``b``),
    ``x0``, ``x1`` ... where it has none (``*args``)."""
    names = []
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    names = names[:count]
    names += [f"x{i}" for i in range(len(names), count)]
    if len(set(names)) != len(names):
        names = [f"x{i}" for i in range(count)]
    return names


# ---------------------------------------------------------------- subjects


@dataclass
class Run:
    """One hand-written run: the outputs (float64), what backward returned, the state
    afterwards (the object, for d-attributes and grads lists)."""

    outputs: list[np.ndarray]
    returned: Any
    state: Any


@dataclass
class Subject:
    """One thing to check, in the shape every learner's style is brought to."""

    title: str
    state: Any  # a float64 copy of the object holding the parameters, or None
    input_names: list[str]
    code: list  # the learner's functions (for finding their random generators)
    backward_takes_inputs: bool = False  # gradient(x, t): no dout
    style: str = "object"  # "object", "pair", "loss"
    notes: list[str] = field(default_factory=list)

    # set by the constructors below
    _forward: Any = None  # (state, xs) -> raw result
    _backward: Any = None  # (state, xs, douts, raw) -> returned
    _outputs: Any = None  # raw result -> list of outputs
    forward_name: str = "forward"

    def outputs(self, state, xs) -> list:
        """Run only the forward (on arrays or Tensors); its outputs."""
        return self._outputs(self._forward(state, xs))

    def hand(self, state, xs, make_douts) -> tuple[Run, list[np.ndarray]]:
        """Forward then the hand-written backward on ``state`` (changed), with the douts
        ``make_douts(outputs)`` gives; the run and the douts."""
        raw = self._forward(state, xs)
        outs = self._outputs(raw)
        for out in outs:
            if isinstance(out, Tensor) or not (np.isscalar(out) or isinstance(out, np.ndarray)):
                raise LayerCheckError(
                    f"check_backward: {self.title} returned {type(out).__name__}; expected arrays or numbers"
                )
        outs64 = [np.asarray(o, dtype=np.float64) for o in outs]
        douts = make_douts(outs64)
        returned = self._backward(state, xs, douts, raw)
        return Run(outs64, returned, state), douts


def _method(obj, name: str, role: str):
    fn = getattr(obj, name, None)
    if not callable(fn):
        raise LayerCheckError(f"check_backward: {type(obj).__name__} has no method {name!r} (the {role})")
    return fn


def _positional(fn) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _as_douts(douts: list[np.ndarray]) -> list:
    # backward may write into dout (``dout[mask] = 0``): each gets a copy; a scalar as a float
    return [float(d) if d.ndim == 0 else d.copy() for d in douts]


def object_subject(layer, n_inputs: int, forward: str, backward: str) -> Subject:
    """An object with ``forward`` and ``backward`` methods (any names)."""
    fwd, bwd = _method(layer, forward, "forward"), _method(layer, backward, "backward")
    names = signature_names(fwd, n_inputs)
    # a backward taking the forward's own inputs (gradient(x, t)) recomputes; else it takes douts
    takes_inputs = n_inputs > 0 and _positional(bwd)[:n_inputs] == _positional(fwd)[:n_inputs]
    try:
        state = to_float64(layer)
    except Exception as exc:
        raise LayerCheckError(
            f"check_backward: cannot deep-copy {type(layer).__name__} ({type(exc).__name__}: {exc}); "
            "every side runs on a copy so that your layer stays untouched"
        ) from exc
    subject = Subject(
        type(layer).__name__,
        state,
        names,
        [getattr(fwd, "__func__", fwd), getattr(bwd, "__func__", bwd)],
        takes_inputs,
        "object",
    )
    subject.forward_name = f"{type(layer).__name__}.{forward}"
    subject._forward = lambda st, xs: getattr(st, forward)(*xs)
    subject._outputs = lambda raw: list(raw) if isinstance(raw, tuple) else [raw]

    def run_backward(st, xs, douts, raw):
        if takes_inputs:
            return getattr(st, backward)(*fresh(xs))
        return getattr(st, backward)(*_as_douts(douts))

    subject._backward = run_backward
    return subject


def pair_subject(pair: tuple, n_inputs: int) -> Subject:
    """A function pair ``(f_forward, f_backward)`` passing a cache."""
    f_forward, f_backward = pair
    for fn, role in ((f_forward, "forward"), (f_backward, "backward")):
        if not callable(fn):
            raise LayerCheckError(
                f"check_backward: a function pair is (f_forward, f_backward); its {role} is a "
                f"{type(fn).__name__}, not a function"
            )
    title = f"{getattr(f_forward, '__name__', 'forward')}/{getattr(f_backward, '__name__', 'backward')}"
    subject = Subject(
        title, None, signature_names(f_forward, n_inputs), [f_forward, f_backward], style="pair"
    )
    subject.forward_name = getattr(f_forward, "__name__", "forward")

    def run_forward(st, xs):
        raw = f_forward(*xs)
        if not isinstance(raw, tuple) or len(raw) < 2:
            raise LayerCheckError(
                f"check_backward: {subject.forward_name} returned {type(raw).__name__}; a function pair's "
                "forward returns (out, cache), or (out1, out2, ..., cache)"
            )
        return raw

    subject._forward = run_forward
    subject._outputs = lambda raw: list(raw[:-1])
    subject._backward = lambda st, xs, douts, raw: f_backward(*_as_douts(douts), raw[-1])
    return subject


def loss_subject(fn, n_inputs: int) -> Subject:
    """A function (or a model's bound method) returning ``(loss, grads)``."""
    owner = getattr(fn, "__self__", None)
    bound = owner is not None and not isinstance(owner, types.ModuleType)
    name = getattr(fn, "__name__", "loss")
    title = f"{type(owner).__name__}.{name}" if bound else name
    state = to_float64(owner) if bound else None
    subject = Subject(
        title, state, signature_names(fn, n_inputs), [getattr(fn, "__func__", fn)], style="loss"
    )
    subject.forward_name = title

    def run_forward(st, xs):
        raw = getattr(st, name)(*xs) if bound else fn(*xs)
        if not isinstance(raw, tuple) or len(raw) != 2:
            raise LayerCheckError(
                f"check_backward: {title} returned {type(raw).__name__}; a loss function returns "
                "(loss, gradient) or (loss, (gradients...)) or (loss, {name: gradient})"
            )
        return raw

    subject._forward = run_forward
    subject._outputs = lambda raw: [raw[0]]

    subject._backward = lambda st, xs, douts, raw: raw[1]  # (computed with the loss, in the same call)
    return subject


def make_subject(layer, n_inputs: int, forward: str, backward: str) -> Subject:
    """The subject for what the learner passed (module docstring)."""
    if isinstance(layer, tuple) and len(layer) == 2 and all(callable(f) for f in layer):
        return pair_subject(layer, n_inputs)
    if isinstance(layer, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return loss_subject(layer, n_inputs)
    if isinstance(layer, tuple):
        raise LayerCheckError(
            f"check_backward: got a tuple of {len(layer)}; a function pair is (f_forward, f_backward)"
        )
    return object_subject(layer, n_inputs, forward, backward)


# ---------------------------------------------------------------- matching gradients


def match_inputs(returned, xs: list, names: list[str], title: str) -> dict[int, Any]:
    """Input index -> the gradient ``returned`` holds for it: a single array is the first
    float array input's; a tuple has one per float array input, or one per array
    input, or one per input (by position); a dict by input name."""
    floats = [i for i, x in enumerate(xs) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    arrays = [i for i, x in enumerate(xs) if isinstance(x, np.ndarray)]
    if returned is None:
        return {}
    if isinstance(returned, dict):
        return {names.index(k): v for k, v in returned.items() if k in names}
    if not isinstance(returned, (tuple, list)):
        return {floats[0] if floats else 0: returned}
    n = len(returned)
    if n == len(floats):
        slots = floats
    elif n == len(arrays):
        slots = arrays
    elif n <= len(xs):
        slots = list(range(n))
    else:
        raise LayerCheckError(
            f"check_backward: {title}'s backward returned {n} gradients for {len(xs)} inputs "
            f"({len(floats)} of them float arrays)"
        )
    return {i: g for i, g in zip(slots, returned) if g is not None}


def match_params(returned, paths: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Parameter path -> the gradient a returned dict holds for it (key ``W1`` matches
    ``W1`` or a path ending in ``.W1``, ``params.W1`` first); and the keys that match no
    parameter."""
    found, unmatched = {}, []
    if not isinstance(returned, dict):
        return found, unmatched
    for key, grad in returned.items():
        key = str(key)
        match = [p for p in paths if p == key or p.endswith("." + key)]
        match.sort(key=lambda p: (p != key, p != f"params.{key}"))
        if match:
            found[match[0]] = grad
        else:
            unmatched.append(key)
    return found, unmatched
