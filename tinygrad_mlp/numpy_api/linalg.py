"""numpy.linalg on Tensors: inv, solve, det, slogdet, cholesky, eigh, eigvalsh, svd, svdvals,
pinv, qr, norm (vectors and matrices, every ``ord`` with a derivative), matrix_norm,
vector_norm, multi_dot, and numpy 2's outer, cross, tensordot, vecdot, matmul,
matrix_transpose. The ops and the conditions their derivatives need are in
``ops/linalg.py``; results with several parts come as numpy's named tuples do (``w, v =
np.linalg.eigh(t)`` or ``.eigenvalues``)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..ops import ShapeError
from ..ops import linalg as la
from . import products
from ._util import _first_tensor, _lift_like, _lift_pair, _needs_graph, _tensor_cls

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])


def _constant(value, like):
    """A value without a derivative (a sign, a count), as a Tensor of ``like``'s dtype."""
    return _tensor_cls()(np.asarray(value, dtype=like.dtype))


def _square(a, what: str) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(f"{what}: expects a (stack of) square matrices, got shape {a.shape}")


def inv(a):
    """numpy.linalg.inv for Tensors."""
    return la.Inv.apply(a)


def solve(a, b):
    """numpy.linalg.solve for Tensors: b a vector (b.ndim == 1) or a stack of matrices
    (numpy 2's rule); batch axes broadcast."""
    a, b = _lift_pair(a, b)
    if b.ndim == 1:
        return la.Solve.apply(a, b.reshape(-1, 1))[..., 0]
    return la.Solve.apply(a, b)


def det(a):
    """numpy.linalg.det for Tensors."""
    return la.Det.apply(a)


def slogdet(a):
    """numpy.linalg.slogdet for Tensors: (sign, logabsdet); the sign is a constant."""
    _square(a, "slogdet")
    sign = np.linalg.slogdet(a.data)[0]
    return SlogdetResult(_constant(sign, a), la.LogAbsDet.apply(a))


def cholesky(a, /, *, upper=False):
    """numpy.linalg.cholesky for Tensors: of the lower triangle of a, or with ``upper=True``
    the upper factor of its upper triangle (the cholesky of a^T, transposed)."""
    if upper:
        return np.swapaxes(la.Cholesky.apply(np.swapaxes(a, -1, -2)), -1, -2)
    return la.Cholesky.apply(a)


def eigh(a, UPLO="L"):
    """numpy.linalg.eigh for Tensors: (eigenvalues, eigenvectors) of the symmetric matrix that
    the lower (``UPLO="U"``: upper) triangle of a stands for."""
    _square(a, "eigh")
    return EighResult(*la.EighValues.tensors(a, UPLO=UPLO))


def eigvalsh(a, UPLO="L"):
    """numpy.linalg.eigvalsh for Tensors: the eigenvalues alone."""
    return la.EighValues.apply(a, UPLO=UPLO)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """numpy.linalg.svd for Tensors: (U, S, Vh), or S alone with ``compute_uv=False``. The
    derivative exists for the reduced form: ``full_matrices=True`` is the same for a square
    matrix, and an error for another that takes part in a graph (the added columns of U or
    rows of Vh are not unique)."""
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"svd: expects a (stack of) matrices, got shape {a.shape}")
    if not compute_uv:
        return la.SvdS.apply(a)
    if hermitian and _needs_graph((a,)):
        raise TypeError("numpy.linalg.svd with hermitian=True is not supported on Tensors that require grad")
    if full_matrices and a.shape[-1] != a.shape[-2]:
        if _needs_graph((a,)):
            raise TypeError(
                f"numpy.linalg.svd: full_matrices=True of a non-square matrix (shape {a.shape}) has no "
                "derivative (the added singular vectors are not unique); pass full_matrices=False"
            )
        return SVDResult(*[_constant(x, a) for x in np.linalg.svd(a.data, full_matrices=True)])
    return SVDResult(*la.SvdU.tensors(a))


def svdvals(x, /):
    """numpy.linalg.svdvals for Tensors: the singular values."""
    return la.SvdS.apply(x)


def pinv(a, rcond=None, hermitian=False, **kw):
    """numpy.linalg.pinv for Tensors (the derivative assumes the rank is constant near a)."""
    options = {"hermitian": hermitian, **kw}
    if rcond is not None:
        options["rcond"] = rcond
    return la.Pinv.apply(a, **options)


def qr(a, mode="reduced"):
    """numpy.linalg.qr for Tensors: (Q, R) in mode "reduced", R alone in mode "r"; square or
    tall matrices of full column rank for the derivative."""
    if mode not in ("reduced", "r"):
        if _needs_graph((a,)):
            raise TypeError(
                f"numpy.linalg.qr with mode={mode!r} is not supported on Tensors that require grad"
            )
        return np.linalg.qr(a.data, mode=mode)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"qr: expects a (stack of) matrices, got shape {a.shape}")
    q, r = la.QrQ.tensors(a)
    return r if mode == "r" else QRResult(q, r)


def multi_dot(arrays, *, out=None):
    """numpy.linalg.multi_dot for Tensors: the matmuls from left to right (first and last
    operands may be vectors)."""
    if out is not None:
        raise TypeError("numpy.linalg.multi_dot with out= is not supported on Tensors")
    t = _first_tensor(arrays)
    result = _lift_like(arrays[0], t)
    for x in arrays[1:]:
        result = result @ _lift_like(x, t)
    return result


# ---------------------------------------------------------------- numpy 2's array-API products


def _outer_1d(x1, x2, /):
    x1, x2 = _lift_pair(x1, x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ShapeError(f"linalg.outer: the inputs must be 1-D, got shapes {x1.shape} and {x2.shape}")
    return products.outer(x1, x2)


def _cross_3d(x1, x2, /, *, axis=-1):
    x1, x2 = _lift_pair(x1, x2)
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ShapeError(
            f"linalg.cross: both inputs must be (arrays of) 3-vectors, got shapes {x1.shape} and {x2.shape}"
        )
    return products.cross(x1, x2, axis=axis)


def _vecdot(x1, x2, /, *, axis=-1):
    x1, x2 = _lift_pair(x1, x2)
    return (x1 * x2).sum(axis=axis)


def _matrix_transpose(x, /):
    if x.ndim < 2:
        raise ShapeError(f"linalg.matrix_transpose: needs at least 2 dimensions, got shape {x.shape}")
    return np.swapaxes(x, -1, -2)


def _matmul(x1, x2, /):
    x1, x2 = _lift_pair(x1, x2)
    return x1 @ x2


# ---------------------------------------------------------------- norms


def _vector_norm(x, ord, axis: int, keepdims: bool):  # noqa: A002 (numpy's name)
    if ord is None or ord == 2:
        return la.VectorNorm.apply(x, p=2.0, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord == np.inf:
        return np.abs(x).max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.abs(x).min(axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.abs(x).sum(axis=axis, keepdims=keepdims)
    if ord == 0:  # the count of nonzeros: piecewise constant, gradient 0 (a select of none of x)
        from ..ops import Where

        count = _constant((x.data != 0).sum(axis=axis, keepdims=keepdims), x)
        none = Where.apply(x, _constant(0, x), cond=np.zeros(x.shape, dtype=bool))
        return count + none.sum(axis=axis, keepdims=keepdims)
    return la.VectorNorm.apply(x, p=float(ord), axis=axis, keepdims=keepdims)


def _singular_values(x, row: int, col: int):
    return la.SvdS.apply(np.moveaxis(x, (row, col), (-2, -1)))


def _matrix_norm(x, ord, row: int, col: int):  # noqa: A002
    if ord in (None, "fro", "f"):
        return la.VectorNorm.apply(x, p=2.0, axis=(row, col))
    if ord == "nuc":
        return _singular_values(x, row, col).sum(axis=-1)
    if ord in (2, -2):
        s = _singular_values(x, row, col)
        return s.max(axis=-1) if ord == 2 else s.min(axis=-1)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x| (sum over rows); inf: the largest row sum
        over, then = (row, col) if ord in (1, -1) else (col, row)
        sums = np.abs(x).sum(axis=over)
        then = then - 1 if then > over else then
        return sums.max(axis=then) if ord in (1, np.inf) else sums.min(axis=then)
    raise ValueError("Invalid norm order for matrices.")


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """numpy.linalg.norm for Tensors. Vectors: ord None/2 (stable, subgradient 0 at the zero
    vector), 1, inf, -inf, 0 (a count: gradient 0), any other number p. Matrices: 'fro',
    'nuc', 1, -1, inf, -inf, 2, -2 ('nuc', 2 and -2 through the singular values)."""
    x = _lift_like(x, _first_tensor((x,)))
    if axis is None:
        if ord is None or (ord in ("f", "fro") and x.ndim == 2) or (ord == 2 and x.ndim == 1):
            out = la.VectorNorm.apply(x, p=2.0)
            return out.reshape((1,) * x.ndim) if keepdims else out
        axis = tuple(range(x.ndim))
    elif not isinstance(axis, tuple):
        axis = (int(axis),)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        if not all(-x.ndim <= a < x.ndim for a in axis):
            raise ShapeError(f"norm: axis {axis} is out of range for shape {x.shape}")
        row, col = (int(a) % x.ndim for a in axis)
        if row == col:
            raise ValueError("Duplicate axes given.")
        out = _matrix_norm(x, ord, row, col)
        if keepdims:
            shape = list(x.shape)
            shape[row] = shape[col] = 1
            out = out.reshape(tuple(shape))
        return out
    raise ValueError("Improper number of dimensions to norm.")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    """numpy.linalg.vector_norm for Tensors: ``axis=None`` takes every element as one vector."""
    if axis is None:
        out = norm(x.reshape(-1), ord=ord, axis=0)
        return out.reshape((1,) * x.ndim) if keepdims else out
    if isinstance(axis, tuple) and len(axis) > 1:
        if ord in (None, 2):
            return la.VectorNorm.apply(x, p=2.0, axis=axis, keepdims=keepdims)
        raise TypeError("numpy.linalg.vector_norm over several axes supports ord=2 only on Tensors")
    return norm(x, ord=ord, axis=axis, keepdims=keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    """numpy.linalg.matrix_norm for Tensors: over the last two axes."""
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


FUNCTIONS = {
    np.linalg.inv: inv,
    np.linalg.solve: solve,
    np.linalg.det: det,
    np.linalg.slogdet: slogdet,
    np.linalg.cholesky: cholesky,
    np.linalg.eigh: eigh,
    np.linalg.eigvalsh: eigvalsh,
    np.linalg.svd: svd,
    np.linalg.pinv: pinv,
    np.linalg.qr: qr,
    np.linalg.multi_dot: multi_dot,
    np.linalg.norm: norm,
}
_ARRAY_API = {  # numpy 2's additions to np.linalg
    "svdvals": svdvals,
    "vector_norm": vector_norm,
    "matrix_norm": matrix_norm,
    "outer": _outer_1d,
    "cross": _cross_3d,
    "tensordot": lambda x1, x2, /, *, axes=2: products.tensordot(x1, x2, axes=axes),
    "vecdot": _vecdot,
    "matmul": _matmul,
    "matrix_transpose": _matrix_transpose,
}
for _name, _rule in _ARRAY_API.items():
    if hasattr(np.linalg, _name):
        FUNCTIONS[getattr(np.linalg, _name)] = _rule
