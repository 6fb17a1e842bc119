"""Products: matmul (numpy.matmul semantics)."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, unbroadcast


class MatMul(Function):
    """numpy.matmul: 2-D @ 2-D, 1-D operands (vector), and batched (broadcast) stacks."""

    name = "matmul"

    def forward(self, a, b):
        return a @ b  # shapes are checked by numpy; shape_error says what it refused

    def shape_error(self, exc: Exception, a: np.ndarray, b: np.ndarray) -> ShapeError:
        if a.ndim == 0 or b.ndim == 0:
            return ShapeError(
                f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}"
            )
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka != kb:
            return ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                f"{ka} (last dim of a) != {kb} ({'dim -2' if b.ndim >= 2 else 'dim 0'} of b)"
            )
        return ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast together")

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            # d(a@b)/da = g @ b.T, d(a@b)/db = a.T @ g
            return (g @ b.T if need_a else None, a.T @ g if need_b else None)
        # General case: view 1-D operands as a row (a) or a column (b), then undo.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if need_a:
            # d(a@b)/da = g @ b^T (over the last two axes), summed over broadcast batch axes
            ga = unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            # d(a@b)/db = a^T @ g (over the last two axes), summed over broadcast batch axes
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb

    def jvp(self, t, out, a, b):
        # d(a@b) = da @ b + a @ db
        return t[0] @ b + a @ t[1]


# ---------------------------------------------------------------- unary elementwise
