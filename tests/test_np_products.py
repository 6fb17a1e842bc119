"""numpy products on Tensors: dot (N-d), vdot, inner, outer, tensordot, einsum, kron, cross.

Each case is numpy code run on Tensors: its value must be numpy's, its derivatives in both
modes to order 2 must match float64 central differences (``check_grads``), float32 must stay
float32, the first-order backward on arrays must agree with the recorded one, and PyTorch is
an oracle for einsum and tensordot."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy_check import check_float32, check_grads

from tinygrad_mlp import ShapeError, Tensor, func, grad
from tinygrad_mlp.numpy_api import GraphCutError


def _r(*shape, seed=0):
    return np.random.default_rng(seed + 7 * len(shape) + sum(shape)).standard_normal(shape)


# (id, numpy code, input arrays): one line per function and case
CASES = [
    ("dot 2-D @ 1-D", lambda a, b: np.dot(a, b), [_r(2, 3), _r(3)]),
    ("dot 0-d", lambda a, b: np.dot(a, b), [_r(), _r(2, 3)]),
    ("dot 3-D x 3-D", lambda a, b: np.dot(a, b), [_r(2, 3, 4), _r(5, 4, 2)]),
    ("dot 1-D x 3-D", lambda a, b: np.dot(a, b), [_r(3), _r(2, 3, 4)]),
    ("dot 3-D x 1-D", lambda a, b: np.dot(a, b), [_r(2, 3, 4), _r(4)]),
    ("a.dot N-d (method)", lambda a, b: a.dot(b), [_r(2, 3, 4), _r(4, 2)]),
    ("vdot", lambda a, b: np.vdot(a, b), [_r(2, 3), _r(3, 2)]),
    ("inner 1-D", lambda a, b: np.inner(a, b), [_r(4), _r(4)]),
    ("inner N-d", lambda a, b: np.inner(a, b), [_r(2, 3, 4), _r(5, 4)]),
    ("inner 0-d", lambda a, b: np.inner(a, b), [_r(3), _r()]),
    ("outer (flattens)", lambda a, b: np.outer(a, b), [_r(2, 3), _r(4)]),
    ("tensordot axes=2", lambda a, b: np.tensordot(a, b), [_r(2, 3, 4), _r(3, 4, 5)]),
    ("tensordot axes=0", lambda a, b: np.tensordot(a, b, axes=0), [_r(2, 3), _r(4)]),
    ("tensordot axes=1", lambda a, b: np.tensordot(a, b, 1), [_r(2, 3), _r(3, 4)]),
    ("tensordot pairs", lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])), [_r(3, 4, 2), _r(4, 5, 3)]),
    ("tensordot ints", lambda a, b: np.tensordot(a, b, axes=(0, -1)), [_r(3, 2), _r(4, 3)]),
    ("einsum matmul", lambda a, b: np.einsum("ij,jk->ik", a, b), [_r(3, 4), _r(4, 5)]),
    ("einsum implicit", lambda a, b: np.einsum("ij,jk", a, b), [_r(3, 4), _r(4, 5)]),
    ("einsum tensordot, permuted out", lambda a, b: np.einsum("jai,jk->kia", a, b), [_r(4, 2, 3), _r(4, 5)]),
    ("einsum batch label", lambda a, b: np.einsum("bij,bjk->bik", a, b), [_r(2, 3, 4), _r(2, 4, 5)]),
    ("einsum summed in one operand", lambda a, b: np.einsum("ij,k->k", a, b), [_r(2, 3), _r(4)]),
    ("einsum implicit order", lambda a, b: np.einsum("bA,Ab", a, b), [_r(2, 3), _r(3, 2)]),
    ("einsum chain of 3", lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c), [_r(3, 4), _r(4, 5), _r(5, 2)]),
    ("einsum bilinear", lambda x, m, y: np.einsum("i,ij,j->", x, m, y), [_r(3), _r(3, 4), _r(4)]),
    ("einsum trace ii->", lambda a: np.einsum("ii->", a), [_r(3, 3)]),
    ("einsum trace implicit", lambda a: np.einsum("ii", a), [_r(3, 3)]),
    ("einsum diagonal ii->i", lambda a: np.einsum("ii->i", a), [_r(3, 3)]),
    ("einsum diagonal iij->ji", lambda a: np.einsum("iij->ji", a), [_r(2, 2, 3)]),
    ("einsum trace product", lambda a, b: np.einsum("ij,ji", a, b), [_r(3, 4), _r(4, 3)]),
    ("einsum sum ij->", lambda a: np.einsum("ij->", a), [_r(3, 4)]),
    ("einsum transpose", lambda a: np.einsum("ijk->kij", a), [_r(2, 3, 4)]),
    ("einsum outer", lambda a, b: np.einsum("i,j->ij", a, b), [_r(3), _r(4)]),
    ("einsum ellipsis batched", lambda a, b: np.einsum("...ij,...jk->...ik", a, b), [_r(2, 3, 4), _r(4, 5)]),
    ("einsum ellipsis broadcast", lambda a, b: np.einsum("...ij,...jk", a, b), [_r(1, 3, 4), _r(2, 4, 5)]),
    ("einsum ellipsis middle", lambda a: np.einsum("i...j->j...i", a), [_r(2, 3, 4, 5)]),
    ("einsum ellipsis of no axes", lambda a: np.einsum("...i,i->", a, a), [_r(4)]),
    ("einsum label broadcast", lambda a, b: np.einsum("ij,ij->ij", a, b), [_r(1, 3), _r(2, 3)]),
    ("einsum sublists", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), [_r(3, 4), _r(4, 2)]),
    ("einsum sublists ellipsis", lambda a, b: np.einsum(a, [..., 1], b, [1, 2]), [_r(2, 3), _r(3, 4)]),
    ("einsum with an array", lambda a: np.einsum("ij,j->i", a, np.arange(4.0)), [_r(3, 4)]),
    ("kron 2-D", lambda a, b: np.kron(a, b), [_r(2, 3), _r(3, 2)]),
    ("kron 1-D, 2-D", lambda a, b: np.kron(a, b), [_r(2), _r(3, 2)]),
    ("cross 3-vectors", lambda a, b: np.cross(a, b), [_r(3), _r(3)]),
    ("cross batched, broadcast", lambda a, b: np.cross(a, b), [_r(4, 3), _r(3)]),
    ("cross axisa axisc", lambda a, b: np.cross(a, b, axisa=0, axisc=0), [_r(3, 4), _r(4, 3)]),
    ("cross axis", lambda a, b: np.cross(a, b, axis=1), [_r(2, 3, 4), _r(2, 3, 4)]),
    ("cross 3 x 2", lambda a, b: np.cross(a, b), [_r(2, 3), _r(2, 2)]),
    ("cross 2 x 3", lambda a, b: np.cross(a, b), [_r(2, 2), _r(2, 3)]),
    ("cross 2 x 2", lambda a, b: np.cross(a, b), [_r(4, 2), _r(4, 2)]),
]


@pytest.fixture(autouse=True)
def _quiet_2d_cross():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Arrays of 2-dimensional vectors", DeprecationWarning)
        yield


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_derivatives_both_modes_to_order_2(name, fun, arrays):
    check_grads(fun, *arrays)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, fun, arrays):
    if name == "einsum with an array":  # a float64 constant promotes, as in numpy
        return
    check_float32(fun, *arrays)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_backward_on_arrays_matches_recorded(name, fun, arrays):
    """``.backward()`` runs the rules on arrays; ``func.vjp`` on Tensors: one answer."""
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    out = fun(*ts)
    u = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(u)
    _, vjp_fn = func.vjp(fun, *[Tensor(a) for a in arrays])
    for t, g in zip(ts, vjp_fn(Tensor(u))):
        np.testing.assert_allclose(t.grad, g.data, rtol=1e-12, atol=1e-12)


def test_functions_record_one_named_op():
    a, b = Tensor(_r(2, 3, 4), requires_grad=True), Tensor(_r(4, 5), requires_grad=True)
    assert np.dot(a, b).op == "einsum"
    assert np.tensordot(a, b, 1).op == "einsum"
    assert np.einsum("ii", Tensor(_r(3, 3), requires_grad=True)).op == "einsum"


def test_cross_of_2_vectors_warns_as_numpy():
    with pytest.warns(DeprecationWarning, match="2-dimensional vectors"):
        np.cross(Tensor(_r(2)), Tensor(_r(2)))


# ---------------------------------------------------------------- bad input: one clear line

ERRORS = [
    (
        "einsum lengths",
        lambda a, b: np.einsum("ij,jk", a, b),
        [(3, 4), (5, 2)],
        ShapeError,
        "einsum: label 'j'",
    ),
    (
        "einsum too few axes",
        lambda a: np.einsum("ijk->i", a),
        [(3, 4)],
        ShapeError,
        "einsum: subscripts 'ijk'",
    ),
    ("einsum bad output", lambda a: np.einsum("ij->k", a), [(3, 4)], ShapeError, "output label 'k'"),
    ("einsum ... dropped", lambda a: np.einsum("...i->i", a), [(2, 3)], ShapeError, "has no '...'"),
    ("einsum out=", lambda a: np.einsum("ij", a, out=np.zeros((3, 4))), [(3, 4)], GraphCutError, "out="),
    ("tensordot mismatch", lambda a, b: np.tensordot(a, b, 1), [(3, 4), (3, 4)], ShapeError, "tensordot"),
    (
        "dot not aligned",
        lambda a, b: np.dot(a, b),
        [(2, 3, 4), (3, 2)],
        ShapeError,
        r"dot: shapes \(2, 3, 4\)",
    ),
    ("vdot sizes", lambda a, b: np.vdot(a, b), [(3,), (4,)], ShapeError, "vdot"),
    ("inner mismatch", lambda a, b: np.inner(a, b), [(3,), (4,)], ShapeError, "inner"),
    ("cross 4-vectors", lambda a, b: np.cross(a, b), [(4,), (4,)], ShapeError, "cross"),
]


@pytest.mark.parametrize("name,fun,shapes,error,match", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_names_the_function(name, fun, shapes, error, match):
    with pytest.raises(error, match=match):
        fun(*[Tensor(np.ones(s), requires_grad=True) for s in shapes])


# ---------------------------------------------------------------- PyTorch as an oracle

TORCH_CASES = [
    ("einsum matmul", lambda np_, a, b: np_.einsum("ij,jk->ik", a, b), [_r(3, 4), _r(4, 5)]),
    ("einsum trace", lambda np_, a: np_.einsum("ii->", a * a), [_r(3, 3)]),
    ("einsum diagonal", lambda np_, a: np_.einsum("ii->i", a) ** 3, [_r(3, 3)]),
    (
        "einsum batched 3 operands",
        lambda np_, a, b, c: np_.einsum("bij,jk,bk->bi", a, b, c),
        [_r(2, 3, 4), _r(4, 5), _r(2, 5)],
    ),
    ("einsum ellipsis", lambda np_, a, b: np_.einsum("...ij,...j->...i", a, b), [_r(2, 3, 4), _r(2, 4)]),
    ("tensordot pairs", lambda np_, a, b: np_.tensordot(a, b, ([1, 0], [0, 2])), [_r(3, 4, 2), _r(4, 5, 3)]),
    ("tensordot int", lambda np_, a, b: np_.tensordot(a * a, b, 2), [_r(2, 3, 4), _r(3, 4, 2)]),
]


def _second_order(lib_grad, fun, xs, u, vs):
    """(d<u, f>/dx, d<d<u, f>/dx, v>/dx) with the library's grad."""
    out = fun(*xs)
    g1 = lib_grad((out * u).sum(), xs)
    g2 = lib_grad(sum((g * v).sum() for g, v in zip(g1, vs)), xs, last=True)
    return g1, g2


@pytest.mark.parametrize("name,fun,arrays", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_first_and_second_derivatives_match_pytorch(name, fun, arrays):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    u = rng.standard_normal(fun(np, *arrays).shape)
    vs = [rng.standard_normal(a.shape) for a in arrays]

    def ours(y, xs, last=False):
        return grad(y, xs, create_graph=not last)

    def theirs(y, xs, last=False):
        return torch.autograd.grad(y, xs, create_graph=not last)

    tx = [Tensor(a, requires_grad=True) for a in arrays]
    g1, g2 = _second_order(ours, lambda *x: fun(np, *x), tx, u, vs)
    px = [torch.tensor(a, requires_grad=True) for a in arrays]
    tu, tvs = torch.tensor(u), [torch.tensor(v) for v in vs]
    p1, p2 = _second_order(theirs, lambda *x: fun(torch, *x), px, tu, tvs)
    for ours_g, their_g in zip(list(g1) + list(g2), list(p1) + list(p2)):
        np.testing.assert_allclose(ours_g.data, their_g.detach().numpy(), rtol=1e-10, atol=1e-10)
