"""Check a hand-written backward: your own numpy layer, differentiated as it is.

    report = check_backward(FCLayer(4, 3), x)              # forward(x), backward(dout)
    report = check_backward(mlp, x, forward="predict")     # any method names
    print(report)        # a table in a terminal; in Jupyter, ``report`` shows as HTML
    report.passed, report.failed                           # True/False, names of rows that disagree

``layer`` is an object in the original notebook's style: ``layer.forward(*inputs)``
returns an array (or a scalar loss) and may keep on ``self`` what backward needs;
``layer.backward(dout)`` stores each parameter's gradient in an attribute named
``"d" + name`` (``W`` -> ``dW``) and returns the gradient of the first input, a tuple
(one per input), or None. Three gradients of ``sum(dout * forward(...))`` are set side
by side, all in float64:

- **automatic**: the layer's own forward code runs on Tensors (numpy functions called on
  Tensors record ops), on a copy of the layer whose parameters are Tensors named by
  their path (``layer1.W``), and ``Tensor.backward(dout)`` differentiates it;
- **hand-written**: the layer's own forward and backward, on arrays, on another copy;
- **numerical**: central differences of ``sum(dout * forward(...))`` at a seeded sample
  of entries of each input and parameter, each evaluation on a fresh copy.

What gets a row:

- **parameters**: the float arrays held by the layer (also inside sub-objects and lists
  of them, named by path: ``layer1.W``, ``layers.0.W``) that forward does not rebind and
  that are not listed in ``constants``, when either

  - their ``"d" + name`` attribute is a float array after backward (the row compares it), or
  - it is not (missing, None, or not a float array) but the output depends on the array:
    run on Tensors, it gets a nonzero automatic gradient. The backward forgot that
    gradient, and the row fails saying so (``db`` missing).

  No row, and no note, for arrays forward rebinds: caches (``self.x = x``) and running
  statistics (``self.running_mean = ...``). No row for integer or bool arrays (masks,
  labels), nor for float arrays without a d-gradient whose automatic gradient is zero
  (unused, or only compared, as a threshold): these are constants, named in a note. A
  float array forward reads that is a constant all the same (running statistics read
  in inference mode, a fixed scale) is named in ``constants=["running_mean", ...]``.
- **inputs** ``x0``, ``x1``, ...: a float array input for which backward returns a
  gradient. Every other array input is named in a note: integer inputs (labels) always
  (a gradient backward returns for them is ignored), float inputs backward returns no
  gradient for (one-hot targets given as a second input, or everything when it returns
  None). Inputs that are not arrays (numbers, flags) are passed to forward as given,
  noted only when backward returned a gradient for them.

The layer itself is never called: its state (weights, running statistics, caches)
is exactly as it was. A row agrees ("yes") when the hand-written gradient is within
``tol`` (relative to the gradient's largest entry) of the automatic one, and the
automatic one within ``num_tol`` of the numerical one, or within the round-off of the
central differences (a note then says so for any "num vs" figure above ``num_tol``).
When the automatic gradient misses the numerical one but the hand-written gradient
matches it, the trace lost part of the graph (``float()``, ``.item()`` or
``np.asarray()`` on a Tensor give values autograd cannot see): the hand-written
backward is right, the row says "yes*" and the report passes, with a warning about the
trace.
"""

from __future__ import annotations

import copy
import html
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._table import text_table
from .tensor import Tensor


class LayerCheckError(ValueError):
    """A layer or inputs ``check_backward`` cannot check; the message says what and why."""


@dataclass
class GradRow:
    """One input's or parameter's line of the report."""

    name: str
    shape: tuple[int, ...]
    max_abs: float  # max |automatic - hand-written| (NaN when backward gave no gradient)
    max_rel: float  # max_abs / the largest entry of either
    numerical: float  # max error of automatic vs central differences on the sample, relative
    numerical_abs: float  # the same, absolute
    numerical_manual: float  # relative error of hand-written vs central differences
    ok: bool = False
    problem: str = ""  # why the row disagrees, in words (empty when it agrees)
    warning: str = ""  # the row agrees, but the automatic gradient is off (a cut trace)
    numerical_manual_abs: float = float("nan")  # hand-written vs central differences, absolute


class _Names(list):
    """Row names, a list; calling it, ``report.failed()``, gives the same list (the
    spelling of an earlier version, kept working)."""

    def __call__(self) -> list[str]:
        return list(self)


@dataclass
class LayerReport:
    """Per-input and per-parameter agreement; ``passed`` only when every row agrees."""

    layer: str
    rows: list[GradRow]
    out_shape: tuple[int, ...]
    dout: str  # how dout was chosen, for the summary line
    tol: float
    num_tol: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every row agrees (and there is at least one row): each hand-written
        gradient is right, possibly with a warning that the automatic one is off."""
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def failed(self) -> list[str]:
        """The names of the rows that disagree (``report.failed()`` works too)."""
        return _Names(r.name for r in self.rows if not r.ok)

    @property
    def warned(self) -> list[str]:
        """The names of the rows that agree only with central differences: the
        hand-written gradient is right and the automatic one is off."""
        return [r.name for r in self.rows if r.ok and r.warning]

    def __getitem__(self, name: str) -> GradRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def agreement(self) -> dict[str, bool]:
        """Row name -> agrees (for colouring a graph's parameters)."""
        return {r.name: r.ok for r in self.rows}

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["grad of", "shape", "max |auto-hand|", "rel diff", "num vs auto", "num vs hand", "agree"]
        body = [
            [
                r.name,
                "x".join(map(str, r.shape)) or "()",
                _fmt(r.max_abs),
                _fmt(r.max_rel),
                _fmt(r.numerical),
                _fmt(r.numerical_manual),
                ("yes*" if r.warning else "yes") if r.ok else "NO",
            ]
            for r in self.rows
        ]
        return head, body

    def summary(self) -> list[str]:
        """The verdict line, and one line per disagreeing (or warned) row saying why."""
        if not self.rows:
            verdict = "nothing to check: no parameter with a d-gradient and no input gradient"
        elif not self.passed:
            verdict = "MISMATCH"
        elif self.warned:
            verdict = (
                "your backward is right (it agrees with central differences), "
                f"but the automatic gradient is off for {', '.join(self.warned)}"
            )
        else:
            verdict = "all gradients agree"
        shape = "x".join(map(str, self.out_shape)) or "scalar"
        lines = [
            f"{self.layer}: output {shape}, dout {self.dout}: {verdict} "
            f"(rel diff tolerance {self.tol:g}, numerical tolerance {self.num_tol:g})"
        ]
        lines += [f"  {r.name}: {r.problem}" for r in self.rows if not r.ok]
        lines += [f"  {r.name} (yes*): {r.warning}" for r in self.rows if r.ok and r.warning]
        return lines

    def __str__(self) -> str:
        table = text_table(*self._cells(), strip=True)
        return "\n".join([*self.notes, *table, *self.summary()])

    def _repr_html_(self) -> str:
        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        colour = {"yes": "inherit", "yes*": "darkorange", "NO": "crimson"}
        trs = "".join(
            "<tr>"
            + "".join(f"<td style='color:{colour[cells[-1]]}'>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
            for cells in body
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        summary = "<br>".join(html.escape(s) for s in self.summary())
        return f"{notes}<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table><p>{summary}</p>"


def _fmt(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2e}"


# ---------------------------------------------------------------- finding parameters by path

_LEAF_TYPES = (np.ndarray, np.generic, Tensor, str, bytes, int, float, complex, bool, type(None))


def _descend(value) -> bool:
    """Whether to look for parameters inside ``value``: lists, dicts and objects of
    user classes; never modules, classes, functions, numpy or Tensor objects."""
    if isinstance(value, (list, dict)):
        return True
    if isinstance(value, (*_LEAF_TYPES, type, types.ModuleType, types.FunctionType, types.MethodType)):
        return False
    module = type(value).__module__ or ""
    return hasattr(value, "__dict__") and module.split(".")[0] not in ("numpy", "builtins")


def _children(obj) -> Iterator[tuple[str, object]]:
    if isinstance(obj, list):
        yield from ((str(i), v) for i, v in enumerate(obj))
    elif isinstance(obj, dict):
        yield from ((k, v) for k, v in obj.items() if isinstance(k, str) and "." not in k)
    else:
        yield from ((k, v) for k, v in vars(obj).items() if not k.startswith("__"))


def float_arrays(obj, prefix: str = "", _seen: set | None = None, _depth: int = 0) -> dict[str, np.ndarray]:
    """Every float ndarray held by ``obj``, by path (``W``, ``layer1.W``, ``layers.0.b``),
    in attribute order; each object visited once."""
    seen = set() if _seen is None else _seen
    found: dict[str, np.ndarray] = {}
    if id(obj) in seen or _depth > 10:
        return found
    seen.add(id(obj))
    for key, value in _children(obj):
        path = f"{prefix}{key}"
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            found[path] = value
        elif _descend(value):
            found.update(float_arrays(value, path + ".", seen, _depth + 1))
    return found


def _get(root, path: str):
    obj = root
    for part in path.split("."):
        obj = _step(obj, part)
    return obj


def _step(obj, part: str):
    if isinstance(obj, list):
        return obj[int(part)]
    if isinstance(obj, dict):
        return obj[part]
    return getattr(obj, part)


def _set(root, path: str, value) -> None:
    *head, last = path.split(".")
    owner = _get(root, ".".join(head)) if head else root
    if isinstance(owner, list):
        owner[int(last)] = value
    elif isinstance(owner, dict):
        owner[last] = value
    else:
        setattr(owner, last, value)


def grad_path(path: str) -> str:
    """Where backward stores the gradient of the array at ``path``: the last attribute
    name gets a ``d`` (``layer1.W`` -> ``layer1.dW``, ``Ws.0`` -> ``dWs.0``)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isdigit():
            parts[i] = "d" + parts[i]
            break
    return ".".join(parts)


def _lookup(root, path: str):
    try:
        return _get(root, path)
    except (AttributeError, KeyError, IndexError, ValueError, TypeError):
        return None


def _to_float64(layer):
    """A deep copy of ``layer`` whose float arrays are float64 (shared arrays stay shared)."""
    twin = copy.deepcopy(layer)
    converted: dict[int, np.ndarray] = {}
    arrays = float_arrays(twin)
    for path, arr in arrays.items():
        if id(arr) not in converted:
            converted[id(arr)] = arr.astype(np.float64)
        _set(twin, path, converted[id(arr)])
    for path, arr in arrays.items():
        # gradients left over from an earlier backward start at zero, so that a backward
        # that forgets one (or adds into it) shows, instead of an old value passing
        old = arrays.get(grad_path(path))
        if old is not None and old.shape == arr.shape:
            _set(twin, grad_path(path), np.zeros(arr.shape))
    return twin


# ---------------------------------------------------------------- the three gradients


@dataclass
class _HandWritten:
    """What the layer's own forward and backward gave, on arrays."""

    out: np.ndarray
    dout: np.ndarray
    dout_text: str
    params: dict[str, np.ndarray]  # path -> the parameter's value (float64)
    param_grads: dict[str, object]  # path -> what backward stored at grad_path(path)
    input_grads: dict[int, object]  # input index -> what backward returned for it
    notes: list[str]
    # path -> what backward left at grad_path(path), in words, for the float arrays forward
    # does not rebind that have no float gradient: a forgotten gradient, or a constant
    no_grad: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # every path of params and no_grad, in attribute order


def _method(obj, name: str, role: str):
    fn = getattr(obj, name, None)
    if not callable(fn):
        raise LayerCheckError(f"check_backward: {type(obj).__name__} has no method {name!r} (the {role})")
    return fn


def _inputs64(inputs: tuple) -> list:
    """Float arrays as float64 copies, other arrays as copies, anything else as given."""
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            raise LayerCheckError(
                f"check_backward: input x{i} is a Tensor; pass numpy arrays, as to your layer"
            )
        if isinstance(x, np.ndarray):
            x = x.astype(np.float64) if x.dtype.kind == "f" else x.copy()
        out.append(x)
    return out


def _prepare(layer: Any, inputs: tuple, forward: str, backward: str) -> tuple[Any, list]:
    """The float64 copy every side starts from, and the inputs as float64 copies."""
    _method(layer, forward, "forward")
    _method(layer, backward, "backward")
    try:
        pristine = _to_float64(layer)
    except Exception as exc:
        raise LayerCheckError(
            f"check_backward: cannot deep-copy {type(layer).__name__} ({type(exc).__name__}: {exc}); "
            "every side runs on a copy so that your layer stays untouched"
        ) from exc
    return pristine, _inputs64(inputs)


def _fresh(inputs: list) -> list:
    return [x.copy() if isinstance(x, np.ndarray) else x for x in inputs]


def _hand_written(
    pristine,
    inputs: list,
    dout,
    forward: str,
    backward: str,
    seed: int,
    constants: frozenset[str] = frozenset(),
) -> _HandWritten:
    layer = copy.deepcopy(pristine)
    name = type(layer).__name__
    before = float_arrays(layer)
    for path in list(before):
        before.pop(grad_path(path), None)  # a gradient left from an earlier call is no parameter
    out = _method(layer, forward, "forward")(*_fresh(inputs))
    if isinstance(out, Tensor) or not np.isscalar(out) and not isinstance(out, np.ndarray):
        raise LayerCheckError(
            f"check_backward: {name}.{forward} returned {type(out).__name__}; expected an array or a number"
        )
    out = np.asarray(out, dtype=np.float64)
    if dout is None:
        if out.ndim == 0:
            dout, dout_text = np.float64(1.0), "1.0"
        else:
            dout = np.random.default_rng(seed).standard_normal(out.shape)
            dout_text = f"random normal (seed {seed})"
    else:
        dout = np.asarray(dout, dtype=np.float64)
        if dout.shape != out.shape:
            raise LayerCheckError(
                f"check_backward: dout has shape {dout.shape} but {name}.{forward} returned shape {out.shape}"
            )
        dout_text = "given"
    # backward may write into dout (``dout[mask] = 0``): give it a copy; a scalar as a float
    returned = _method(layer, backward, "backward")(float(dout) if dout.ndim == 0 else dout.copy())

    if returned is None:
        input_grads = {}
    elif isinstance(returned, (tuple, list)):
        if len(returned) > len(inputs):
            raise LayerCheckError(
                f"check_backward: {name}.{backward} returned {len(returned)} gradients for {len(inputs)} inputs"
            )
        input_grads = {i: g for i, g in enumerate(returned) if g is not None}
    else:
        input_grads = {0: returned}

    params, param_grads, no_grad, order = {}, {}, {}, []
    for path, arr in before.items():
        if path in constants or _lookup(layer, path) is not arr:
            continue  # named a constant, or rebound by forward (a cache, running statistics)
        order.append(path)
        grad = _lookup(layer, grad_path(path))
        if isinstance(grad, (np.ndarray, np.floating, float)) and np.asarray(grad).dtype.kind == "f":
            params[path], param_grads[path] = arr, np.array(grad, dtype=np.float64)
        else:
            no_grad[path] = _what_is_there(layer, grad_path(path))
    notes = []
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and x.dtype.kind != "f":
            ignored = "; the gradient backward returned for it is ignored" if i in input_grads else ""
            notes.append(f"x{i} holds integers (labels): no gradient to check, no row{ignored}")
            input_grads.pop(i, None)
        elif i not in input_grads:
            if isinstance(x, np.ndarray):
                notes.append(f"x{i}: {name}.{backward} returned no gradient for it; not checked")
        elif not isinstance(x, np.ndarray):
            notes.append(f"x{i} is a {type(x).__name__}, not an array: not checked")
            del input_grads[i]
    input_grads = {i: np.asarray(g, dtype=np.float64) for i, g in input_grads.items()}
    return _HandWritten(out, dout, dout_text, params, param_grads, input_grads, notes, no_grad, order)


def _what_is_there(layer, path: str) -> str:
    """What backward left at ``path``, where a gradient belongs, in words (``db`` missing)."""
    try:
        value = _get(layer, path)
    except (AttributeError, KeyError, IndexError, ValueError, TypeError):
        return f"attribute {path} missing"
    if value is None:
        return f"{path} is None"
    kind = f"an array of {value.dtype}" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
    return f"{path} is {kind}, not a float array"


def _tensor_copy(pristine, params, inputs: list, with_grad: set[int]):
    """A copy of the layer whose parameters are Tensors named by path, and the inputs,
    those in ``with_grad`` as Tensors ``x0``, ``x1``, ..."""
    layer = copy.deepcopy(pristine)
    tensors = {}
    for path in params:
        tensors[path] = Tensor(_get(layer, path), requires_grad=True, name=path)
        _set(layer, path, tensors[path])
    xs = [
        Tensor(x, requires_grad=True, name=f"x{i}") if i in with_grad else x
        for i, x in enumerate(_fresh(inputs))
    ]
    return layer, tensors, xs


def _run_on_tensors(layer, xs: list, forward: str, name: str) -> Tensor:
    try:
        out = _method(layer, forward, "forward")(*xs)
    except LayerCheckError:
        raise
    except Exception as exc:
        raise LayerCheckError(
            f"check_backward: {name}.{forward} on Tensors: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(out, Tensor):
        raise LayerCheckError(
            f"check_backward: {name}.{forward} returned {type(out).__name__} when run on Tensors, so no graph "
            "was recorded (does it call float(), .item() or np.asarray() on its result?)"
        )
    return out


def _trace(pristine, hand: _HandWritten, xs: list, forward: str, name: str):
    """Run forward on Tensors, with every parameter and every float array without a
    gradient (``hand.no_grad``) as a leaf named by path. Returns the output, the leaves
    by path, the inputs, and a note when the arrays without a gradient had to stay arrays
    (forward cannot run with them as Tensors): then they are not checked."""
    with_grad = set(hand.input_grads)
    twin, tensors, txs = _tensor_copy(pristine, hand.order, xs, with_grad)
    try:
        return _run_on_tensors(twin, txs, forward, name), tensors, txs, []
    except LayerCheckError as exc:
        if not hand.no_grad:
            raise
        reason = str(exc).removeprefix("check_backward: ")
    twin, tensors, txs = _tensor_copy(pristine, list(hand.params), xs, with_grad)
    out = _run_on_tensors(twin, txs, forward, name)  # the layer's own error, if it fails as well
    note = (
        f"not checked, no d-gradient after backward: {', '.join(hand.no_grad)} (forward cannot run with "
        f"them as Tensors, so whether the output depends on them is unknown: {reason})"
    )
    return out, tensors, txs, [note]


def _sample(size: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    if size <= samples:
        return np.arange(size)
    return np.sort(rng.choice(size, size=samples, replace=False))


def _numerical(pristine, inputs, hand: _HandWritten, forward, targets, samples, eps, rng):
    """Central differences of sum(dout * forward(...)) at sampled entries of each target
    (``x0`` ... or a parameter path), each evaluation on a fresh copy of the layer.
    Returns name -> (indices, derivatives with NaN at a kink), the resolution of the
    differences, and how many entries were left out at kinks."""

    def evaluate(target: str | None = None, j: int = 0, delta: float = 0.0) -> np.ndarray:
        """dout * forward(...), elementwise, with one entry of ``target`` moved by ``delta``."""
        layer, xs = copy.deepcopy(pristine), _fresh(inputs)
        if target is not None:
            arr = xs[int(target[1:])] if target in names_of_inputs else _get(layer, target)
            arr.flat[j] += delta
        return hand.dout * np.asarray(getattr(layer, forward)(*xs), dtype=np.float64)

    names_of_inputs = {f"x{i}" for i in hand.input_grads}
    center = evaluate()
    # round-off in f = sum(dout * out), over the step; differences are taken elementwise
    # before summing, so outputs the step leaves unchanged cancel exactly
    resolution = 10 * float(np.sum(np.abs(center))) * np.finfo(np.float64).eps / eps
    out, kinks = {}, 0
    for name, size in targets.items():
        idx = _sample(size, samples, rng)
        values = []
        for j in idx:
            plus, minus = evaluate(name, j, eps), evaluate(name, j, -eps)
            slope = float(np.sum(plus - minus)) / (2 * eps)
            right, left = float(np.sum(plus - center)) / eps, float(np.sum(center - minus)) / eps
            if abs(right - left) > 1e-6 * max(abs(right), abs(left)) + resolution:
                # one-sided slopes differ: curvature, or a kink (ReLU) within the step? A
                # smooth function gives the same central difference with a 10x smaller step
                fine = float(np.sum(evaluate(name, j, eps / 10) - evaluate(name, j, -eps / 10))) / (eps / 5)
                if abs(fine - slope) > 1e-3 * max(abs(fine), abs(slope)) + 100 * resolution:
                    slope, kinks = np.nan, kinks + 1  # the slope jumps within the step: no derivative
            values.append(slope)
        out[name] = (idx, np.array(values))
    return out, resolution, kinks


def _compare(name, auto, hand, idx, num, resolution, tol, num_tol) -> GradRow:
    """One row: hand-written vs automatic, and both vs the numerical derivatives.

    The row agrees when hand-written matches automatic (within ``tol``) and automatic
    matches the numerical derivatives (within ``num_tol``, or within their round-off
    ``resolution``). When automatic misses the numerical derivatives but hand-written
    matches them, the hand-written gradient is the right one: the row agrees, with a
    warning that the traced forward lost part of its graph."""
    shape = auto.shape
    hand = np.asarray(hand, dtype=np.float64)
    keep = ~np.isnan(num)
    got_num = num[keep]

    def vs_numerical(grad: np.ndarray) -> tuple[float, float]:
        """(relative, absolute) error of ``grad`` at the sampled entries; relative to
        the largest entry of ``grad`` or of the numerical derivatives."""
        if not keep.any():
            return float("nan"), float("nan")
        diff = float(np.max(np.abs(grad.reshape(-1)[idx[keep]] - got_num)))
        scale = max(float(np.max(np.abs(grad))) if grad.size else 0.0, float(np.max(np.abs(got_num))), 1e-30)
        return diff / scale, diff

    def close(rel_abs: tuple[float, float]) -> bool:
        return bool(np.isnan(rel_abs[0]) or rel_abs[0] <= num_tol or rel_abs[1] <= resolution)

    num_rel, num_abs = vs_numerical(auto)
    if hand.shape != shape:
        problem = f"hand-written gradient has shape {hand.shape}, but {name} has shape {shape}"
        return GradRow(
            name, shape, float("inf"), float("inf"), num_rel, num_abs, float("nan"), False, problem
        )
    diff = float(np.max(np.abs(auto - hand))) if auto.size else 0.0
    scale = max(float(np.max(np.abs(auto))), float(np.max(np.abs(hand))), 1e-30) if auto.size else 1.0
    rel = diff / scale
    hand_num = vs_numerical(hand)
    row = GradRow(name, shape, diff, rel, num_rel, num_abs, hand_num[0], numerical_manual_abs=hand_num[1])
    if not close((num_rel, num_abs)) and not np.isnan(hand_num[0]) and close(hand_num):
        row.ok = True
        row.warning = (
            f"the hand-written gradient agrees with central differences ({hand_num[0]:.2e} on "
            f"{int(keep.sum())} sampled entries), the automatic one does not ({num_rel:.2e}): the forward run "
            "on Tensors lost part of its graph (float(), .item() or np.asarray() on a Tensor gives a value "
            "autograd cannot see), so the automatic gradient is off, not yours"
        )
        return row
    problems = []
    if not rel <= tol:
        where = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(auto - hand))), shape))
        # measured against the automatic gradient, the one the check trusts
        peak = float(np.max(np.abs(auto)))
        of = diff / peak if peak > 0 else float("inf")
        share = f"{of:.1%}" if of >= 0.01 else f"{of:.2e}"
        digits = ".6g" if rel >= 1e-4 else ".12g"
        problems.append(
            f"hand-written differs from automatic by up to {diff:.3g} ({share} of the automatic gradient's "
            f"largest entry; worst at {name}{list(where)}: hand {hand[where]:{digits}}, auto {auto[where]:{digits}})"
        )
    if not close((num_rel, num_abs)):
        problems.append(f"automatic differs from central differences by {num_rel:.2e} (relative)")
    row.ok, row.problem = not problems, "; ".join(problems)
    return row


def _forgotten(name, auto, idx, num, why: str) -> GradRow:
    """The row of an array the output depends on but backward gave no gradient for."""
    keep = ~np.isnan(num)
    num_rel = num_abs = float("nan")
    if keep.any():
        num_abs = float(np.max(np.abs(auto.reshape(-1)[idx[keep]] - num[keep])))
        num_rel = num_abs / max(float(np.max(np.abs(auto))), float(np.max(np.abs(num[keep]))), 1e-30)
    problem = (
        f"the hand-written backward gave no gradient for {name} ({why}), but the output depends on it "
        f"(automatic gradient up to {float(np.max(np.abs(auto))):.3g}); if {name} is a constant, not a "
        f"parameter, pass constants=[{name!r}]"
    )
    nan = float("nan")
    return GradRow(name, auto.shape, nan, nan, num_rel, num_abs, nan, False, problem)


def _resolution_notes(rows: list[GradRow], resolution: float, num_tol: float, eps: float) -> list[str]:
    """A note for each agreeing row whose "num vs" figure is above ``num_tol``: it agrees
    because the absolute difference is within the round-off of central differences."""
    notes = []
    for r in rows:
        over = [
            (f"num vs {side} {rel:.2e}", diff)
            for side, rel, diff in [
                ("auto", r.numerical, r.numerical_abs),
                ("hand", r.numerical_manual, r.numerical_manual_abs),
            ]
            if r.ok and rel > num_tol and diff <= resolution
        ]
        if over:
            shown = " and ".join(text for text, _ in over)
            notes.append(
                f"{r.name}: {shown} {'is' if len(over) == 1 else 'are'} above the numerical tolerance "
                f"{num_tol:g}, yet the row agrees: the difference, {max(d for _, d in over):.2e} absolute, is within the "
                f"round-off of central differences here ({resolution:.2e}: float64 rounding of "
                f"sum(dout * output), over the step {eps:g})"
            )
    return notes


def check_backward(
    layer: Any,
    *inputs: Any,
    dout: np.ndarray | float | None = None,
    forward: str = "forward",
    backward: str = "backward",
    seed: int = 0,
    samples: int = 20,
    tol: float = 1e-8,
    num_tol: float = 1e-5,
    eps: float = 1e-4,
    constants: tuple[str, ...] | list[str] = (),
) -> LayerReport:
    """Check ``layer``'s hand-written backward against autograd run on its own forward
    code, and both against float64 central differences (see the module docstring).

    ``dout`` is dL/d(output) (default: seeded random normal of the output's shape, 1.0 for
    a scalar output). ``samples`` entries of each input and parameter are checked
    numerically (all of them for smaller arrays), chosen with ``seed``. ``tol`` bounds
    |automatic - hand-written| relative to the gradient's largest entry; ``num_tol``
    bounds automatic vs numerical. ``constants`` names float arrays (by path, ``bn.running_mean``)
    that forward reads but that are no parameters, so need no gradient. ``layer`` is not
    called and not changed.
    """
    name = type(layer).__name__
    pristine, xs = _prepare(layer, inputs, forward, backward)
    fixed = _constants(pristine, constants, name)
    hand = _hand_written(pristine, xs, dout, forward, backward, seed, fixed)

    out, tensors, txs, notes = _trace(pristine, hand, xs, forward, name)
    notes = hand.notes + notes
    if out.shape != hand.out.shape or not np.allclose(out.data, hand.out, rtol=1e-9, atol=1e-12):
        notes.append(f"{name}.{forward} gave different values on Tensors than on arrays: check the engine")
    if out.requires_grad:
        out.backward(np.asarray(hand.dout, dtype=out.dtype).reshape(out.shape))
    auto = {f"x{i}": txs[i].grad for i in hand.input_grads}
    auto.update({path: t.grad for path, t in tensors.items()})
    shapes = {f"x{i}": xs[i].shape for i in hand.input_grads} | {p: _get(pristine, p).shape for p in tensors}
    auto = {k: (np.zeros(shapes[k]) if g is None else g) for k, g in auto.items()}  # unused: zero gradient

    # an array without a gradient that the output depends on: backward forgot it
    forgot = [p for p in hand.no_grad if p in tensors and np.any(auto[p] != 0)]
    unused = [p for p in hand.no_grad if p in tensors and p not in forgot]
    if unused:
        notes.append(
            f"constants, no row: {', '.join(unused)} (no d-gradient after backward, and the output does not "
            "depend on them through differentiable ops: zero automatic gradient)"
        )
    names = [
        *(f"x{i}" for i in hand.input_grads),
        *(p for p in hand.order if p in hand.params or p in forgot),
    ]
    targets = {k: int(np.prod(shapes[k])) for k in names}
    numeric, resolution, kinks = _numerical(
        pristine, xs, hand, forward, targets, samples, eps, np.random.default_rng(seed)
    )
    written = {f"x{i}": g for i, g in hand.input_grads.items()} | hand.param_grads
    rows = [
        _forgotten(k, auto[k], *numeric[k], hand.no_grad[k])
        if k in forgot
        else _compare(k, auto[k], written[k], *numeric[k], resolution, tol, num_tol)
        for k in names
    ]
    if kinks:
        notes.append(
            f"{kinks} sampled entries left out of the numerical check: the slope changes within a step of "
            f"{eps:g} there (a kink, as in ReLU), so central differences mean nothing"
        )
    notes += _resolution_notes(rows, resolution, num_tol, eps)
    return LayerReport(name, rows, hand.out.shape, hand.dout_text, tol, num_tol, notes)


def _constants(pristine, constants, name: str) -> frozenset[str]:
    """``constants`` checked against the float arrays the layer holds."""
    if isinstance(constants, str):
        constants = [constants]
    arrays = float_arrays(pristine)
    unknown = [c for c in constants if c not in arrays]
    if unknown:
        raise LayerCheckError(
            f"check_backward: constants: {name} holds no float array {unknown[0]!r} "
            f"(its float arrays: {', '.join(arrays) or 'none'})"
        )
    return frozenset(constants)


def trace_layer(
    layer, *inputs, forward: str = "forward", backward: str = "backward", seed: int = 0
) -> Tensor:
    """Run ``layer``'s own forward code on Tensors (a float64 copy of the layer) and
    return the output Tensor: the graph :func:`check_backward` differentiates, for
    ``viz.draw_graph``. Parameters (found as :func:`check_backward` finds them, which
    runs the hand-written backward once on another copy), and float arrays forward does
    not rebind that have no d-gradient, are leaves named by path (``layer1.W``); the
    inputs backward returns a gradient for are ``x0``, ``x1``, ...; other inputs enter
    as constants. ``layer`` is not changed."""
    pristine, xs = _prepare(layer, inputs, forward, backward)
    hand = _hand_written(pristine, xs, None, forward, backward, seed)
    return _trace(pristine, hand, xs, forward, type(layer).__name__)[0]


# ---------------------------------------------------------------- the notebook's classes, from the command line


def check_notebook(seed: int = 0, batch_size: int = 8, samples: int = 5) -> list[tuple[str, LayerReport]]:
    """Check the original notebook's ``FCLayer`` and whole ``MLP`` (``predict``) with
    their own code (:mod:`tinygrad_mlp.notebook`), on a seeded batch of random images."""
    from . import notebook

    state = np.random.get_state()  # the notebook draws weights from numpy's global generator
    try:
        np.random.seed(seed)
        fc, mlp = notebook.FCLayer(784, 128), notebook.MLP()
        x = np.random.uniform(0, 1, (batch_size, 784))
    finally:
        np.random.set_state(state)
    return [
        ("FCLayer(784, 128): check_backward(fc, x)", check_backward(fc, x, seed=seed, samples=samples)),
        (
            'MLP(): check_backward(mlp, x, forward="predict")',
            check_backward(mlp, x, forward="predict", seed=seed, samples=samples),
        ),
    ]


def verify_layers(seed: int | None = None, batch_size: int = 8, samples: int = 5) -> int:
    """``tinygrad-mlp verify --layers``: print the notebook classes' reports; returns the
    exit status, 0 only when every gradient agrees."""
    seed = 0 if seed is None else seed
    try:
        results = check_notebook(seed, batch_size, samples)
    except LayerCheckError as exc:
        print(f"tinygrad-mlp verify --layers: error: {exc}", file=sys.stderr)
        return 2
    print(f"the original notebook's classes (tinygrad_mlp.notebook), a batch of {batch_size} random images")
    for title, report in results:
        print(f"\n{title}\n{report}")
    return 0 if all(r.passed for _, r in results) else 1
