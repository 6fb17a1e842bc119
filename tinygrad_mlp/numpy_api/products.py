"""Products on Tensors: dot, vdot, inner, outer, tensordot, einsum, kron, cross (matmul is a
ufunc, in elementwise).

tensordot, inner and dot above 2-D are einsums: one op whose derivative with respect to each
operand is another einsum (``ops.Einsum``). ``einsum`` here brings numpy's every way of
writing the subscripts (implicit output, ``...``, the interleaved operand/sublist form,
broadcasting of length-1 axes) down to the explicit form that op takes.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..ops import Einsum, ShapeError
from ..ops.products import _LETTERS
from ._util import _first_tensor, _lift_like, _lift_pair


def _lift_all(arrays) -> list:
    t = _first_tensor(arrays)
    return [_lift_like(x, t) for x in arrays]


# ---------------------------------------------------------------- einsum


def _parse(operands) -> tuple[list[str], str | None, list]:
    """(one subscript string per operand, the output subscripts or None, the operands), from
    ``einsum("ij,jk->ik", a, b)`` or the interleaved ``einsum(a, [0, 1], b, [1, 2], [0, 2])``;
    ``...`` stays as it is."""
    if isinstance(operands[0], str):
        subs = operands[0].replace(" ", "")
        arrays = list(operands[1:])
        inputs, arrow, output = subs.partition("->")
        terms = inputs.split(",")
        out = output if arrow else None
    else:

        def letters(sublist) -> str:
            return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sublist)

        rest = list(operands)
        out = letters(rest.pop()) if len(rest) % 2 else None
        arrays = rest[0::2]
        terms = [letters(s) for s in rest[1::2]]
    if len(terms) != len(arrays):
        raise ShapeError(f"einsum: {len(terms)} subscript terms for {len(arrays)} operands")
    return terms, out, arrays


def _explicit(terms: list[str], out: str | None, arrays: list) -> tuple[list[str], str]:
    """Subscripts with ``...`` replaced by letters (right-aligned, as numpy broadcasts) and the
    implicit output made explicit (the ellipsis axes, then the labels used once, sorted)."""
    used = set("".join(terms) + (out or "")) - {"."}
    spare = [c for c in _LETTERS if c not in used]
    n_ell = 0
    for term, x in zip(terms, arrays):
        if "..." in term:
            n_ell = max(n_ell, x.ndim - len(term.replace("...", "")))
    ell = "".join(spare[:n_ell])
    full = []
    for k, (term, x) in enumerate(zip(terms, arrays)):
        if "..." in term:
            n = x.ndim - len(term.replace("...", ""))
            if n < 0:
                raise ShapeError(f"einsum: operand {k} of shape {x.shape} has fewer axes than '{term}' names")
            term = term.replace("...", ell[n_ell - n :] if n else "")
        if len(term) != x.ndim:
            raise ShapeError(
                f"einsum: subscripts '{term}' name {len(term)} axes, but operand {k} has shape {x.shape}"
            )
        full.append(term)
    if out is None:
        once = [c for c in sorted(set("".join(full)) - set(ell)) if "".join(full).count(c) == 1]
        out = ell + "".join(once)
    elif "..." in out:
        out = out.replace("...", ell)
    elif ell:
        raise ShapeError(
            f"einsum: the output '{out}' has no '...' for the {len(ell)} axes the inputs' '...' stand for"
        )
    for c in out:
        if c not in "".join(full) or out.count(c) > 1:
            raise ShapeError(f"einsum: output label '{c}' is repeated or names no input axis")
    return full, out


def einsum(*operands, out=None, optimize=False, **kwargs):
    """numpy.einsum for Tensors (``optimize`` is accepted: the op always lets numpy choose
    the order of a contraction of several operands)."""
    if out is not None or kwargs:
        what = "out=" if out is not None else ", ".join(f"{k}=" for k in kwargs)
        raise TypeError(f"numpy.einsum with {what} is not supported on Tensors")
    terms, output, arrays = _parse(operands)
    arrays = _lift_all(arrays)
    terms, output = _explicit(terms, output, arrays)
    sizes: dict[str, int] = {}
    for term, x in zip(terms, arrays):
        for c, n in zip(term, x.shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                shapes = ", ".join(str(a.shape) for a in arrays)
                raise ShapeError(
                    f"einsum: label '{c}' has lengths {sizes[c]} and {n} (operand shapes {shapes}, "
                    f"subscripts '{','.join(terms)}->{output}')"
                )
            sizes[c] = max(sizes.get(c, 1), n)
    # an axis of length 1 against a longer one broadcasts: drop it from its operand
    for k, (term, x) in enumerate(zip(terms, arrays)):
        keep = [i for i, c in enumerate(term) if not (x.shape[i] == 1 and sizes[c] > 1)]
        if len(keep) < len(term):
            if any(term.count(term[i]) > 1 for i in range(len(term)) if i not in keep):
                raise ShapeError(f"einsum: the repeated label in '{term}' has lengths {x.shape}")
            arrays[k] = x.reshape(tuple(x.shape[i] for i in keep))
            terms[k] = "".join(term[i] for i in keep)
    return Einsum.apply(*arrays, subscripts=",".join(terms) + "->" + output)


# ---------------------------------------------------------------- tensordot, dot, inner, vdot


def _axes_list(axes, ndim: int, which: str) -> list[int]:
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"tensordot: axis {a} of {which} is out of range for {ndim} dimensions")
    return [int(a) % ndim for a in axes]


def tensordot(a, b, axes=2):
    """numpy.tensordot for Tensors: an int N (the last N axes of a with the first N of b) or
    a pair of axis sequences; an einsum."""
    a, b = _lift_pair(a, b)
    if isinstance(axes, (int, np.integer)):
        if axes < 0 or axes > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: axes={axes} for shapes {a.shape} and {b.shape}")
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = _axes_list(axes[0], a.ndim, "a"), _axes_list(axes[1], b.ndim, "b")
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ShapeError(
            f"tensordot: shape-mismatch for sum: axes {ax_a} of {a.shape} against axes {ax_b} of {b.shape}"
        )
    la = _LETTERS[: a.ndim]
    lb = list(_LETTERS[a.ndim : a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = "".join(la[i] for i in range(a.ndim) if i not in ax_a) + "".join(
        lb[j] for j in range(b.ndim) if j not in ax_b
    )
    return Einsum.apply(a, b, subscripts=f"{la},{''.join(lb)}->{out}")


def dot(a, b, out=None):
    """numpy.dot for Tensors: a product for a scalar operand, a matmul for 1-D and 2-D
    operands, and above 2-D the sum over the last axis of a and the second-to-last of b."""
    if out is not None:
        raise TypeError("numpy.dot with out= is not supported on Tensors")
    a, b = _lift_pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    kb = b.ndim - 2 if b.ndim >= 2 else 0
    if a.shape[-1] != b.shape[kb]:
        raise ShapeError(
            f"dot: shapes {a.shape} and {b.shape} are not aligned: "
            f"{a.shape[-1]} (last dim of a) != {b.shape[kb]} (dim {kb} of b)"
        )
    if a.ndim <= 2 and b.ndim <= 2:
        return a @ b
    return tensordot(a, b, axes=([a.ndim - 1], [kb]))


def vdot(a, b):
    """numpy.vdot for Tensors: the dot product of the flattened operands (real: no conjugate)."""
    a, b = _lift_pair(a, b)
    if a.size != b.size:
        raise ShapeError(f"vdot: operands of {a.size} and {b.size} elements (shapes {a.shape} and {b.shape})")
    return a.reshape(-1) @ b.reshape(-1)


def inner(a, b):
    """numpy.inner for Tensors: the sum over the last axes of a and b."""
    a, b = _lift_pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: the last dimensions of {a.shape} and {b.shape} differ")
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 1]))


# ---------------------------------------------------------------- outer, kron, cross


def outer(a, b, out=None):
    """numpy.outer for Tensors: the flattened a as a column times the flattened b as a row."""
    if out is not None:
        raise TypeError("numpy.outer with out= is not supported on Tensors")
    a, b = _lift_pair(a, b)
    return a.reshape(-1, 1) * b.reshape(1, -1)


def kron(a, b):
    """numpy.kron for Tensors: block (i, j, ...) of the result is a[i, j, ...] * b, built as a
    broadcast product of a and b with their axes interleaved, then one reshape."""
    a, b = _lift_pair(a, b)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    wide_a = a.reshape(tuple(x for n in sa for x in (n, 1)))
    wide_b = b.reshape(tuple(x for n in sb for x in (1, n)))
    return (wide_a * wide_b).reshape(tuple(p * q for p, q in zip(sa, sb)))


def _levi_civita(na: int, nb: int, dtype) -> np.ndarray:
    """eps[i, j, k] with c_i = eps_ijk a_j b_k; a 2-vector is a 3-vector with z = 0, so its
    slice of eps keeps j (or k) < 2; two 2-vectors give the z component alone."""
    eps = np.zeros((3, 3, 3), dtype=dtype)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        eps[i, j, k], eps[i, k, j] = 1, -1
    eps = eps[:, :na, :nb]
    return eps[2] if na == nb == 2 else eps


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy.cross for Tensors: c_i = eps_ijk a_j b_k along ``axisa`` of a and ``axisb`` of b
    (other axes broadcast), the result's vectors along ``axisc``; ``axis`` sets all three. A
    2-vector counts as a 3-vector with z = 0, and two 2-vectors give the z component, as numpy
    does, with numpy's deprecation warning."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _lift_pair(a, b)
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(
            f"cross: the vectors must have 2 or 3 components, got {na} and {nb} (shapes {a.shape}, {b.shape})"
        )
    if na == 2 or nb == 2:
        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional vectors "
            "instead. (deprecated in NumPy 2.0)",
            DeprecationWarning,
            stacklevel=3,
        )
    eps = _levi_civita(na, nb, np.result_type(a.dtype, b.dtype))
    if na == nb == 2:
        return einsum("jk,...j,...k->...", eps, a, b)
    return np.moveaxis(einsum("ijk,...j,...k->...i", eps, a, b), -1, axisc)


FUNCTIONS = {
    np.dot: dot,
    np.vdot: vdot,
    np.inner: inner,
    np.outer: outer,
    np.tensordot: tensordot,
    np.einsum: einsum,
    np.kron: kron,
    np.cross: cross,
}
