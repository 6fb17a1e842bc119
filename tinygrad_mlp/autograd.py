"""Reverse-mode autodiff: the grad mode switches, the backward pass and ``grad``.

The backward pass, in three steps:

1. Sort the graph topologically, without recursion (an explicit stack), so that a
   chain of 100,000 ops works. Each node is visited once; parents are walked in
   the order the op received them, so the order is deterministic.
2. Walk the nodes from the outputs back to the inputs. This call's gradients live
   in its own dict: a node's gradient is taken out of the dict when the node is
   reached (it has then received every contribution), handed to the op's
   vector-Jacobian product (``Function.vjp``), which gives one gradient per
   parent; a parent's first contribution is stored as it is, later ones are added.
3. ``Tensor.backward`` keeps each node's gradient in ``.grad`` (adding to what a
   former call left there, as PyTorch does for leaves); since each call
   propagates only its own gradient, two calls give exactly twice the gradient.
   :func:`grad` instead returns the inputs' gradients and writes no ``.grad``.

Higher orders: with ``create_graph=True`` the same walk runs on Tensors instead of
arrays. Every op's ``vjp`` is written with ops that work on both (numpy functions
called on Tensors record themselves, see ``tensor.py``), so the backward pass is
recorded like any forward computation and can be differentiated again. Nothing is
written twice: the rule that runs on arrays for a first derivative is the rule
that runs on Tensors for a second.

Grad mode lives in a ``contextvars.ContextVar``: every thread starts with its own
context (grad enabled, as in PyTorch, whose grad mode is thread-local), so one
thread's ``no_grad`` never changes another's. A ContextVar was chosen over
``threading.local`` because it is also right for asyncio tasks and because its
``get()`` is the cheaper of the two (about 25 ns against 100 ns for a
``threading.local`` attribute here), and ``_apply`` reads it on every op.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Sequence

import numpy as np


class Mode:
    """The per-thread (per-context) state of the engine, immutable: a switch sets a new one.

    ``enabled``: ops record the graph. ``anomaly``: ops remember where they were made
    and backward checks for NaN/Inf. ``in_backward``: ops are being recorded by a
    ``create_graph`` backward pass (the pictures draw them apart). ``tagging`` is
    ``anomaly or in_backward`` (one test on the hot path). ``fw``: the forward-mode
    levels of the ``func.jvp`` calls under way, innermost last (see ``func.py``).
    """

    __slots__ = ("enabled", "anomaly", "in_backward", "tagging", "fw")

    def __init__(self, enabled=True, anomaly=False, in_backward=False, fw=()) -> None:
        self.enabled, self.anomaly, self.in_backward, self.fw = enabled, anomaly, in_backward, fw
        self.tagging = anomaly or in_backward

    def replace(self, **changes) -> Mode:
        """A copy with some fields changed."""
        fields = {k: getattr(self, k) for k in ("enabled", "anomaly", "in_backward", "fw")}
        fields.update(changes)
        return Mode(**fields)


MODE: contextvars.ContextVar[Mode] = contextvars.ContextVar(
    "tinygrad_mlp_mode",
    default=Mode(),  # noqa: B039 (a Mode is never changed: switches set a new one)
)


@contextlib.contextmanager
def using(**changes):
    """Within the block, the mode has ``changes``; restored on exit (even on error)."""
    token = MODE.set(MODE.get().replace(**changes))
    try:
        yield
    finally:
        MODE.reset(token)


class _Switch(contextlib.ContextDecorator):
    """Sets one mode flag inside a ``with`` block or a decorated function, and restores
    it afterwards. The saved tokens are kept per context, so one instance (a decorator)
    may be used by several threads at once, and a decorated function may recurse."""

    flag = "enabled"
    value = False

    def __init__(self) -> None:
        self._tokens: contextvars.ContextVar[tuple] = contextvars.ContextVar("switch_tokens", default=())

    def __enter__(self):
        token = MODE.set(MODE.get().replace(**{self.flag: self.value}))
        self._tokens.set((*self._tokens.get(), token))
        return self

    def __exit__(self, *exc) -> None:
        tokens = self._tokens.get()
        self._tokens.set(tokens[:-1])
        MODE.reset(tokens[-1])


class no_grad(_Switch):
    """Within ``with no_grad():`` (or a function decorated ``@no_grad()``), ops record
    no graph and their results do not require grad. Use it for evaluation and for
    updating parameters. It applies to the current thread only."""

    flag, value = "enabled", False


class enable_grad(_Switch):
    """Turns recording back on inside a ``no_grad`` block."""

    flag, value = "enabled", True


class detect_anomaly(_Switch):
    """Opt-in checks, like ``torch.autograd.detect_anomaly``: inside the block every
    op remembers where it was created, and backward raises ``FloatingPointError`` at
    the first op whose backward produced a NaN or Inf, naming that op and the line
    of code that made it. It costs time, so it is off by default."""

    flag, value = "anomaly", True


def is_grad_enabled() -> bool:
    """True when ops record the graph (outside ``no_grad``), in this thread."""
    return MODE.get().enabled


class _GradModeView:
    """Read-only view of the current thread's mode, for code of the first round that
    read ``autograd.GRAD_MODE.enabled``."""

    @property
    def enabled(self) -> bool:
        return MODE.get().enabled

    @property
    def anomaly(self) -> bool:
        return MODE.get().anomaly


GRAD_MODE = _GradModeView()


# ---------------------------------------------------------------- graph walking


def toposort(roots) -> list:
    """The tensors of the roots' graph that require grad, each once, every tensor after
    all of its parents (so ``reversed()`` of it is the order backward visits).
    ``roots`` is a Tensor or a sequence of them."""
    if not isinstance(roots, (list, tuple)):
        roots = (roots,)
    order = []
    visited = set()  # tensors hash by identity
    if MUTATED[0] > 0:  # some tensor was assigned into: ops recorded before read its old values
        return _toposort_repairing(roots, order, visited)
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root._ctx.parents if root._ctx is not None else ()))]
        while stack:
            node, parents = stack[-1]
            for p in parents:
                if p.requires_grad and p not in visited:
                    visited.add(p)
                    stack.append((p, iter(p._ctx.parents if p._ctx is not None else ())))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _toposort_repairing(roots, order: list, visited: set) -> list:
    """:func:`toposort` once a tensor was assigned into: each op is pointed at the
    versions of its inputs it read (:func:`_repair_mutated`) before its parents are walked."""

    def parents_of(node):
        ctx = node._ctx
        if ctx is None:
            return iter(())
        _repair_mutated(ctx)
        return iter(ctx.parents)

    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, parents_of(root))]
        while stack:
            node, parents = stack[-1]
            for p in parents:
                if p.requires_grad and p not in visited:
                    visited.add(p)
                    stack.append((p, parents_of(p)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _check_finite(ctx, grads) -> None:
    for i, g in enumerate(grads):
        g = getattr(g, "data", g) if not isinstance(g, np.ndarray) else g
        if g is not None and not np.all(np.isfinite(g)):
            where = getattr(ctx, "created_at", None)
            made = f"; the op was created at {where}" if where else ""
            kind = "NaN" if np.isnan(g).any() else "Inf"
            raise FloatingPointError(
                f"anomaly: the backward of '{ctx.name}' produced {kind} in the gradient "
                f"of its input {i} (shape {g.shape}){made}"
            )


# Tensors changed by an in-place assignment (``t[i] = v``) since the program started;
# while none has been, the graph walk skips the repair below.
MUTATED: list[int] = [0]


def _repair_mutated(ctx) -> None:
    """Point an op recorded before one of its inputs was assigned into at the value it
    read. ``t[i] = v`` makes ``t`` stand for the new values (a ``setitem`` node whose
    first parent holds the old ones) while ops recorded earlier still name ``t``; each
    op kept the arrays it saw (``ctx.arrays``), and an assignment never writes into an
    array (it copies), so the version an op read is found down the chain of
    ``setitem`` nodes by the identity of its array, and the op's gradient goes there.
    PyTorch refuses when backward needs an overwritten value; here none is ever
    overwritten, so nothing is refused. A Tensor whose ``.data`` was replaced another
    way (``t.data = ...``) has no such chain: that is refused, naming the op."""
    parents, arrays = ctx.parents, getattr(ctx, "arrays", None)
    if arrays is None or all(p.data is a for p, a in zip(parents, arrays)):
        return
    fixed = []
    for i, (p, arr) in enumerate(zip(parents, arrays)):
        node = p
        while node.data is not arr and node._ctx is not None and node._ctx.name == "setitem":
            node = node._ctx.parents[0]  # the values before that assignment
        if node.data is not arr:
            raise RuntimeError(
                f"backward: input {i} of '{ctx.name}' was changed after '{ctx.name}' used it, not by an "
                f"assignment t[i] = v (which is recorded) but by replacing its .data; compute a new tensor instead"
            )
        fixed.append(node)
    ctx.parents = tuple(fixed)


def _as_grad_tuple(ctx, in_grads) -> tuple:
    """What a vjp returned, as one gradient per input, or a clear error naming the op."""
    n = len(ctx.parents)
    if type(in_grads) is not tuple:
        if isinstance(in_grads, list):
            in_grads = tuple(in_grads)
        elif n == 1 and (in_grads is None or hasattr(in_grads, "shape")):
            in_grads = (in_grads,)  # one input: a bare gradient is accepted, as in PyTorch
        else:
            raise RuntimeError(
                f"backward of '{ctx.name}' must return a tuple of {n} gradients (one per input, "
                f"None where there is none); it returned {type(in_grads).__name__}"
            )
    if len(in_grads) != n:
        raise RuntimeError(
            f"backward of '{ctx.name}' returned {len(in_grads)} gradient(s) for {n} input(s); "
            f"return one per input (None for an input without a gradient)"
        )
    return in_grads


def _run_vjp_recorded(ctx, g, node):
    """One op's gradients on Tensors, recorded as backward-pass ops (create_graph)."""
    if not ctx.differentiable:
        raise RuntimeError(
            f"grad(create_graph=True): op '{ctx.name}' has a backward(g) on arrays only, which "
            f"cannot be differentiated again; write its vjp(g, out, *inputs) with Tensor-friendly "
            f"numpy calls (as the built-in ops do)"
        )
    with using(enabled=True, in_backward=True):
        return ctx.vjp(g, node, *ctx.parents)


def _backprop(roots, seeds, create_graph: bool, store: bool, wanted=None, on_visit=None) -> dict:
    """The walk of the module docstring. ``store``: keep gradients in ``.grad``;
    ``wanted``: the tensors whose gradients are returned (only the part of the graph
    that leads to them is walked). Returns {tensor: gradient} for ``wanted``.
    (Dicts and sets here hold tensors, which hash by identity.)"""
    order = toposort(roots)
    if wanted is not None:  # prune: only nodes with a path down to a wanted tensor matter
        leads = set(wanted)
        for node in order:  # parents come first
            ctx = node._ctx
            if ctx is not None and node not in leads and any(p in leads for p in ctx.parents):
                leads.add(node)
    grads = {}
    for root, seed in zip(roots, seeds):
        grads[root] = seed if root not in grads else grads[root] + seed
    lift = _lift_grad if create_graph else None
    anomaly = MODE.get().anomaly
    found = {}
    stored = set()  # ids of the arrays this call stored in some .grad
    ndarray = np.ndarray
    for node in reversed(order):
        g = grads.pop(node, None)
        if g is None:  # nothing flows here (pruned, or a backward returned None)
            continue
        ctx = node._ctx
        if store:
            if node.grad is not None:
                acc = node.grad + g
                node.grad = acc if type(acc) is ndarray else _as_ndarray(acc)  # 0-d sums are scalars
            elif ctx is None and (g.base is not None or id(g) in stored):
                # A leaf gets an array of its own, not a view shared with another tensor's
                # .grad, so that changing one gradient in place never changes another.
                node.grad = g.copy()
            else:
                node.grad = g if type(g) is ndarray else _as_ndarray(g)
            stored.add(id(node.grad))
            if on_visit is not None:
                on_visit(node)
        if wanted is not None:
            if node in wanted:
                found[node] = g
            if node not in leads:
                continue
        if ctx is None:
            continue
        # first order: the rule runs on the arrays the op saw; else on Tensors, recorded
        in_grads = ctx.vjp(g, node.data, *ctx.arrays) if lift is None else _run_vjp_recorded(ctx, g, node)
        parents = ctx.parents
        if type(in_grads) is not tuple or len(in_grads) != len(parents):
            in_grads = _as_grad_tuple(ctx, in_grads)
        if anomaly:
            _check_finite(ctx, in_grads)
        for parent, pg in zip(parents, in_grads):
            if pg is None or not parent.requires_grad:
                continue
            data = parent.data
            if lift is not None:
                pg = lift(pg, parent)
            elif type(pg) is not ndarray or pg.dtype != data.dtype:
                pg = _fit(pg, data)
            if pg.shape != data.shape:
                raise RuntimeError(
                    f"backward of '{ctx.name}' returned a gradient of shape {pg.shape} "
                    f"for an input of shape {data.shape}"
                )
            prev = grads.get(parent)
            if prev is None:
                grads[parent] = pg
            elif lift is None:
                acc = prev + pg
                # two 0-d arrays sum to a numpy scalar: keep an array (of its dtype, float64
                # included), since a rule lifts a bare scalar as it lifts a Python number
                grads[parent] = acc if type(acc) is ndarray else _as_ndarray(acc)
            else:
                with using(enabled=True, in_backward=True):
                    grads[parent] = prev + pg
    return found


def _as_ndarray(g):
    """A gradient as an ndarray (numpy gives scalars for 0-d results); an array being
    recorded by ``jit`` stays as it is."""
    return np.asarray(g) if isinstance(g, np.generic) or not getattr(g, "_traced", False) else g


def _fit(pg, data: np.ndarray) -> np.ndarray:
    """A first-order gradient as an ndarray of its input's dtype."""
    if type(pg) is not np.ndarray and (isinstance(pg, np.generic) or not getattr(pg, "_traced", False)):
        # numpy gives scalars for 0-d results (a jit's traced array stays as it is)
        pg = np.asarray(pg if isinstance(pg, np.generic) else getattr(pg, "data", pg))
    if pg.dtype != data.dtype:
        pg = pg.astype(data.dtype)
    return pg


_TENSOR: list = []  # set by tensor.py: [Tensor class, cast function]


def _lift_grad(pg, parent):
    """A create_graph gradient as a Tensor of its input's dtype (constants are lifted)."""
    tensor_cls, cast = _TENSOR
    if not isinstance(pg, tensor_cls):
        pg = tensor_cls(np.asarray(pg, dtype=parent.data.dtype))
    elif pg.data.dtype != parent.data.dtype:
        with using(enabled=True, in_backward=True):
            pg = cast(pg, parent.data.dtype)
    return pg


def backward(root, grad: np.ndarray | None = None, on_visit: Callable | None = None) -> None:
    """Run the backward pass from ``root`` and store ``.grad`` (see the module docstring).

    ``on_visit(tensor)``, when given, is called for each tensor once its gradient
    is complete, in the order backward visits them (the step-by-step pictures of
    ``tinygrad_mlp.viz`` use it).
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph "
            "(create its inputs with requires_grad=True, outside no_grad)"
        )
    seed = _seed(root, grad, "backward", "grad")
    _backprop((root,), (seed,), create_graph=False, store=True, on_visit=on_visit)


def _seed(root, grad, what: str, argname: str) -> np.ndarray:
    """The gradient that starts a backward pass from ``root``: 1 for one element, else given."""
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"{what}: {argname} can be left out only for a one-element tensor; this one has "
                f"shape {root.data.shape}, so pass {argname}= of that shape"
            )
        return np.ones(root.data.shape, root.data.dtype)
    seed = np.array(getattr(grad, "data", grad), dtype=root.data.dtype)  # a copy: never alias
    if seed.shape != root.data.shape:
        raise RuntimeError(f"{what}: grad has shape {seed.shape} but the tensor has shape {root.data.shape}")
    return seed


def _as_tuple(x, what: str) -> tuple:
    tensor_cls = _TENSOR[0]
    items = (x,) if isinstance(x, tensor_cls) else tuple(x) if isinstance(x, Sequence) else None
    if items is None or not items or not all(isinstance(t, tensor_cls) for t in items):
        raise TypeError(f"grad: {what} must be a Tensor or a non-empty sequence of Tensors")
    return items


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    *,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    ``outputs`` and ``inputs`` are a Tensor or a sequence of Tensors; the result is a
    tuple with one gradient per input, and no ``.grad`` is written. ``grad_outputs``
    (one per output: a Tensor, an array, or None for a one-element output) is the
    vector of the vector-Jacobian product. An input the outputs do not depend on is an
    error, or ``None`` with ``allow_unused=True``.

    With ``create_graph=True`` the backward pass is itself recorded: the returned
    gradients require grad (when they depend on something that does) and can be
    differentiated again, to any order. Without it they are constants.
    """
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require grad")
    tensor_cls = _TENSOR[0]
    roots, seeds = [], []
    for i, (out, go) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            if allow_unused:
                continue
            raise RuntimeError(
                f"grad: output {i} does not require grad: it depends on no tensor that requires grad "
                f"(a gradient computed without create_graph=True is a constant; pass create_graph=True "
                f"to the first grad() to differentiate it again)"
            )
        if create_graph and isinstance(go, tensor_cls):
            if go.shape != out.shape:
                raise RuntimeError(
                    f"grad: grad_outputs[{i}] has shape {go.shape} but output {i} has {out.shape}"
                )
            seed = go
        else:
            seed = _seed(out, go, "grad", f"grad_outputs[{i}]")
            if create_graph:  # named, so that a picture of the gradient's graph says what this 1 is
                seed = tensor_cls(seed, name="seed")
        roots.append(out)
        seeds.append(seed)
    found = _backprop(tuple(roots), tuple(seeds), create_graph=create_graph, store=False, wanted=set(inputs))
    result = []
    for i, t in enumerate(inputs):
        g = found.get(t)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {t.shape}{', ' + repr(t.name) if t.name else ''}) is not "
                    f"used by the outputs; pass allow_unused=True to get None for it"
                )
            result.append(None)
        elif create_graph:
            result.append(g)
        else:
            result.append(tensor_cls(np.array(g, dtype=t.data.dtype)))  # a copy, not a view
    return tuple(result)
