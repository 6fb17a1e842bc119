"""numpy.linalg on Tensors: inv, solve, det, slogdet, cholesky, eigh, eigvalsh, svd, svdvals,
pinv, qr, multi_dot, norm (vectors and matrices), vector_norm, matrix_norm.

Each case is numpy code run on Tensors at a well-conditioned input (symmetric positive
definite for cholesky, symmetric for eigh, distinct singular values): its value must be
numpy's, its derivatives in both modes to order 2 must match float64 central differences
(``check_grads``), float32 must stay float32, and the first-order backward on arrays must
agree with the recorded one. Then the edges (zero vector, large entries, singular and
repeated-eigenvalue inputs) and PyTorch as an oracle."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_check import check_float32, check_grads

from tinygrad_mlp import ShapeError, Tensor, func, grad


def _r(*shape, seed=0):
    return np.random.default_rng(seed + 11 * len(shape) + sum(shape)).standard_normal(shape)


def _wc(n, *batch):
    """A well-conditioned square matrix (or a stack of them)."""
    return _r(*batch, n, n) + 3 * np.eye(n)


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _spd(a):
    """A symmetric positive definite matrix made of any square a: a a^T + I."""
    return a @ _mT(a) + np.eye(a.shape[-1], dtype=a.dtype)


def _sym(a):
    return a + _mT(a)


inf = np.inf

# (id, numpy code, input arrays): one line per function and case
CASES = [
    ("inv", lambda a: np.linalg.inv(a), [_wc(3)]),
    ("inv batched", lambda a: np.linalg.inv(a), [_wc(3, 2)]),
    ("solve vector b", lambda a, b: np.linalg.solve(a, b), [_wc(3), _r(3)]),
    ("solve matrix b", lambda a, b: np.linalg.solve(a, b), [_wc(3), _r(3, 2)]),
    ("solve batched a, vector b", lambda a, b: np.linalg.solve(a, b), [_wc(3, 2), _r(3)]),
    ("solve batched a, matrix b", lambda a, b: np.linalg.solve(a, b), [_wc(3, 2), _r(3, 2)]),
    ("solve batched b", lambda a, b: np.linalg.solve(a, b), [_wc(3), _r(2, 3, 4)]),
    ("det", lambda a: np.linalg.det(a), [_wc(3)]),
    ("det batched", lambda a: np.linalg.det(a), [_wc(3, 2)]),
    ("det negative", lambda a: np.linalg.det(a), [_wc(3)[::-1]]),
    ("slogdet logabsdet", lambda a: np.linalg.slogdet(a)[1], [_wc(3)]),
    ("slogdet negative, batched", lambda a: np.linalg.slogdet(a).logabsdet, [-_wc(3, 2)]),
    ("slogdet sign x logabsdet", lambda a: np.linalg.slogdet(a)[0] * np.linalg.slogdet(a)[1], [_wc(3)[::-1]]),
    ("cholesky", lambda a: np.linalg.cholesky(_spd(a)), [_r(3, 3)]),
    ("cholesky batched", lambda a: np.linalg.cholesky(_spd(a)), [_r(2, 3, 3)]),
    ("cholesky upper", lambda a: np.linalg.cholesky(_spd(a), upper=True), [_r(3, 3)]),
    ("cholesky reads the lower triangle", lambda a: np.linalg.cholesky(a), [_r(3, 3) + 5 * np.eye(3)]),
    (
        "cholesky upper reads the upper",
        lambda a: np.linalg.cholesky(a, upper=True),
        [_r(3, 3) + 5 * np.eye(3)],
    ),
    ("eigh eigenvalues", lambda a: np.linalg.eigh(_sym(a))[0], [_r(3, 3)]),
    ("eigh eigenvectors", lambda a: np.linalg.eigh(_sym(a))[1], [_r(3, 3)]),
    ("eigh batched, both", lambda a: np.linalg.eigh(_sym(a)), [_r(2, 3, 3)]),
    ("eigh UPLO=U", lambda a: np.linalg.eigh(_sym(a), UPLO="U").eigenvectors, [_r(3, 3)]),
    ("eigh reads the lower triangle", lambda a: np.linalg.eigh(a), [_r(3, 3)]),
    ("eigh UPLO=U reads the upper", lambda a: np.linalg.eigh(a, "U"), [_r(3, 3)]),
    ("eigvalsh UPLO=U", lambda a: np.linalg.eigvalsh(a, UPLO="U"), [_r(2, 3, 3)]),
    ("eigh reconstruct", lambda a: _reconstruct(np.linalg.eigh(_sym(a))), [_r(3, 3)]),
    ("eigvalsh", lambda a: np.linalg.eigvalsh(_sym(a)), [_r(4, 4)]),
    ("svd S tall", lambda a: np.linalg.svd(a, compute_uv=False), [_r(4, 3)]),
    ("svd S wide batched", lambda a: np.linalg.svd(a, compute_uv=False), [_r(2, 3, 4)]),
    ("svd square (full_matrices)", lambda a: np.linalg.svd(a), [_r(3, 3)]),
    ("svd U tall", lambda a: np.linalg.svd(a, full_matrices=False)[0], [_r(4, 3)]),
    ("svd Vh tall", lambda a: np.linalg.svd(a, full_matrices=False)[2], [_r(4, 3)]),
    ("svd U wide", lambda a: np.linalg.svd(a, full_matrices=False).U, [_r(3, 4)]),
    ("svd Vh wide", lambda a: np.linalg.svd(a, full_matrices=False).Vh, [_r(3, 4)]),
    ("svd batched, all", lambda a: np.linalg.svd(a, full_matrices=False), [_r(2, 4, 3)]),
    ("svdvals", lambda a: np.linalg.svdvals(a), [_r(3, 4)]),
    ("pinv tall", lambda a: np.linalg.pinv(a), [_r(4, 3)]),
    ("pinv wide batched", lambda a: np.linalg.pinv(a), [_r(2, 3, 4)]),
    ("pinv square", lambda a: np.linalg.pinv(a), [_wc(3)]),
    ("qr square Q", lambda a: np.linalg.qr(a)[0], [_r(3, 3)]),
    ("qr square R", lambda a: np.linalg.qr(a)[1], [_r(3, 3)]),
    ("qr tall Q", lambda a: np.linalg.qr(a).Q, [_r(4, 3)]),
    ("qr tall R", lambda a: np.linalg.qr(a).R, [_r(4, 3)]),
    ("qr batched, both", lambda a: np.linalg.qr(a), [_r(2, 4, 3)]),
    ("qr mode r", lambda a: np.linalg.qr(a, mode="r"), [_r(4, 3)]),
    ("multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), [_r(3), _r(3, 4), _r(4, 2)]),
    ("norm vector", lambda x: np.linalg.norm(x), [_r(5)]),
    ("norm all entries", lambda x: np.linalg.norm(x), [_r(2, 3, 4)]),
    ("norm all, keepdims", lambda x: np.linalg.norm(x, keepdims=True), [_r(3, 4)]),
    ("norm ord 2 axis", lambda x: np.linalg.norm(x, 2, axis=1), [_r(3, 4)]),
    ("norm ord 1", lambda x: np.linalg.norm(x, 1), [_r(5)]),
    ("norm ord inf", lambda x: np.linalg.norm(x, inf, axis=0), [_r(3, 4)]),
    ("norm ord -inf", lambda x: np.linalg.norm(x, -inf), [_r(5)]),
    ("norm ord 0 (count)", lambda x: np.linalg.norm(x, 0) * x, [_r(5)]),
    ("norm ord 3", lambda x: np.linalg.norm(x, 3, axis=-1, keepdims=True), [_r(3, 4)]),
    ("norm ord 0.5", lambda x: np.linalg.norm(x, 0.5), [_r(5)]),
    ("norm ord -1.5", lambda x: np.linalg.norm(x, -1.5), [_r(5)]),
    ("norm fro", lambda x: np.linalg.norm(x, "fro"), [_r(3, 4)]),
    ("norm fro axes", lambda x: np.linalg.norm(x, "fro", axis=(0, 2)), [_r(3, 4, 2)]),
    ("norm nuc", lambda x: np.linalg.norm(x, "nuc"), [_r(3, 4)]),
    ("norm matrix 1", lambda x: np.linalg.norm(x, 1), [_r(3, 4)]),
    ("norm matrix -1", lambda x: np.linalg.norm(x, -1), [_r(3, 4)]),
    ("norm matrix inf", lambda x: np.linalg.norm(x, inf), [_r(3, 4)]),
    ("norm matrix -inf", lambda x: np.linalg.norm(x, -inf), [_r(3, 4)]),
    ("norm matrix 2", lambda x: np.linalg.norm(x, 2), [_r(3, 4)]),
    ("norm matrix -2", lambda x: np.linalg.norm(x, -2), [_r(4, 3)]),
    (
        "norm matrix 2, axes, keepdims",
        lambda x: np.linalg.norm(x, 2, axis=(2, 0), keepdims=True),
        [_r(3, 4, 2)],
    ),
    ("norm matrix 1, stacked", lambda x: np.linalg.norm(x, 1, axis=(1, 2)), [_r(2, 3, 4)]),
    ("vector_norm", lambda x: np.linalg.vector_norm(x, axis=(0, 1)), [_r(3, 4, 2)]),
    ("vector_norm ord 1, all", lambda x: np.linalg.vector_norm(x, ord=1), [_r(3, 4)]),
    ("matrix_norm", lambda x: np.linalg.matrix_norm(x, ord="nuc"), [_r(2, 3, 4)]),
    ("linalg.outer", lambda a, b: np.linalg.outer(a, b), [_r(3), _r(4)]),
    ("linalg.cross", lambda a, b: np.linalg.cross(a, b, axis=0), [_r(3, 2), _r(3, 2)]),
    ("linalg.tensordot", lambda a, b: np.linalg.tensordot(a, b, axes=1), [_r(2, 3), _r(3, 4)]),
    ("linalg.vecdot", lambda a, b: np.linalg.vecdot(a, b, axis=0), [_r(3, 4), _r(3, 1)]),
    ("linalg.matmul", lambda a, b: np.linalg.matmul(a, b), [_r(2, 3, 4), _r(4)]),
    ("linalg.matrix_transpose", lambda a: np.linalg.matrix_transpose(a), [_r(2, 3, 4)]),
]


def _reconstruct(wv):
    """V diag(w) V^T: uses both outputs of eigh."""
    w, v = wv
    return (v * w[..., None, :]) @ _mT(v)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_derivatives_both_modes_to_order_2(name, fun, arrays):
    check_grads(fun, *arrays)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, fun, arrays):
    out = fun(*arrays)
    if isinstance(out, tuple):  # one output at a time (the checker's weighting is float64)
        for k in range(len(out)):
            check_float32(lambda *xs, k=k: fun(*xs)[k], *arrays)
    else:
        check_float32(fun, *arrays)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_backward_on_arrays_matches_recorded(name, fun, arrays):
    """``.backward()`` runs the rules on arrays; ``func.vjp`` on Tensors: one answer."""

    def scalar(*xs):
        out = fun(*xs)
        outs = out if isinstance(out, tuple) else (out,)
        ws = [np.random.default_rng(2).standard_normal(o.shape) for o in outs]
        return sum((o * w).sum() for o, w in zip(outs, ws))

    ts = [Tensor(a, requires_grad=True) for a in arrays]
    scalar(*ts).backward()
    _, vjp_fn = func.vjp(scalar, *[Tensor(a) for a in arrays])
    for t, g in zip(ts, vjp_fn(Tensor(np.ones(())))):
        np.testing.assert_allclose(t.grad, g.data, rtol=1e-10, atol=1e-12)


def test_np_linalg_functions_dispatch_and_record_their_op():
    a = Tensor(_wc(3), requires_grad=True)
    assert np.linalg.inv(a).op == "inv"
    assert np.linalg.solve(a, np.ones((3, 2))).op == "solve"
    assert np.linalg.det(a).op == "det"
    sign, logdet = np.linalg.slogdet(a)
    assert logdet.op == "slogdet" and not sign.requires_grad  # the sign has no gradient
    w, v = np.linalg.eigh(_sym(a))
    assert (w.op, v.op) == ("eigh", "eigh")
    assert [t.op for t in np.linalg.svd(a)] == ["svd"] * 3


# ---------------------------------------------------------------- edges


@pytest.mark.parametrize(
    "name,fun,zero",
    [
        ("cholesky", lambda a: np.linalg.cholesky(a), np.triu),
        ("cholesky upper", lambda a: np.linalg.cholesky(a, upper=True), np.tril),
        ("eigh", lambda a: np.linalg.eigh(a)[1] * np.linalg.eigh(a)[0], np.triu),
        ("eigh UPLO=U", lambda a: np.linalg.eigvalsh(a, UPLO="U") ** 3, np.tril),
    ],
)
def test_the_gradient_lives_on_the_triangle_numpy_reads(name, fun, zero):
    """numpy reads one triangle; the other does not change the value, so its gradient is 0,
    and the gradient matches finite differences entry by entry (also at a symmetric input)."""
    a = Tensor(_spd(_r(3, 3)), requires_grad=True)
    out = fun(a)
    w = np.random.default_rng(4).standard_normal(out.shape)
    (out * w).sum().backward()
    np.testing.assert_array_equal(zero(a.grad, 1 if zero is np.triu else -1), 0)
    eps, numeric = 1e-6, np.zeros((3, 3))
    for i, j in np.ndindex(3, 3):
        d = np.zeros((3, 3))
        d[i, j] = eps
        plus, minus = fun(a.data + d), fun(a.data - d)
        numeric[i, j] = ((plus - minus) * w).sum() / (2 * eps)
    np.testing.assert_allclose(a.grad, numeric, rtol=1e-6, atol=1e-7)


ZERO_NORMS = [
    ("2", lambda x: np.linalg.norm(x)),
    ("3", lambda x: np.linalg.norm(x, 3)),
    ("1", lambda x: np.linalg.norm(x, 1)),
    ("inf", lambda x: np.linalg.norm(x, inf)),
    ("fro of a matrix", lambda x: np.linalg.norm(x.reshape(2, 2), "fro")),
    ("axis keepdims", lambda x: np.linalg.norm(x.reshape(2, 2), axis=1, keepdims=True).sum()),
]


@pytest.mark.parametrize("name,fun", ZERO_NORMS, ids=[c[0] for c in ZERO_NORMS])
def test_norm_at_the_zero_vector_has_subgradient_zero(name, fun):
    x = Tensor(np.zeros(4))
    assert fun(x).item() == 0
    np.testing.assert_array_equal(func.grad(fun)(x).data, np.zeros(4))
    np.testing.assert_array_equal(func.jvp(fun, [x], [Tensor(np.ones(4))])[1].data, 0)
    assert np.all(np.isfinite(func.hessian(fun)(x).data))
    xb = Tensor(np.zeros(4), requires_grad=True)
    fun(xb).backward()
    np.testing.assert_array_equal(xb.grad, np.zeros(4))


@pytest.mark.parametrize(
    "values,dtype,expect",
    [
        ([3e200, -4e200], np.float64, 5e200),
        ([3e30, 4e30], np.float32, 5e30),  # (3e30)**2 overflows float32
        ([3e-200, 4e-200], np.float64, 5e-200),  # (3e-200)**2 underflows to 0
    ],
)
def test_norm_of_large_and_tiny_entries_neither_overflows_nor_underflows(values, dtype, expect):
    x = Tensor(np.array(values, dtype=dtype), requires_grad=True)
    n = np.linalg.norm(x)
    np.testing.assert_allclose(n.item(), expect, rtol=1e-6)
    n.backward()
    np.testing.assert_allclose(x.grad, np.array([0.6, -0.8 if values[1] < 0 else 0.8]), rtol=1e-6)
    assert x.grad.dtype == dtype
    assert np.all(np.isfinite(func.hessian(np.linalg.norm)(x).data))


@pytest.mark.parametrize("values", [[np.nan, 1.0], [np.inf, np.nan], [np.inf, 1.0], [-5.0]])
def test_norm_propagates_nan_and_inf_as_numpy(values):
    np.testing.assert_array_equal(np.linalg.norm(Tensor(np.array(values))).data, np.linalg.norm(values))


def test_norm_of_a_0d_tensor_is_its_absolute_value():
    x = Tensor(np.array(-3.0), requires_grad=True)
    n = np.linalg.norm(x)
    n.backward()
    assert (n.item(), x.grad) == (3.0, -1.0)


def test_norm_ord_0_counts_and_has_gradient_zero():
    x = Tensor(np.array([0.0, 2.0, -1.0]), requires_grad=True)
    n = np.linalg.norm(x, 0)
    assert n.item() == 2
    n.backward()
    np.testing.assert_array_equal(x.grad, 0)


SINGULAR = [
    ("inv", lambda a: np.linalg.inv(a), "inv: Singular matrix"),
    ("solve", lambda a: np.linalg.solve(a, np.ones(3)), "solve: Singular matrix"),
    ("det gradient", lambda a: np.linalg.det(a), "det: the derivative needs the inverse"),
    ("slogdet gradient", lambda a: np.linalg.slogdet(a)[1], "slogdet: the derivative needs the inverse"),
    ("cholesky", lambda a: np.linalg.cholesky(a), "cholesky: Matrix is not positive definite"),
]


@pytest.mark.parametrize("name,fun,match", SINGULAR, ids=[c[0] for c in SINGULAR])
def test_singular_input_is_an_error_naming_the_op(name, fun, match):
    a = Tensor(np.ones((3, 3)), requires_grad=True)
    with pytest.raises(np.linalg.LinAlgError, match=match):
        fun(a).sum().backward()


def test_det_of_a_singular_matrix_has_a_value():
    assert np.linalg.det(Tensor(np.ones((3, 3)), requires_grad=True)).item() == 0


REPEATED = [  # at the identity every eigenvalue and singular value is repeated
    ("eigh vectors", lambda a: np.linalg.eigh(a)[1].sum(), "eigh: the derivative of the eigenvectors"),
    ("eigh one eigenvalue", lambda a: np.linalg.eigvalsh(a)[-1], "eigh: eigenvalues 0 and 2 are equal"),
    ("svd U", lambda a: np.linalg.svd(a)[0].sum(), "svd: the derivative of the singular vectors"),
    ("svd one value", lambda a: np.linalg.svd(a)[1][0], "svd: singular values 0 and 1 are equal"),
    ("eigh second order", lambda a: func.grad(lambda b: np.linalg.eigvalsh(b).sum() ** 2)(a).sum(), "eigh"),
]


@pytest.mark.parametrize("name,fun,match", REPEATED, ids=[c[0] for c in REPEATED])
def test_repeated_values_where_the_derivative_needs_distinct_ones_is_an_error(name, fun, match):
    with pytest.raises(np.linalg.LinAlgError, match=match):
        func.grad(fun)(Tensor(np.eye(3)))


SYMMETRIC_AT_TIES = [  # a function that treats the tied values alike has a gradient there
    ("sum of eigenvalues", lambda a: np.linalg.eigvalsh(a).sum(), np.eye(3)),
    ("sum of squared eigenvalues", lambda a: (np.linalg.eigvalsh(a) ** 2).sum(), 4 * np.eye(3)),
    ("nuclear norm", lambda a: np.linalg.norm(a, "nuc"), np.eye(3)),
    ("spectral norm (max splits ties)", lambda a: np.linalg.norm(a, 2), np.eye(3) / 3),
]


@pytest.mark.parametrize("name,fun,expect", SYMMETRIC_AT_TIES, ids=[c[0] for c in SYMMETRIC_AT_TIES])
def test_symmetric_functions_of_tied_values_are_differentiable(name, fun, expect):
    a = np.eye(3) * (2.0 if "squared" in name else 1.0)
    np.testing.assert_allclose(func.grad(fun)(Tensor(a)).data, expect, atol=1e-12)


SHAPE_LIMITS = [
    ("svd full_matrices non-square", lambda a: np.linalg.svd(a), TypeError, "full_matrices=False"),
    ("qr of a wide matrix", lambda a: np.linalg.qr(a)[0].sum(), np.linalg.LinAlgError, "qr: .*m >= n"),
    ("qr mode complete", lambda a: np.linalg.qr(a, mode="complete"), TypeError, "mode='complete'"),
    ("norm bad ord for vectors", lambda a: np.linalg.norm(a[0], "fro"), ValueError, "Invalid norm order"),
    ("norm bad ord for matrices", lambda a: np.linalg.norm(a, 3), ValueError, "Invalid norm order"),
    ("norm of 3 axes", lambda a: np.linalg.norm(a[None], axis=(0, 1, 2)), ValueError, "Improper number"),
    ("inv of a non-square", lambda a: np.linalg.inv(a), np.linalg.LinAlgError, "inv: .*square"),
    (
        "slogdet of a non-square",
        lambda a: np.linalg.slogdet(a)[1],
        np.linalg.LinAlgError,
        r"slogdet: .*\(3, 4\)",
    ),
    ("eigh of a non-square", lambda a: np.linalg.eigh(a)[0], np.linalg.LinAlgError, r"eigh: .*\(3, 4\)"),
    ("linalg.outer of 2-D", lambda a: np.linalg.outer(a, a), ShapeError, "linalg.outer: .*1-D"),
    ("linalg.cross of 4-vectors", lambda a: np.linalg.cross(a, a), ShapeError, "linalg.cross: .*3-vectors"),
]


@pytest.mark.parametrize("name,fun,error,match", SHAPE_LIMITS, ids=[c[0] for c in SHAPE_LIMITS])
def test_what_has_no_derivative_is_an_error_naming_it(name, fun, error, match):
    with pytest.raises(error, match=match):
        out = fun(Tensor(_r(3, 4), requires_grad=True))
        out.backward() if out.size == 1 else None


# ---------------------------------------------------------------- PyTorch as an oracle


def _torch_spd(torch, a):
    return a @ a.transpose(-1, -2) + torch.eye(a.shape[-1], dtype=a.dtype)


TORCH_CASES = [  # (id, numpy code, the same in torch, inputs)
    ("inv", lambda a: np.linalg.inv(a), lambda t, a: t.linalg.inv(a), [_wc(3, 2)]),
    (
        "solve",
        lambda a, b: np.linalg.solve(a, b),
        lambda t, a, b: t.linalg.solve(a, b),
        [_wc(3, 2), _r(2, 3, 2)],
    ),
    ("det", lambda a: np.linalg.det(a), lambda t, a: t.linalg.det(a), [_wc(3, 2)]),
    ("slogdet", lambda a: np.linalg.slogdet(a)[1], lambda t, a: t.linalg.slogdet(a)[1], [-_wc(3)]),
    (
        "cholesky",
        lambda a: np.linalg.cholesky(_spd(a)),
        lambda t, a: t.linalg.cholesky(_torch_spd(t, a)),
        [_r(3, 3)],
    ),
    (
        "eigh eigenvalues",
        lambda a: np.linalg.eigh(_sym(a))[0],
        lambda t, a: t.linalg.eigh(a + a.transpose(-1, -2))[0],
        [_r(2, 3, 3)],
    ),
    (
        "svd values",
        lambda a: np.linalg.svd(a, compute_uv=False),
        lambda t, a: t.linalg.svdvals(a),
        [_r(4, 3)],
    ),
    ("pinv", lambda a: np.linalg.pinv(a), lambda t, a: t.linalg.pinv(a), [_r(3, 4)]),
    ("qr", lambda a: np.linalg.qr(a), lambda t, a: t.linalg.qr(a), [_r(4, 3)]),
    ("norm 2", lambda x: np.linalg.norm(x, axis=1), lambda t, x: t.linalg.norm(x, dim=1), [_r(3, 4)]),
    ("norm 3", lambda x: np.linalg.norm(x, 3), lambda t, x: t.linalg.norm(x, 3), [_r(4)]),
    ("norm inf", lambda x: np.linalg.norm(x, inf), lambda t, x: t.linalg.norm(x, inf), [_r(4)]),
    ("norm nuc", lambda x: np.linalg.norm(x, "nuc"), lambda t, x: t.linalg.norm(x, "nuc"), [_r(3, 4)]),
    ("norm matrix 2", lambda x: np.linalg.norm(x, 2), lambda t, x: t.linalg.norm(x, 2), [_r(3, 4)]),
    ("norm matrix 1", lambda x: np.linalg.norm(x, 1), lambda t, x: t.linalg.norm(x, 1), [_r(3, 4)]),
]


def _weighted(out, ws):
    outs = out if isinstance(out, tuple) else (out,)
    return sum((o * w).sum() for o, w in zip(outs, ws))


@pytest.mark.parametrize("name,fun,tfun,arrays", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_first_and_second_derivatives_match_pytorch(name, fun, tfun, arrays):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    outs = fun(*arrays)
    ws = [rng.standard_normal(np.shape(o)) for o in (outs if isinstance(outs, tuple) else (outs,))]
    vs = [rng.standard_normal(a.shape) for a in arrays]

    xs = [Tensor(a, requires_grad=True) for a in arrays]
    g1 = grad(_weighted(fun(*xs), ws), xs, create_graph=True)
    second = sum((g * v).sum() for g, v in zip(g1, vs))
    # a piecewise-linear norm has a constant gradient: its second derivative is 0
    g2 = grad(second, xs, allow_unused=True) if second.requires_grad else [None] * len(xs)
    g2 = [Tensor(np.zeros(a.shape)) if g is None else g for g, a in zip(g2, arrays)]

    px = [torch.tensor(a, requires_grad=True) for a in arrays]
    tws = [torch.tensor(w) for w in ws]
    p1 = torch.autograd.grad(_weighted(tfun(torch, *px), tws), px, create_graph=True)
    p2 = torch.autograd.grad(
        sum((g * torch.tensor(v)).sum() for g, v in zip(p1, vs)),
        px,
        allow_unused=True,
        materialize_grads=True,
    )
    for ours, theirs in zip(list(g1) + list(g2), list(p1) + list(p2)):
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(force=True), rtol=1e-8, atol=1e-10)
