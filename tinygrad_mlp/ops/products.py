"""Products: matmul (numpy.matmul semantics) and einsum (which tensordot, dot above 2-D and
inner are written with)."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, unbroadcast


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


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _split_subscripts(subscripts: str) -> tuple[list[str], str]:
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _tensordot_form(subscripts: str, a: np.ndarray, b: np.ndarray):
    """A two-operand einsum that is a tensordot (every label shared by a and b is summed, every
    other one is kept, none repeats within an operand) as np.tensordot, which runs on BLAS
    (np.einsum's own loop does not); None for any other einsum."""
    (ta, tb), out = _split_subscripts(subscripts)
    shared = [c for c in ta if c in tb]
    if len(set(ta)) < len(ta) or len(set(tb)) < len(tb) or any(c in out for c in shared):
        return None
    kept = [c for c in ta + tb if c not in shared]
    if sorted(kept) != sorted(out):
        return None
    r = np.tensordot(a, b, axes=([ta.index(c) for c in shared], [tb.index(c) for c in shared]))
    return r.transpose([kept.index(c) for c in out])


class Einsum(Function):
    """numpy.einsum with explicit subscripts (``"ij,jk->ik"``), one label per axis, no ellipsis
    and no broadcasting: ``numpy_api.einsum`` brings every call to this form. Repeated labels
    in an operand (``"ii->"``, ``"ii->i"``) take its diagonal. tensordot, dot above 2-D and
    inner are einsums too."""

    name = "einsum"

    def forward(self, *arrays, subscripts=""):
        self.subscripts = subscripts
        if len(arrays) == 2:
            out = _tensordot_form(subscripts, *arrays)
            if out is not None:
                return out
        # more than two operands: numpy picks a contraction order (and BLAS) when asked to optimize
        return np.einsum(subscripts, *arrays, optimize=len(arrays) > 2)

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        return ShapeError(f"einsum: {exc} (subscripts '{self.subscripts}', operand shapes {shapes})")

    def vjp(self, g, out, *inputs):
        # d einsum(..., x_k, ...)/dx_k = einsum(g, the other operands -> the labels of x_k)
        return tuple(
            self._operand_grad(k, g, inputs) if need else None for k, need in enumerate(self.needs_input_grad)
        )

    def jvp(self, t, out, *inputs):
        # d einsum(x_1, ..., x_n) = sum over k of einsum(x_1, ..., dx_k, ..., x_n)
        total = None
        for k in range(len(inputs)):
            args = inputs[:k] + (t[k],) + inputs[k + 1 :]
            term = _call(Einsum, *args, subscripts=self.subscripts)
            total = term if total is None else total + term
        return total

    def _operand_grad(self, k: int, g, inputs: tuple):
        """The einsum that sends ``g`` back to operand ``k``: ``g`` and the other operands,
        contracted to operand k's labels. A label that only operand k has gets a ones vector
        (the gradient is copied along it); a repeated label gets a fresh label tied to the
        first by an identity matrix (the gradient lands on the diagonal)."""
        terms, output = _split_subscripts(self.subscripts)
        term, shape, dtype = terms[k], inputs[k].shape, g.dtype
        subs = [output] + [s for j, s in enumerate(terms) if j != k]
        args = [g] + [x for j, x in enumerate(inputs) if j != k]
        present = set("".join(subs))
        fresh = (c for c in _LETTERS if c not in self.subscripts)
        target = ""
        for axis, c in enumerate(term):
            if c in target:  # a repeated label: a fresh one, equal to c through the identity
                f = next(fresh)
                subs.append(c + f)
                args.append(np.eye(shape[axis], dtype=dtype))
                target += f
                present.add(c)
            else:
                target += c
        for axis, c in enumerate(term):
            if c not in present:  # summed inside operand k alone: copy the gradient along it
                subs.append(c)
                args.append(np.ones(shape[axis], dtype=dtype))
                present.add(c)
        return _call(Einsum, *args, subscripts=",".join(subs) + "->" + target)
