"""Reverse-mode autodiff: the grad mode switches and the backward pass.

The backward pass, in three steps:

1. Sort the graph topologically, without recursion (an explicit stack), so that a
   chain of 100,000 ops works. Each node is visited once; parents are walked in
   the order the op received them, so the order is deterministic.
2. Walk the nodes from the output back to the inputs. This call's gradients live
   in its own dict: a node's gradient is taken out of the dict when the node is
   reached (it has then received every contribution), handed to the node's op,
   whose backward gives one gradient per parent; a parent's first contribution is
   stored as it is, later ones are added.
3. Every node that requires grad keeps the gradient in ``.grad``, adding it to
   what a former call left there (as PyTorch does for leaves). Since each call
   propagates only its own gradient, two calls give exactly twice the gradient.

This module works on any object with the Tensor attributes it reads (``data``,
``grad``, ``requires_grad``, ``_ctx``); it imports numpy only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np


class _GradMode:
    enabled = True
    anomaly = False


GRAD_MODE = _GradMode()


class _Switch(contextlib.ContextDecorator):
    """Sets one grad-mode flag inside a ``with`` block or a decorated function, and
    restores it afterwards (a stack, so a decorated function may recurse)."""

    flag = "enabled"
    value = False

    def __init__(self) -> None:
        self._saved: list[bool] = []

    def __enter__(self):
        self._saved.append(getattr(GRAD_MODE, self.flag))
        setattr(GRAD_MODE, self.flag, self.value)
        return self

    def __exit__(self, *exc) -> None:
        setattr(GRAD_MODE, self.flag, self._saved.pop())


class no_grad(_Switch):
    """Within ``with no_grad():`` (or a function decorated ``@no_grad()``), ops record
    no graph and their results do not require grad. Use it for evaluation and for
    updating parameters."""

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
    """True when ops record the graph (outside ``no_grad``)."""
    return GRAD_MODE.enabled


def toposort(root) -> list:
    """The tensors of ``root``'s graph that require grad, each once, every tensor after
    all of its parents (so ``reversed()`` of it is the order backward visits)."""
    order = []
    visited = {id(root)}
    stack = [(root, iter(root._ctx.parents if root._ctx is not None else ()))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p.requires_grad and id(p) not in visited:
                visited.add(id(p))
                stack.append((p, iter(p._ctx.parents if p._ctx is not None else ())))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _check_finite(ctx, grads) -> None:
    for i, g in enumerate(grads):
        if g is not None and not np.all(np.isfinite(g)):
            where = getattr(ctx, "created_at", None)
            made = f"; the op was created at {where}" if where else ""
            kind = "NaN" if np.isnan(g).any() else "Inf"
            raise FloatingPointError(
                f"anomaly: the backward of '{ctx.name}' produced {kind} in the gradient "
                f"of its input {i} (shape {g.shape}){made}"
            )


def backward(root, grad: np.ndarray | None = None, on_visit: Callable | None = None) -> None:
    """Run the backward pass from ``root`` (see the module docstring).

    ``on_visit(tensor)``, when given, is called for each tensor once its gradient
    is complete, in the order backward visits them (the step-by-step pictures of
    ``tinygrad_mlp.viz`` use it).
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph "
            "(create its inputs with requires_grad=True, outside no_grad)"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be left out only for a one-element tensor; this one has "
                f"shape {root.data.shape}, so pass grad= of that shape"
            )
        grad = np.ones_like(root.data)
    else:
        grad = np.array(
            getattr(grad, "data", grad), dtype=root.data.dtype
        )  # a copy: never alias the caller's array
        if grad.shape != root.data.shape:
            raise RuntimeError(
                f"backward: grad has shape {grad.shape} but the tensor has shape {root.data.shape}"
            )
    anomaly = GRAD_MODE.anomaly
    grads = {id(root): grad}
    stored = set()  # ids of the arrays this call stored in some .grad
    for node in reversed(toposort(root)):
        g = grads.pop(id(node))
        ctx = node._ctx
        if node.grad is not None:
            node.grad = node.grad + g
        elif ctx is None and (g.base is not None or id(g) in stored):
            # A leaf gets an array of its own, not a view shared with another tensor's
            # .grad, so that changing one gradient in place never changes another.
            node.grad = g.copy()
        else:
            node.grad = g
        stored.add(id(node.grad))
        if on_visit is not None:
            on_visit(node)
        if ctx is None:
            continue
        in_grads = ctx.backward(g)
        if anomaly:
            _check_finite(ctx, in_grads)
        for parent, pg in zip(ctx.parents, in_grads):
            if pg is None or not parent.requires_grad:
                continue
            if type(pg) is not np.ndarray:  # numpy gives scalars for 0-d results
                pg = np.asarray(pg)
            data = parent.data
            if pg.dtype != data.dtype:
                pg = pg.astype(data.dtype)
            if pg.shape != data.shape:
                raise RuntimeError(
                    f"backward of '{ctx.name}' returned a gradient of shape {pg.shape} "
                    f"for an input of shape {data.shape}"
                )
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg
