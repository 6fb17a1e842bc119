"""Check a hand-written backward: your own numpy code, differentiated as it is written.

    report = check_backward(Affine(W, b), x)                          # an object: forward(x), backward(dout)
    report = check_backward((affine_forward, affine_backward), x, w, b)  # a function pair with a cache
    report = check_backward(svm_loss, x, y)                           # a loss function -> (loss, dx)
    report = check_backward(net, x, t, forward="loss", backward="gradient")  # a whole network
    print(report)        # a table in a terminal; in Jupyter, ``report`` shows as HTML
    report.passed, report.failed, report.rows

What is checked, and where the gradients are found, is in :mod:`.adapters`; how the
forward's numpy code is recorded on Tensors (arrays filled in loops, ``ndarray +=
Tensor``, random draws replayed) in :mod:`.trace`; the verdicts in :mod:`.report`.
Three gradients of ``sum(dout * forward(...))`` (summed over the outputs) are set side
by side, all in float64:

- **automatic**: the forward's own code runs on Tensors (numpy functions called on
  Tensors record ops), on a copy whose parameters are Tensors named by their path
  (``layer1.W``) and whose float inputs are Tensors named by the forward's own
  parameter names (``x``, ``w``, ``b``); ``Tensor.backward(dout)`` differentiates it;
- **hand-written**: the learner's forward and backward, on arrays, on another copy;
- **numerical**: central differences at a seeded sample of entries of each input and
  parameter, each evaluation on a fresh copy.

Rows: the float array inputs the backward returns a gradient for (or, when it
returns None, the ones the output depends on: the missing ``return dx`` fails), and
the parameters: float arrays the object holds that forward does not rebind (caches
and running statistics are rebound) and that are not named in ``constants``, with a
gradient found, or without one while the output depends on them (the forgotten
gradient fails). Integer inputs (labels, indices), boolean masks and everything that
is not an array get a note, not a row; inputs that are not arrays (``bn_param``,
``conv_param``, ``G``) are passed deep-copied to every run, so the learner's dict
never changes. Nothing the learner passed is called or changed: every side runs on
copies, and numpy's random state is left as it was.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .adapters import (
    LayerCheckError,
    Subject,
    float_arrays,
    fresh,
    get,
    grad_path,
    grads_path,
    in_grads,
    lookup,
    make_subject,
    match_inputs,
    match_params,
    put,
)
from .report import GradRow, LayerReport, grade, missing, resolution_notes, share
from .trace import Filled, RandomReplay, generators_held, recording, traceback_line, without_small_constants

__all__ = [
    "check_backward",
    "trace_layer",
    "LayerCheckError",
    "LayerReport",
    "GradRow",
    "float_arrays",
    "grad_path",
    "check_notebook",
    "verify_layers",
]


# ---------------------------------------------------------------- inputs and parameters


def _inputs64(inputs: tuple, names: list[str]) -> list:
    """Float arrays as float64 copies, other arrays as copies, anything else as given."""
    out = []
    for name, x in zip(names, inputs):
        if isinstance(x, Tensor):
            raise LayerCheckError(
                f"check_backward: input {name} is a Tensor; pass numpy arrays, as to your code"
            )
        if isinstance(x, np.ndarray):
            x = x.astype(np.float64) if x.dtype.kind == "f" else x.copy()
        out.append(x)
    return out


class _Params:
    """The parameters an object holds: one per array (an array under two paths is one
    parameter, named by its first path), without gradients held in ``grads`` or d-attributes."""

    def __init__(self, state, constants: frozenset[str]) -> None:
        arrays = float_arrays(state) if state is not None else {}
        for path in list(arrays):
            arrays.pop(grad_path(path), None)  # a gradient left from an earlier call is no parameter
        self.paths: dict[str, list[str]] = {}  # canonical path -> every path of that array
        by_id: dict[int, str] = {}
        for path, arr in arrays.items():
            if in_grads(path) or path in constants:
                continue
            canon = by_id.setdefault(id(arr), path)
            self.paths.setdefault(canon, []).append(path)
        self.shapes = {p: get(state, p).shape for p in self.paths}

    def aliases_note(self) -> list[str]:
        shared = [" = ".join(ps) for ps in self.paths.values() if len(ps) > 1]
        if not shared:
            return []
        return [f"one array under several names is one parameter, named by the first: {'; '.join(shared)}"]


def _zero_old_grads(state, params: _Params) -> None:
    """Gradients left over from an earlier backward start at zero, so that a backward
    that forgets one (or adds into it) shows, instead of an old value passing."""
    for paths in params.paths.values():
        for path in paths:
            for where in (grad_path(path), grads_path(path)):
                old = lookup(state, where) if where else None
                if (
                    isinstance(old, np.ndarray)
                    and old.dtype.kind == "f"
                    and old.shape == get(state, path).shape
                ):
                    old[...] = 0.0


def _what_is_there(state, path: str) -> str:
    """What backward left where a gradient belongs, in words (``db`` missing)."""
    try:
        value = get(state, path)
    except (AttributeError, KeyError, IndexError, ValueError, TypeError):
        return f"attribute {path} missing"
    if value is None:
        return f"{path} is None"
    kind = f"an array of {value.dtype}" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
    return f"{path} is {kind}, not a float array"


def _is_float_grad(g) -> bool:
    return isinstance(g, (np.ndarray, np.floating, float)) and np.asarray(g).dtype.kind == "f"


# ---------------------------------------------------------------- the hand-written side


class _Hand:
    """What the learner's forward and backward gave, on arrays, interpreted."""

    def __init__(self, subject: Subject, params: _Params, xs: list, dout, seed: int, replay: RandomReplay):
        state = copy.deepcopy(subject.state)
        if state is not None:
            _zero_old_grads(state, params)
        before = {c: get(state, c) for c in params.paths}
        gens = [(g, _gen_state(g)) for g in generators_held(state)] if state is not None else []
        try:
            with replay.run(), recording(replay.swap, tensors=False):
                run, douts = subject.hand(state, fresh(xs), lambda outs: _douts(subject, outs, dout, seed))
        except LayerCheckError:
            raise
        except Exception as exc:
            where = traceback_line(exc)
            raise LayerCheckError(
                f"check_backward: {subject.title} raised on numpy arrays (your code, before anything is traced): "
                f"{type(exc).__name__}: {exc}" + (f" at {where}" if where else "")
            ) from exc
        self.random = bool(replay.drawn) or any(not _same(_gen_state(g), s) for g, s in gens)
        self.outputs, self.douts = run.outputs, douts
        self.dout_text = (
            "given"
            if dout is not None
            else ("1.0" if all(o.ndim == 0 for o in run.outputs) else f"random normal (seed {seed})")
        )
        self.returned_none = run.returned is None
        names = subject.input_names
        if run.returned is None and subject.style == "object":
            # a backward that stores the input gradient on the object (self.dx) instead of returning it
            stored = {i: lookup(state, "d" + n) for i, n in enumerate(names) if isinstance(xs[i], np.ndarray)}
            self.input_grads = {i: g for i, g in stored.items() if _is_float_grad(g)}
            self.returned_none = not self.input_grads
        else:
            self.input_grads = match_inputs(run.returned, xs, names, subject.title)
        self.notes: list[str] = []
        from_dict, unmatched = match_params(run.returned, [p for ps in params.paths.values() for p in ps])
        if unmatched:
            self.notes.append(
                f"{subject.title} returned gradients named {', '.join(unmatched)}, for no array it holds: not checked"
            )
        self.params: dict[str, np.ndarray] = {}  # canonical path -> hand-written gradient
        self.no_grad: dict[str, str] = {}  # canonical path -> what was found instead, in words
        self.order: list[str] = []  # parameters not rebound by forward, in attribute order
        for canon, paths in params.paths.items():
            if lookup(state, canon) is not before[canon]:
                continue  # rebound by forward: a cache or running statistics
            self.order.append(canon)
            found = next((from_dict[p] for p in paths if p in from_dict), None)
            for p in paths:
                for where in (grads_path(p), grad_path(p)):
                    if found is None and where is not None and _is_float_grad(lookup(state, where)):
                        found = lookup(state, where)
            if found is not None and _is_float_grad(found):
                self.params[canon] = np.array(found, dtype=np.float64)
            else:
                self.no_grad[canon] = (
                    f"{subject.title} returned {type(found).__name__} for it"
                    if found is not None
                    else _what_is_there(state, grads_path(canon) or grad_path(canon))
                )
        for i, (name, x) in enumerate(zip(names, xs)):
            if isinstance(x, np.ndarray) and x.dtype.kind == "b":
                self.notes.append(f"{name} is a boolean mask: no gradient to check, no row")
                self.input_grads.pop(i, None)
            elif isinstance(x, np.ndarray) and x.dtype.kind != "f":
                ignored = (
                    "; the gradient the backward returned for it is ignored" if i in self.input_grads else ""
                )
                self.notes.append(
                    f"{name} holds integers (labels or indices): no gradient to check, no row{ignored}"
                )
                self.input_grads.pop(i, None)
            elif i in self.input_grads and not isinstance(x, np.ndarray):
                self.notes.append(f"{name} is a {type(x).__name__}, not an array: not checked")
                del self.input_grads[i]
            elif i not in self.input_grads and isinstance(x, np.ndarray) and not self.returned_none:
                # (a whole network's gradient method returns its parameters' gradients only)
                self.notes += (
                    []
                    if subject.backward_takes_inputs
                    else [f"{name}: the backward returned no gradient for it; not checked"]
                )
        self.input_grads = {i: np.asarray(g, dtype=np.float64) for i, g in self.input_grads.items()}


def _gen_state(g):
    return g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state()


def _same(a, b) -> bool:
    from .trace import _same_state

    return _same_state(a, b)


def _douts(subject: Subject, outs: list[np.ndarray], dout, seed: int) -> list[np.ndarray]:
    if subject.backward_takes_inputs or subject.style == "loss":
        if len(outs) != 1 or outs[0].ndim != 0:
            what = (
                "a loss function's loss is one number"
                if subject.style == "loss"
                else ("a loss whose backward takes the forward's inputs (gradient(x, t)) is one number")
            )
            raise LayerCheckError(
                f"check_backward: {subject.forward_name} returned a loss of shape "
                f"{', '.join(str(o.shape) for o in outs)}; {what}"
            )
        if dout is not None:
            raise LayerCheckError(
                f"check_backward: dout was given, but {subject.title}'s backward takes no dout (it differentiates "
                "the loss itself)"
            )
        return [np.float64(1.0)]
    if dout is None:
        rng = np.random.default_rng(seed)
        return [np.float64(1.0) if o.ndim == 0 else rng.standard_normal(o.shape) for o in outs]
    given = list(dout) if isinstance(dout, (list, tuple)) else [dout]
    if len(given) != len(outs):
        raise LayerCheckError(
            f"check_backward: {len(given)} dout given but {subject.forward_name} returned {len(outs)} outputs; "
            "pass one dout per output, as a list"
        )
    result = []
    for d, o in zip(given, outs):
        d = np.asarray(d, dtype=np.float64)
        if d.shape != o.shape:
            raise LayerCheckError(
                f"check_backward: dout has shape {d.shape} but {subject.forward_name} returned shape {o.shape}"
            )
        result.append(d)
    return result


# ---------------------------------------------------------------- the automatic side


class _Traced:
    """The forward run on Tensors and differentiated: gradients by row name."""

    def __init__(
        self,
        subject: Subject,
        params: _Params,
        hand: _Hand,
        xs: list,
        replay: RandomReplay,
        drop: bool = False,
        differentiate: bool = True,
    ):
        self.drop = drop  # small constants added in the forward left out (see without_small_constants)
        names = subject.input_names
        floats = {i for i, x in enumerate(xs) if isinstance(x, np.ndarray) and x.dtype.kind == "f"}
        wanted = set(hand.input_grads) | (floats if hand.returned_none else set())
        self.notes: list[str] = []
        try:
            self._run(subject, params, [*hand.order], xs, wanted, names, replay)
        except LayerCheckError as exc:
            extra_params, extra_inputs = hand.no_grad, wanted - set(hand.input_grads)
            if not extra_params and not extra_inputs:
                raise
            self._run(subject, params, list(hand.params), xs, set(hand.input_grads), names, replay)
            untried = [*extra_params, *(names[i] for i in sorted(extra_inputs))]
            self.notes.append(
                f"not checked, no gradient from the backward: {', '.join(untried)} (the forward cannot run with "
                f"them as Tensors, so whether the output depends on them is unknown: "
                f"{str(exc).removeprefix('check_backward: ')})"
            )
        for out, d in zip(self.outputs, hand.douts if differentiate else ()):
            if isinstance(out, Tensor) and out.requires_grad:
                out.backward(np.asarray(d, dtype=out.dtype).reshape(out.shape))
        self.grads: dict[str, np.ndarray] = {}
        for i, t in self.inputs.items():
            self.grads[names[i]] = np.zeros(t.shape) if t.grad is None else t.grad
        for path, t in self.tensors.items():
            self.grads[path] = np.zeros(t.shape) if t.grad is None else t.grad

    def _run(self, subject, params: _Params, paths, xs, wanted, names, replay) -> None:
        state = copy.deepcopy(subject.state)
        self.tensors = {}
        for canon in paths:
            t = Tensor(get(state, canon), requires_grad=True, name=canon)
            for p in params.paths[canon]:
                put(state, p, t)
            self.tensors[canon] = t
        vals = fresh(xs)
        self.inputs = {}
        for i, x in enumerate(vals):
            if i in wanted:
                vals[i] = self.inputs[i] = Tensor(x, requires_grad=True, name=names[i])
            elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
                # a float input without a row (data, one-hot targets) is a Tensor too, without a graph:
                # X.dot(W) with W a Tensor then records (an ndarray's own method would cut the graph)
                vals[i] = Filled(x)
        try:
            with replay.run(), recording(replay.swap) as seen, without_small_constants(self.drop):
                outs = subject.outputs(state, vals)
        except LayerCheckError:
            raise
        except Exception as exc:
            where = traceback_line(exc)
            at = f" (at {where})" if where else ""
            text = str(exc)
            if isinstance(exc, TypeError) and " is not supported on Tensors" in text:
                call = text.split(" is not supported", 1)[0]
                raise LayerCheckError(
                    f"check_backward: {subject.forward_name} on Tensors: {call} cannot be recorded{at}; write "
                    "that line with numpy functions the engine records (tinygrad_mlp.numpy_api.supported())"
                ) from exc
            raise LayerCheckError(
                f"check_backward: {subject.forward_name} on Tensors: {type(exc).__name__}: {text}{at}"
            ) from exc
        self.cuts = seen.cuts
        if not any(isinstance(o, Tensor) for o in outs):
            cut = f" ({'; '.join(seen.cuts)})" if seen.cuts else ""
            raise LayerCheckError(
                f"check_backward: {subject.forward_name} returned {type(outs[0]).__name__} when run on Tensors, so no "
                f"graph was recorded{cut}"
            )
        self.outputs = outs


def _small_constants(outputs: list) -> list[str]:
    """Small nonzero constants added in the traced forward (``log(y + 1e-7)``), in words."""
    nodes = autograd.toposort([o for o in outputs if isinstance(o, Tensor) and o.requires_grad])
    consumers: dict[int, str] = {}
    for node in nodes:
        if node._ctx is not None:
            for p in node._ctx.parents:
                consumers.setdefault(id(p), node._ctx.name)
    found = []
    for node in nodes:
        ctx = node._ctx
        if ctx is None or ctx.name not in ("add", "sub"):
            continue
        for p in ctx.parents:
            if p.requires_grad or p._ctx is not None or p.data.size > 1:
                continue
            c = float(np.max(np.abs(p.data)))
            if 0 < c <= 1e-3:
                inside = consumers.get(id(node))
                text = f"{inside}(... + {c:g})" if inside in ("log", "sqrt", "div", "pow") else f"+ {c:g}"
                if text not in found:
                    found.append(text)
    return found


# ---------------------------------------------------------------- the numerical side


class _Numerical:
    """Central differences of sum(dout * outputs) at entries of inputs and parameters."""

    def __init__(self, subject: Subject, xs: list, hand: _Hand, replay: RandomReplay, eps: float):
        self.subject, self.xs, self.hand, self.replay, self.eps = subject, xs, hand, replay, eps
        self.index = {n: i for i, n in enumerate(subject.input_names)}
        self.center = self.evaluate()
        self.resolution = 10 * float(np.sum(np.abs(self.center))) * np.finfo(np.float64).eps / eps
        self.kinks = self.nonfinite = 0

    def evaluate(self, target: str | None = None, j: int = 0, delta: float = 0.0) -> np.ndarray:
        state, vals = copy.deepcopy(self.subject.state), fresh(self.xs)
        if target is not None:
            arr = vals[self.index[target]] if target in self.index else get(state, target)
            arr.flat[j] += delta
        try:
            with self.replay.run(), recording(self.replay.swap, tensors=False), np.errstate(all="ignore"):
                outs = self.subject.outputs(state, vals)
        except Exception as exc:
            where = traceback_line(exc)
            raise LayerCheckError(
                f"check_backward: {self.subject.forward_name} raised during the numerical check"
                + (f" ({target}[{j}] moved by {delta:g})" if target else "")
                + f": {type(exc).__name__}: {exc}"
                + (f" at {where}" if where else "")
            ) from exc
        return np.concatenate(
            [(d * np.asarray(o, dtype=np.float64)).reshape(-1) for o, d in zip(outs, self.hand.douts)]
        )

    def slopes(self, target: str, j: int, h: float) -> tuple[float, float, float]:
        """(left, right, central) slopes at entry ``j`` with step ``h``."""
        plus, minus = self.evaluate(target, j, h), self.evaluate(target, j, -h)
        if not (np.all(np.isfinite(plus)) and np.all(np.isfinite(minus))):
            return np.nan, np.nan, np.nan
        right = float(np.sum(plus - self.center)) / h
        left = float(np.sum(self.center - minus)) / h
        return left, right, float(np.sum(plus - minus)) / (2 * h)

    def sample(self, target: str, size: int, samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(size) if size <= samples else np.sort(rng.choice(size, size=samples, replace=False))
        values = []
        for j in idx:
            left, right, slope = self.slopes(target, j, self.eps)
            if np.isnan(slope):
                self.nonfinite += 1
            elif abs(right - left) > 1e-6 * max(abs(right), abs(left)) + self.resolution:
                # one-sided slopes differ: curvature, or a kink (ReLU) within the step? A smooth
                # function gives the same central difference with a 10x smaller step
                fine = self.slopes(target, j, self.eps / 10)[2]
                if not abs(fine - slope) <= 1e-3 * max(abs(fine), abs(slope)) + 100 * self.resolution:
                    slope, self.kinks = np.nan, self.kinks + 1  # the slope jumps within the step
            values.append(slope)
        return idx, np.array(values, dtype=np.float64)

    def on_kink(self, target: str, j: int, value: float, slack: float) -> bool:
        """Whether entry ``j`` sits exactly on a kink (one-sided slopes differ at a step of
        eps and of eps/1000 alike) and ``value`` lies between the one-sided slopes."""
        jumps = []
        for h in (self.eps, self.eps * 1e-3):
            left, right, _ = self.slopes(target, j, h)
            res = self.resolution * self.eps / h
            jumps.append((left, right, abs(right - left) > 1e-3 * max(abs(left), abs(right)) + 100 * res))
        (_, _, coarse), (left, right, fine) = jumps
        return coarse and fine and min(left, right) - slack <= value <= max(left, right) + slack


def _close_without_constants(subject, params, hand, xs, replay, rows, written, ctx) -> list[GradRow]:
    """Rows that disagree, graded again: a hand-written gradient that is exactly the
    gradient of the forward without its small constants (``log(y + 1e-7)`` as ``log(y)``)
    is "close": right for the function meant, off from the one written by a share the
    constant explains."""
    try:
        bare = _Traced(subject, params, hand, xs, replay, drop=True).grads
    except (LayerCheckError, FloatingPointError, ZeroDivisionError):
        return rows
    for row in rows:
        if row.ok or row.name not in written or row.name not in bare:
            continue
        hand_grad = np.asarray(written[row.name], dtype=np.float64)
        auto_bare = bare[row.name]
        if hand_grad.shape != auto_bare.shape or not np.all(np.isfinite(auto_bare)):
            continue
        off = share(float(np.max(np.abs(auto_bare - hand_grad))) if hand_grad.size else 0.0, auto_bare)
        if off <= ctx["tol"] and "automatic differs from central differences" not in row.problem:
            row.ok, row.verdict, row.problem = True, "close", ""
            row.note = (
                f"the hand-written gradient is that of the forward without its small constant "
                f"({', '.join(ctx['constants'])}), to {off:.1e}; the forward as written differs from it by "
                f"{row.max_rel:.2e} of its largest entry: the backward leaves the constant out"
            )
    return rows


# ---------------------------------------------------------------- check_backward


def check_backward(
    layer: Any,
    *inputs: Any,
    dout: np.ndarray | float | list | None = None,
    forward: str = "forward",
    backward: str = "backward",
    seed: int = 0,
    samples: int = 20,
    tol: float = 1e-8,
    num_tol: float = 1e-5,
    eps: float = 1e-4,
    constants: tuple[str, ...] | list[str] = (),
) -> LayerReport:
    """Check a hand-written backward against autograd run on its own forward code, and
    both against float64 central differences (see the module docstring).

    ``layer``: an object with ``forward``/``backward`` methods (any names), a function
    pair ``(f_forward, f_backward)``, or a loss function returning ``(loss, grads)``.
    ``dout`` is dL/d(output), a list for several outputs (default: seeded random normal
    of each output's shape, 1.0 for a scalar). ``samples`` entries of each input and
    parameter are checked numerically (all of them for smaller arrays), chosen with
    ``seed``. ``tol`` bounds the rel diff (|automatic - hand-written| as a share of the
    automatic gradient's largest entry); ``num_tol`` bounds automatic vs numerical.
    ``constants`` names float arrays (by path, ``bn.running_mean``) that forward reads but
    that are no parameters. Nothing passed is called or changed.
    """
    subject = make_subject(layer, len(inputs), forward, backward)
    xs = _inputs64(inputs, subject.input_names)
    replay = RandomReplay(subject.code)
    try:
        return _check(subject, xs, dout, seed, samples, tol, num_tol, eps, constants, replay)
    finally:
        replay.restore()


def _check(subject, xs, dout, seed, samples, tol, num_tol, eps, constants, replay) -> LayerReport:
    fixed = _constants(subject, constants)
    params = _Params(subject.state, fixed)
    hand = _Hand(subject, params, xs, dout, seed, replay)
    traced = _Traced(subject, params, hand, xs, replay)
    names = subject.input_names
    notes = [*hand.notes, *params.aliases_note(), *traced.notes]
    if hand.random:
        notes.append(
            f"the forward is random (it draws from {', '.join(sorted(replay.drawn)) or 'a generator it holds'}): "
            "every run in this check replays the same draws, so it is checked as one fixed function; your "
            "random state is left as it was"
        )
    numerical = _Numerical(subject, xs, hand, replay, eps)
    expected = np.concatenate([(d * o).reshape(-1) for o, d in zip(hand.outputs, hand.douts)])
    if expected.shape != numerical.center.shape or not np.allclose(
        numerical.center, expected, rtol=1e-9, atol=1e-12, equal_nan=True
    ):
        raise LayerCheckError(
            f"check_backward: {subject.forward_name} gave different outputs on two runs from the same state and "
            "inputs: it is random, and its draws come from a generator the check cannot replay (numpy's global "
            "one and the Generators of its module are replayed); seed the generator it draws from"
        )
    for out, want in zip(traced.outputs, hand.outputs):
        got = out.data if isinstance(out, Tensor) else np.asarray(out, dtype=np.float64)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True):
            notes.append(
                f"{subject.forward_name} gave different values on Tensors than on arrays: check the engine"
            )
            break
    auto = traced.grads
    for cut in traced.cuts:
        notes.append(f"the forward on Tensors lost part of its graph: {cut}")

    input_rows = [names[i] for i in sorted(hand.input_grads)]
    none_rows = [
        names[i] for i in sorted(traced.inputs) if i not in hand.input_grads and np.any(auto[names[i]] != 0)
    ]
    forgot = [p for p in hand.no_grad if p in traced.tensors and np.any(auto[p] != 0)]
    unused = [p for p in hand.no_grad if p in traced.tensors and p not in forgot]
    if unused:
        notes.append(
            f"constants, no row: {', '.join(unused)} (no gradient from the backward, and the output does not "
            "depend on them through differentiable ops: zero automatic gradient)"
        )
    order = [*input_rows, *none_rows, *(p for p in hand.order if p in hand.params or p in forgot)]
    order.sort(key=lambda n: _position(n, names, input_rows + none_rows))
    rng = np.random.default_rng(seed)
    sampled = {k: numerical.sample(k, auto[k].size, samples, rng) for k in order}
    written = {names[i]: g for i, g in hand.input_grads.items()} | hand.params
    scale = max([float(np.max(np.abs(auto[k]))) for k in order if auto[k].size] or [0.0])
    ctx = {
        "tol": tol,
        "num_tol": num_tol,
        "scale": scale,
        "cuts": traced.cuts,
        "constants": _small_constants(traced.outputs),
    }
    rows = []
    for k in order:
        if k in forgot:
            rows.append(missing(k, auto[k], *sampled[k], hand.no_grad[k]))
        elif k in none_rows:
            rows.append(
                missing(k, auto[k], *sampled[k], f"{subject.title}'s backward returned None; return d{k}")
            )
        else:
            rows.append(grade(k, auto[k], written[k], *sampled[k], numerical, ctx))
    if ctx["constants"] and any(not r.ok and r.name in written for r in rows):
        rows = _close_without_constants(subject, params, hand, xs, replay, rows, written, ctx)
    empty = [r.name for r in rows if 0 in r.shape]
    if empty:
        notes.append(f"empty, nothing to compare: {', '.join(empty)}")
    if numerical.kinks:
        notes.append(
            f"{numerical.kinks} sampled entries left out of the numerical check: the slope changes within a step of "
            f"{eps:g} there (a kink, as in ReLU), so central differences mean nothing"
        )
    if numerical.nonfinite:
        notes.append(
            f"{numerical.nonfinite} sampled entries left out of the numerical check: the output was not finite a "
            f"step of {eps:g} away"
        )
    notes += resolution_notes(rows, numerical.resolution, num_tol, eps)
    out_shape = [o.shape for o in hand.outputs]
    report = LayerReport(
        subject.title,
        rows,
        out_shape[0] if len(out_shape) == 1 else out_shape,
        hand.dout_text,
        tol,
        num_tol,
        notes,
        hand.random,
    )
    return report


def _position(name: str, names: list[str], inputs: list[str]) -> tuple[int, int]:
    """Inputs first in the forward's order, then parameters in attribute order."""
    return (0, names.index(name)) if name in inputs else (1, 0)


def _constants(subject: Subject, constants) -> frozenset[str]:
    """``constants`` checked against the float arrays the object holds."""
    if isinstance(constants, str):
        constants = [constants]
    arrays = float_arrays(subject.state) if subject.state is not None else {}
    unknown = [c for c in constants if c not in arrays]
    if unknown:
        raise LayerCheckError(
            f"check_backward: constants: {subject.title} holds no float array {unknown[0]!r} "
            f"(its float arrays: {', '.join(arrays) or 'none'})"
        )
    return frozenset(constants)


def trace_layer(
    layer, *inputs, forward: str = "forward", backward: str = "backward", seed: int = 0
) -> Tensor:
    """Run ``layer``'s own forward code on Tensors (a float64 copy) and return the
    output Tensor (the first, for several): the graph :func:`check_backward`
    differentiates, for ``viz.draw_graph``. Parameters are leaves named by path
    (``layer1.W``), float inputs by the forward's parameter names. ``layer`` is not
    changed."""
    subject = make_subject(layer, len(inputs), forward, backward)
    xs = _inputs64(inputs, subject.input_names)
    replay = RandomReplay(subject.code)
    try:
        params = _Params(subject.state, frozenset())
        hand = _Hand(subject, params, xs, None, seed, replay)
        traced = _Traced(subject, params, hand, xs, replay, differentiate=False)
    finally:
        replay.restore()
    return next(o for o in traced.outputs if isinstance(o, Tensor))


# ---------------------------------------------------------------- the notebook's classes, from the command line


def check_notebook(seed: int = 0, batch_size: int = 8, samples: int = 5) -> list[tuple[str, LayerReport]]:
    """Check the original notebook's ``FCLayer`` and whole ``MLP`` (``predict``) with
    their own code (:mod:`tinygrad_mlp.notebook`), on a seeded batch of random images."""
    from .. import notebook

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
