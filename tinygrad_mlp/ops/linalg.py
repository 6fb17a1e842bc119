"""numpy.linalg: inverse, solve, determinants, factorisations (cholesky, eigh, svd, qr),
pseudo-inverse and vector norms. Every op works on stacks of matrices (``(..., m, n)``).

The rules call ``np.linalg.inv``, ``np.linalg.solve``, ``np.einsum`` ... on their arguments:
on arrays that is numpy, on Tensors (``create_graph``, forward mode) the same calls record
the ops of this module, so each derivative is written once, as everywhere in ``ops``.

A factorisation with several outputs (eigh: w and V; svd: U, S and Vh; qr: Q and R) is one
op per output. The gradient of the input is linear in the outputs' gradients, so the
gradient through each output is a term of its own, and backward adds them up. An output
that is not used costs nothing and brings no condition of its own: the sum of the
eigenvalues has a gradient at a repeated eigenvalue, the eigenvectors do not.

Conditions (each an error that names the op when it fails, never a silent wrong number):

- ``inv``, ``solve``, ``det``'s and ``slogdet``'s derivatives need a non-singular matrix;
- ``cholesky``, ``eigh``: numpy reads one triangle of the input (the lower; the upper with
  ``upper=True`` / ``UPLO="U"``) and takes it as a symmetric matrix. The derivative is that
  of exactly this function, as in HIPS autograd: the gradient lives on the triangle read (an
  off-diagonal entry there counts for two entries of the symmetric matrix), and finite
  differences agree at any input. PyTorch and JAX give the symmetric gradient (G + G^T) / 2
  instead; the two agree along every symmetric direction, so a symmetric parametrisation
  (A = B + B^T, A = X X^T) gets the same gradient either way;
- ``eigh``: the eigenvectors' derivative needs distinct eigenvalues (gaps above
  n * eps * max|w|), and so does every second derivative. The eigenvalues' gradient exists
  at a repeated eigenvalue only for a function that treats the tied values alike (their sum,
  a max that splits among ties): one that does not is an error. Forward mode cannot see what
  follows, so there its tangent is diag(V^T dA V), right for such functions;
- ``svd`` (reduced, ``full_matrices=False``): the derivatives of U and Vh need distinct
  singular values, and for a non-square matrix nonzero ones; the singular values are as the
  eigenvalues above (the nuclear norm and the 2-norm, a max, have gradients at ties);
- ``qr`` (reduced, square or tall): full column rank;
- ``pinv``: the rank does not change near A (true at full rank).
"""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, _keepdims_shape, _normalize_axis, _value, unbroadcast

LinAlgError = np.linalg.LinAlgError


def _mT(x):
    """The matrix transpose of a stack of matrices."""
    return np.swapaxes(x, -1, -2)


def _sym(x):
    """The symmetric part, (x + x^T) / 2."""
    return (x + _mT(x)) * 0.5


def _mirror(d, lower: bool = True):
    """The symmetric matrix that one triangle of d stands for (numpy's cholesky and eigh read
    only that triangle): tril(d) + tril(d, -1)^T, or from the upper triangle."""
    if not lower:
        return _mT(_mirror(_mT(d)))
    n = d.shape[-1]
    return d * _mask(n, d.dtype, 0) + _mT(d * _mask(n, d.dtype, -1))


def _fold(g, lower: bool = True):
    """The adjoint of ``_mirror``: a gradient with respect to the symmetric matrix, sent to
    the triangle it was read from (an off-diagonal entry there stands for two entries)."""
    if not lower:
        return _mT(_fold(_mT(g)))
    n = g.shape[-1]
    return g * _mask(n, g.dtype, 0) + _mT(g) * _mask(n, g.dtype, -1)


def _inv(a, op: str):
    """inv(a) for the derivative of ``op``, or an error naming ``op`` when a is singular."""
    try:
        return np.linalg.inv(a)
    except LinAlgError:
        raise LinAlgError(
            f"{op}: the derivative needs the inverse of the matrix, which is singular "
            f"(shape {a.shape}); {op} has no derivative there that this engine computes"
        ) from None


def _mask(n: int, dtype, k: int = 0, lower: bool = True) -> np.ndarray:
    """A constant 0/1 matrix: the lower (tril(., k)) or upper (triu(., k)) triangle."""
    ones = np.ones((n, n), dtype=dtype)
    return np.tril(ones, k) if lower else np.triu(ones, k)


class _LinalgOp(Function):
    """What numpy.linalg refuses (a singular matrix, a matrix that is not square or not
    positive definite) is a ``LinAlgError`` that names the op and the input shapes."""

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> Exception:
        shapes = ", ".join(str(a.shape) for a in arrays)
        if isinstance(exc, LinAlgError):
            return LinAlgError(f"{self.name}: {exc} (input shapes {shapes})")
        return ShapeError(f"{self.name}: {exc} (input shapes {shapes})")


# ---------------------------------------------------------------- inverse, solve, determinants


class Inv(_LinalgOp):
    """np.linalg.inv of a (stack of) square matrices."""

    name = "inv"

    def forward(self, a):
        return np.linalg.inv(a)

    def vjp(self, g, out, a):
        # d inv(a)/da = -inv(a)^T g inv(a)^T
        return (-(_mT(out) @ g @ _mT(out)),)

    def jvp(self, t, out, a):
        # d inv(a) = -inv(a) da inv(a)
        return -(out @ t[0] @ out)


class Solve(_LinalgOp):
    """x = np.linalg.solve(a, b) for b a (stack of) matrices (..., m, k); batch axes broadcast.
    (A vector b is made a one-column matrix by ``numpy_api.linalg.solve``.)"""

    name = "solve"

    def forward(self, a, b):
        return np.linalg.solve(a, b)

    def vjp(self, g, out, a, b):
        # d solve(a, b)/db = solve(a^T, g);  d/da = -solve(a^T, g) x^T
        need_a, need_b = self.needs_input_grad
        gb = np.linalg.solve(_mT(a), g)
        ga = unbroadcast(-(gb @ _mT(out)), a.shape) if need_a else None
        return ga, unbroadcast(gb, b.shape) if need_b else None

    def jvp(self, t, out, a, b):
        # d solve(a, b) = solve(a, db - da x)
        return np.linalg.solve(a, t[1] - t[0] @ out)


class Det(_LinalgOp):
    """np.linalg.det; its derivative needs a non-singular matrix."""

    name = "det"

    def forward(self, a):
        return np.linalg.det(a)

    def vjp(self, g, out, a):
        # d det(a)/da = det(a) inv(a)^T
        gd = (g * out).reshape(out.shape + (1, 1))
        return (gd * _mT(_inv(a, self.name)),)

    def jvp(self, t, out, a):
        # d det(a) = det(a) trace(inv(a) da)
        return out * (_mT(_inv(a, self.name)) * t[0]).sum(axis=(-2, -1))


class LogAbsDet(_LinalgOp):
    """log|det a|, the second output of np.linalg.slogdet (the sign, piecewise constant, is
    a constant); its derivative needs a non-singular matrix."""

    name = "slogdet"

    def forward(self, a):
        return np.linalg.slogdet(a)[1]

    def vjp(self, g, out, a):
        # d log|det a|/da = inv(a)^T
        return (g.reshape(out.shape + (1, 1)) * _mT(_inv(a, self.name)),)

    def jvp(self, t, out, a):
        # d log|det a| = trace(inv(a) da)
        return (_mT(_inv(a, self.name)) * t[0]).sum(axis=(-2, -1))


# ---------------------------------------------------------------- cholesky


def _phi(x):
    """The lower triangle of x with its diagonal halved (Φ in the Cholesky derivative)."""
    n = x.shape[-1]
    return x * (_mask(n, x.dtype, -1) + np.eye(n, dtype=x.dtype) * 0.5)


class Cholesky(_LinalgOp):
    """L = np.linalg.cholesky(a), lower triangular with L L^T = a, for a symmetric positive
    definite a of which numpy reads the lower triangle: the derivative is with respect to
    that triangle (see the module docstring)."""

    name = "cholesky"

    def forward(self, a):
        return np.linalg.cholesky(a)

    def vjp(self, g, out, a):
        # d chol(a)/da = fold(sym(L^-T Φ(L^T g) L^-1))
        li = _inv(out, self.name)
        return (_fold(_sym(_mT(li) @ _phi(_mT(out) @ g) @ li)),)

    def jvp(self, t, out, a):
        # d chol(a) = L Φ(L^-1 mirror(da) L^-T)
        li = _inv(out, self.name)
        return out @ _phi(li @ _mirror(t[0]) @ _mT(li))


# ---------------------------------------------------------------- factorisations with several outputs


class _Factor(_LinalgOp):
    """One output (``part``) of a factorisation. ``numpy_api`` computes the factorisation once
    and hands it to the op of each output (``factors=``); the first-order rules reuse it, and
    on Tensors the rules get the factors as recorded ops of the input (``tensors``)."""

    part = 0

    def forward(self, a, factors=None, **options):
        if factors is None:
            factors = self.factorize(a, **options)
        self.factors, self.options = factors, options
        return factors[self.part]

    def factorize(self, a, **options) -> tuple:
        raise NotImplementedError

    @classmethod
    def tensors(cls, a, **options) -> tuple:
        """The factors of the Tensor ``a``, each the output of its op."""
        raise NotImplementedError

    def _factors(self, a) -> tuple:
        return self.factors if type(a) is np.ndarray else self.tensors(a, **self.options)


def _tensors_of(classes: tuple, factorize, a, **options) -> tuple:
    """Each factor of the Tensor ``a`` as the output of its op, the factorisation run once."""
    factors = factorize(_value(a), **options)
    return tuple(_call(c, a, factors=factors, **options) for c in classes)


def _ties(d, n_scale: float) -> np.ndarray:
    """Where two entries of each vector of the stack ``d`` are equal to working precision
    (|d_i - d_j| <= n_scale * eps * max|d|): a boolean (..., n, n), False on the diagonal."""
    dv = _value(d)
    n = dv.shape[-1]
    gap = np.abs(dv[..., None, :] - dv[..., :, None])
    scale = np.abs(dv).max(axis=-1, keepdims=True)[..., None] if dv.size else 0
    return ~np.eye(n, dtype=bool) & (gap <= n_scale * np.finfo(dv.dtype).eps * scale)


def _inverse_gaps(d, n_scale: float, what: str, op: str):
    """F[i, j] = 1 / (d_j - d_i) off the diagonal, 0 on it, for a stack of vectors ``d``; an
    error naming ``op`` when two entries are equal to working precision (F is infinite there)."""
    ties = _ties(d, n_scale)
    if np.any(ties):
        i, j = np.argwhere(ties)[0][-2:]
        raise LinAlgError(
            f"{op}: the derivative of the {what} needs distinct values, but values {i} and {j} are "
            f"equal to working precision; it is not defined there"
        )
    off = ~np.eye(d.shape[-1], dtype=bool)
    diff = d[..., None, :] - d[..., :, None]
    return np.where(off, 1 / np.where(off, diff, 1), 0)


def _check_even_over_ties(g, d, n_scale: float, what: str, op: str) -> None:
    """The gradient of tied values (a repeated eigenvalue or singular value) exists only for
    a function that treats them alike (their sum, a max that splits among ties): an error
    naming ``op`` when the gradient ``g`` differs between two tied values."""
    ties = _ties(d, n_scale)
    if not np.any(ties):
        return
    gv = np.broadcast_to(_value(g), _value(d).shape)
    spread = np.abs(gv[..., None, :] - gv[..., :, None])
    tol = np.sqrt(np.finfo(gv.dtype).eps) * np.abs(gv).max(axis=-1, keepdims=True)[..., None]
    uneven = ties & (spread > tol)
    if np.any(uneven):
        i, j = np.argwhere(uneven)[0][-2:]
        raise LinAlgError(
            f"{op}: {what} {i} and {j} are equal, and the gradient treats them differently; they "
            f"are not differentiable there (a function that treats them alike, as their sum, is)"
        )


def _eigh(a, UPLO="L"):
    return np.linalg.eigh(a, UPLO=UPLO)


class EighValues(_Factor):
    """The eigenvalues w of np.linalg.eigh (ascending), of the symmetric matrix one triangle of
    the input stands for; that triangle, and repeated eigenvalues: see the module docstring."""

    name = "eigh"
    part = 0

    def factorize(self, a, UPLO="L"):
        return _eigh(a, UPLO)

    @classmethod
    def tensors(cls, a, UPLO="L"):
        return _tensors_of((EighValues, EighVectors), _eigh, a, UPLO=UPLO)

    def vjp(self, g, out, a):
        # d w_k/da = fold(v_k v_k^T):  fold(V diag(g) V^T)
        w, v = self._factors(a)
        _check_even_over_ties(g, w, w.shape[-1], "eigenvalues", "eigh")
        return (_fold((v * g[..., None, :]) @ _mT(v), self.lower),)

    def jvp(self, t, out, a):
        # dw_k = v_k^T mirror(da) v_k
        w, v = self._factors(a)
        return np.einsum("...ik,...ij,...jk->...k", v, _mirror(t[0], self.lower), v)

    @property
    def lower(self) -> bool:
        return self.options.get("UPLO", "L").upper() == "L"


class EighVectors(_Factor):
    """The eigenvectors V (columns) of np.linalg.eigh (the triangle read: see the module
    docstring). Their derivative needs distinct eigenvalues: an error otherwise."""

    name = "eigh"
    part = 1

    factorize = EighValues.factorize
    tensors = EighValues.tensors

    def vjp(self, g, out, a):
        # d V/da: fold(sym(V (F o V^T g) V^T)), F_ij = 1 / (w_j - w_i)
        w, v = self._factors(a)
        f = _inverse_gaps(w, w.shape[-1], "eigenvectors", "eigh")
        return (_fold(_sym(v @ (f * (_mT(v) @ g)) @ _mT(v)), self.lower),)

    def jvp(self, t, out, a):
        # dV = V (F o V^T mirror(da) V)
        w, v = self._factors(a)
        f = _inverse_gaps(w, w.shape[-1], "eigenvectors", "eigh")
        return v @ (f * (_mT(v) @ _mirror(t[0], self.lower) @ v))

    lower = EighValues.lower


def _svd(a):
    return np.linalg.svd(a, full_matrices=False)


class _SvdFactor(_Factor):
    name = "svd"

    def factorize(self, a):
        return _svd(a)

    @classmethod
    def tensors(cls, a):
        return _tensors_of((SvdU, SvdS, SvdVh), _svd, a)

    def _f(self, s):
        return _inverse_gaps(s * s, 2 * s.shape[-1], "singular vectors", "svd")

    def _inv_s(self, s, a):
        """1 / s for the part of U or Vh outside the other's span (a non-square matrix)."""
        sv = _value(s)
        tol = max(a.shape[-2:]) * np.finfo(sv.dtype).eps * sv.max(axis=-1, keepdims=True)
        if np.any(sv <= tol):
            raise LinAlgError(
                "svd: the derivative of U and Vh of a non-square matrix needs nonzero singular values "
                f"(singular values {sv.ravel()[:6]})"
            )
        return 1 / s


class SvdS(_SvdFactor):
    """The singular values S of np.linalg.svd (descending); repeated ones: see the module
    docstring."""

    part = 1

    def vjp(self, g, out, a):
        # d s_k/da = u_k v_k^T:  U diag(g) Vh
        u, s, vh = self._factors(a)
        _check_even_over_ties(g, s, s.shape[-1], "singular values", "svd")
        return ((u * g[..., None, :]) @ vh,)

    def jvp(self, t, out, a):
        # ds_k = u_k^T da v_k
        u, s, vh = self._factors(a)
        return np.einsum("...ik,...ij,...kj->...k", u, t[0], vh)


class SvdU(_SvdFactor):
    """The left singular vectors U (m, k) of the reduced SVD."""

    part = 0

    def vjp(self, g, out, a):
        # J = F o U^T g:  U ((J + J^T) S) Vh + (I - U U^T) g S^-1 Vh
        u, s, vh = self._factors(a)
        j = self._f(s) * (_mT(u) @ g)
        ga = u @ ((j + _mT(j)) * s[..., None, :]) @ vh
        if a.shape[-2] > a.shape[-1]:
            ga = ga + ((g - u @ (_mT(u) @ g)) * self._inv_s(s, a)[..., None, :]) @ vh
        return (ga,)

    def jvp(self, t, out, a):
        # dP = U^T da V:  dU = U (F o (dP S + S dP^T)) + (I - U U^T) da V S^-1
        u, s, vh = self._factors(a)
        dav = t[0] @ _mT(vh)
        dp = _mT(u) @ dav
        du = u @ (self._f(s) * (dp * s[..., None, :] + s[..., :, None] * _mT(dp)))
        if a.shape[-2] > a.shape[-1]:
            du = du + (dav - u @ (_mT(u) @ dav)) * self._inv_s(s, a)[..., None, :]
        return du


class SvdVh(_SvdFactor):
    """The right singular vectors Vh (k, n) of the reduced SVD (rows)."""

    part = 2

    def vjp(self, g, out, a):
        # gV = g^T, K = F o V^T gV:  U (S (K + K^T)) Vh + U S^-1 gV^T (I - V V^T)
        u, s, vh = self._factors(a)
        gv = _mT(g)
        k = self._f(s) * (vh @ gv)
        ga = u @ ((k + _mT(k)) * s[..., :, None]) @ vh
        if a.shape[-1] > a.shape[-2]:
            ga = ga + u @ ((g - (g @ _mT(vh)) @ vh) * self._inv_s(s, a)[..., :, None])
        return (ga,)

    def jvp(self, t, out, a):
        # dP = U^T da V:  dV = V (F o (S dP + dP^T S)) + (I - V V^T) da^T U S^-1;  dVh = dV^T
        u, s, vh = self._factors(a)
        dau = _mT(t[0]) @ u
        v = _mT(vh)
        dp = _mT(dau) @ v
        dv = v @ (self._f(s) * (s[..., :, None] * dp + _mT(dp) * s[..., None, :]))
        if a.shape[-1] > a.shape[-2]:
            dv = dv + (dau - v @ (vh @ dau)) * self._inv_s(s, a)[..., None, :]
        return _mT(dv)


def _qr(a):
    return np.linalg.qr(a, mode="reduced")


class _QrFactor(_Factor):
    name = "qr"

    def factorize(self, a):
        return _qr(a)

    @classmethod
    def tensors(cls, a):
        return _tensors_of((QrQ, QrR), _qr, a)

    def _qr_inv(self, a):
        if a.shape[-2] < a.shape[-1]:
            raise LinAlgError(
                f"qr: the derivative is defined here for square and tall matrices (m >= n); got shape {a.shape}"
            )
        q, r = self._factors(a)
        return q, r, _inv(r, "qr")

    def _grad(self, q, ri, gq, nmat):
        """(gQ + Q E) R^-T, E = N's upper triangle (diagonal included) mirrored into the lower."""
        k, dtype = nmat.shape[-1], nmat.dtype
        e = nmat * _mask(k, dtype, 0, lower=False) + _mT(nmat * _mask(k, dtype, 1, lower=False))
        return (gq + q @ e) @ _mT(ri)

    def _tangents(self, t, q, r, ri):
        # C = Q^T da R^-1, Ω = L(C) - L(C)^T:  dR = (C - Ω) R, dQ = da R^-1 - Q (C - Ω)
        c = _mT(q) @ t @ ri
        low = c * _mask(c.shape[-1], c.dtype, -1)
        upper = c - low + _mT(low)
        return t @ ri - q @ upper, upper @ r


class QrQ(_QrFactor):
    """Q (m, n) of the reduced QR of a square or tall matrix of full column rank."""

    part = 0

    def vjp(self, g, out, a):
        # N = -Q^T g:  (g + Q copyltu(N)) R^-T
        q, r, ri = self._qr_inv(a)
        return (self._grad(q, ri, g, -(_mT(q) @ g)),)

    def jvp(self, t, out, a):
        q, r, ri = self._qr_inv(a)
        return self._tangents(t[0], q, r, ri)[0]


class QrR(_QrFactor):
    """R (n, n) of the reduced QR of a square or tall matrix of full column rank."""

    part = 1

    def vjp(self, g, out, a):
        # N = g R^T:  Q copyltu(N) R^-T
        q, r, ri = self._qr_inv(a)
        return (self._grad(q, ri, 0, g @ _mT(r)),)

    def jvp(self, t, out, a):
        q, r, ri = self._qr_inv(a)
        return self._tangents(t[0], q, r, ri)[1]


# ---------------------------------------------------------------- pseudo-inverse


class Pinv(_LinalgOp):
    """np.linalg.pinv (options passed to numpy). The derivative assumes the rank does not
    change near a, which holds at full rank."""

    name = "pinv"

    def forward(self, a, **options):
        return np.linalg.pinv(a, **options)

    def vjp(self, g, out, a):
        # P = pinv(a):  -P^T g P^T + (I - a P) g^T P P^T + P^T P g^T (I - P a)
        p, pt, gt = out, _mT(out), _mT(g)
        ap_perp = np.eye(a.shape[-2], dtype=a.dtype) - a @ p
        pa_perp = np.eye(a.shape[-1], dtype=a.dtype) - p @ a
        return (-(pt @ g @ pt) + ap_perp @ gt @ (p @ pt) + (pt @ p) @ gt @ pa_perp,)

    def jvp(self, t, out, a):
        # dP = -P da P + P P^T da^T (I - a P) + (I - P a) da^T P^T P
        p, pt, dat = out, _mT(out), _mT(t[0])
        ap_perp = np.eye(a.shape[-2], dtype=a.dtype) - a @ p
        pa_perp = np.eye(a.shape[-1], dtype=a.dtype) - p @ a
        return -(p @ t[0] @ p) + (p @ pt) @ dat @ ap_perp + pa_perp @ dat @ (pt @ p)


# ---------------------------------------------------------------- vector norms


class VectorNorm(Function):
    """(sum |x|^p)^(1/p) over ``axis`` for a number p other than 0 and ±inf (p = 2: the
    Euclidean norm). Computed as m * norm(x / m) with m = max |x|, so no intermediate power
    overflows (numpy's own 2-norm gives inf for entries of 1e200). At a zero vector the value
    is 0 and the gradient the subgradient 0, as PyTorch; p < 1 has no derivative where an
    entry is 0."""

    name = "norm"

    def forward(self, x, p=2.0, axis=None, keepdims=False):
        self.p, self.keepdims = p, keepdims
        self.axes = _normalize_axis(axis, x.ndim, self.name)
        ax = self.axes
        absx = np.abs(x)
        m = absx.max(axis=ax, keepdims=True, initial=0)
        safe = np.where((m > 0) & np.isfinite(m), m, 1)
        y = absx / safe
        with np.errstate(divide="ignore", over="ignore"):
            inner = (y * y).sum(axis=ax, keepdims=True) if p == 2 else (y**p).sum(axis=ax, keepdims=True)
            out = safe * (np.sqrt(inner) if p == 2 else inner ** (1 / p))
        out = np.where((m > 0) | np.isnan(m), out, 0)
        out = np.where(np.isinf(m), np.inf, out)
        return out if keepdims else out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in ax))

    def _ratio(self, out, x):
        """d norm/dx = sign(x) (|x| / norm)^(p-1), 0 where the norm is 0; as (ratio, norm > 0)."""
        n = out.reshape(_keepdims_shape(x.shape, self.axes))
        pos = _value(n) > 0
        safe = np.where(pos, n, 1)
        if self.p == 2:
            return x / safe, pos
        sign = np.sign(_value(x)).astype(x.dtype)
        return sign * (np.abs(x) / safe) ** (self.p - 1), pos

    def vjp(self, g, out, x):
        # d norm/dx = g sign(x) (|x| / norm)^(p-1)  (p = 2: g x / norm); 0 at norm 0
        ratio, pos = self._ratio(out, x)
        g = g.reshape(_keepdims_shape(x.shape, self.axes))
        return (np.where(pos, g * ratio, 0),)

    def jvp(self, t, out, x):
        # d norm = sum of sign(x) (|x| / norm)^(p-1) dx  (p = 2: x.dx / norm); 0 at norm 0
        ratio, pos = self._ratio(out, x)
        return np.where(pos, ratio * t[0], 0).sum(axis=self.axes, keepdims=self.keepdims)
