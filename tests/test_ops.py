"""Every op, one line per case: forward against numpy, gradient against float64
central differences (tinygrad_mlp.gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from tinygrad_mlp import Tensor
from tinygrad_mlp.gradcheck import gradcheck

# Each case: (id, tensor fn, numpy fn, input shapes, input kind).
# Input kinds: "any" standard normal; "pos" in [0.5, 2]; "far0" normal pushed away from 0
# (relu has no derivative at 0); "big" logits around 1e3.
same = None  # the numpy fn is the tensor fn itself (operators work on both)

C = np.array([[0.5, -1.0, 2.0, 1.5]])  # a numpy constant, (1, 4)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


CASES = [
    # binary arithmetic, equal shapes and broadcasting (scalars, rows, columns, leading dims)
    ("add", lambda a, b: a + b, same, [(3, 4), (3, 4)], "any"),
    ("add row", lambda a, b: a + b, same, [(3, 4), (4,)], "any"),
    ("add row left", lambda a, b: a + b, same, [(4,), (3, 4)], "any"),
    ("add col+row", lambda a, b: a + b, same, [(3, 1), (1, 4)], "any"),
    ("add scalar tensor", lambda a, b: a + b, same, [(3, 4), ()], "any"),
    ("add scalar tensor left", lambda a, b: a + b, same, [(), (3, 4)], "any"),
    ("add leading dims", lambda a, b: a + b, same, [(2, 3, 4), (3, 1)], "any"),
    ("add leading dims left", lambda a, b: a + b, same, [(3, 1), (2, 3, 4)], "any"),
    ("add number", lambda a: a + 2.5, same, [(3, 4)], "any"),
    ("radd number", lambda a: 2.5 + a, same, [(3, 4)], "any"),
    ("add numpy array", lambda a: a + C, same, [(3, 4)], "any"),
    ("radd numpy array", lambda a: C + a, same, [(3, 4)], "any"),
    ("sub", lambda a, b: a - b, same, [(3, 4), (3, 4)], "any"),
    ("sub col", lambda a, b: a - b, same, [(3, 4), (3, 1)], "any"),
    ("sub leading dims left", lambda a, b: a - b, same, [(4,), (2, 3, 4)], "any"),
    ("rsub number", lambda a: 1.0 - a, same, [(3, 4)], "any"),
    ("mul", lambda a, b: a * b, same, [(3, 4), (3, 4)], "any"),
    ("mul row", lambda a, b: a * b, same, [(3, 4), (4,)], "any"),
    ("mul col left", lambda a, b: a * b, same, [(3, 1), (3, 4)], "any"),
    ("mul scalar", lambda a, b: a * b, same, [(2, 3, 4), ()], "any"),
    ("rmul number", lambda a: 3.0 * a, same, [(3, 4)], "any"),
    ("div", lambda a, b: a / b, same, [(3, 4), (3, 4)], "pos"),
    ("div row", lambda a, b: a / b, same, [(3, 4), (4,)], "pos"),
    ("div leading dims left", lambda a, b: a / b, same, [(3, 1), (2, 3, 4)], "pos"),
    ("rdiv number", lambda a: 2.0 / a, same, [(3, 4)], "pos"),
    ("pow number", lambda a: a**3, same, [(3, 4)], "any"),
    ("pow fraction", lambda a: a**0.5, same, [(3, 4)], "pos"),
    ("pow tensor", lambda a, b: a**b, same, [(3, 4), (3, 4)], "pos"),
    ("pow tensor col", lambda a, b: a**b, same, [(3, 4), (3, 1)], "pos"),
    ("rpow number", lambda a: 2.0**a, same, [(3, 4)], "any"),
    ("neg", lambda a: -a, same, [(3, 4)], "any"),
    # matmul: numpy.matmul semantics
    ("matmul 2d", lambda a, b: a @ b, same, [(3, 4), (4, 5)], "any"),
    ("matmul vec@mat", lambda a, b: a @ b, same, [(4,), (4, 5)], "any"),
    ("matmul mat@vec", lambda a, b: a @ b, same, [(3, 4), (4,)], "any"),
    ("matmul vec@vec", lambda a, b: a @ b, same, [(4,), (4,)], "any"),
    ("matmul batched", lambda a, b: a @ b, same, [(2, 3, 4), (2, 4, 5)], "any"),
    ("matmul batched@mat", lambda a, b: a @ b, same, [(2, 3, 4), (4, 5)], "any"),
    ("matmul mat@batched", lambda a, b: a @ b, same, [(3, 4), (2, 4, 5)], "any"),
    ("matmul batch broadcast", lambda a, b: a @ b, same, [(2, 1, 3, 4), (3, 4, 2)], "any"),
    ("matmul batched@vec", lambda a, b: a @ b, same, [(2, 3, 4), (4,)], "any"),
    ("matmul vec@batched", lambda a, b: a @ b, same, [(4,), (2, 4, 5)], "any"),
    ("rmatmul numpy", lambda a: C @ a, same, [(4, 3)], "any"),
    # unary
    ("exp", lambda a: a.exp(), np.exp, [(3, 4)], "any"),
    ("log", lambda a: a.log(), np.log, [(3, 4)], "pos"),
    ("sqrt", lambda a: a.sqrt(), np.sqrt, [(3, 4)], "pos"),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), [(3, 4)], "far0"),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), [(3, 4)], "any"),
    ("tanh", lambda a: a.tanh(), np.tanh, [(3, 4)], "any"),
    (
        "0-d chain",
        lambda a: ((a * 0.5).tanh().sigmoid().exp() + a.relu()).log(),
        lambda a: np.log(np.exp(1 / (1 + np.exp(-np.tanh(a * 0.5)))) + np.maximum(a, 0)),
        [()],
        "far0",
    ),
    # reductions: axis None, int, negative, tuple; keepdims
    ("sum all", lambda a: a.sum(), np.sum, [(2, 3, 4)], "any"),
    ("sum axis 0", lambda a: a.sum(0), lambda a: a.sum(0), [(2, 3, 4)], "any"),
    ("sum axis -1", lambda a: a.sum(axis=-1), lambda a: a.sum(-1), [(2, 3, 4)], "any"),
    ("sum axes (0,2)", lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2)), [(2, 3, 4)], "any"),
    (
        "sum keepdims",
        lambda a: a.sum(1, keepdims=True),
        lambda a: a.sum(1, keepdims=True),
        [(2, 3, 4)],
        "any",
    ),
    ("sum all keepdims", lambda a: a.sum(keepdims=True), lambda a: a.sum(keepdims=True), [(2, 3)], "any"),
    ("sum 0-d", lambda a: a.sum(), np.sum, [()], "any"),
    ("mean all", lambda a: a.mean(), np.mean, [(2, 3, 4)], "any"),
    ("mean axis 1", lambda a: a.mean(1), lambda a: a.mean(1), [(2, 3, 4)], "any"),
    (
        "mean axis -2 keepdims",
        lambda a: a.mean(-2, True),
        lambda a: a.mean(-2, keepdims=True),
        [(2, 3, 4)],
        "any",
    ),
    ("mean axes (0,1)", lambda a: a.mean((0, 1)), lambda a: a.mean((0, 1)), [(2, 3, 4)], "any"),
    ("max all", lambda a: a.max(), np.max, [(2, 3, 4)], "any"),
    ("max axis 1", lambda a: a.max(1), lambda a: a.max(1), [(2, 3, 4)], "any"),
    (
        "max axis -1 keepdims",
        lambda a: a.max(-1, True),
        lambda a: a.max(-1, keepdims=True),
        [(2, 3, 4)],
        "any",
    ),
    ("max axes (0,2)", lambda a: a.max((0, 2)), lambda a: a.max((0, 2)), [(2, 3, 4)], "any"),
    # shapes
    ("reshape", lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6), [(2, 3, 4)], "any"),
    ("reshape tuple -1", lambda a: a.reshape((-1, 2)), lambda a: a.reshape(-1, 2), [(2, 3, 4)], "any"),
    ("transpose reverse", lambda a: a.transpose(), lambda a: a.transpose(), [(2, 3, 4)], "any"),
    ("transpose perm", lambda a: a.transpose(1, 2, 0), lambda a: a.transpose(1, 2, 0), [(2, 3, 4)], "any"),
    ("transpose tuple", lambda a: a.transpose((2, 0, 1)), lambda a: a.transpose(2, 0, 1), [(2, 3, 4)], "any"),
    ("T", lambda a: a.T, lambda a: a.T, [(3, 4)], "any"),
    ("swapaxes", lambda a: a.swapaxes(0, 2), lambda a: a.swapaxes(0, 2), [(2, 3, 4)], "any"),
    # indexing: basic slices, ints, None, Ellipsis, integer arrays (repeated), boolean masks
    ("index int", lambda a: a[1], lambda a: a[1], [(3, 4)], "any"),
    ("index negative", lambda a: a[-1, 2], lambda a: a[-1, 2], [(3, 4)], "any"),
    ("index slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(3, 4)], "any"),
    ("index None Ellipsis", lambda a: a[None, ..., 1], lambda a: a[None, ..., 1], [(2, 3, 4)], "any"),
    ("index int array", lambda a: a[[2, 0]], lambda a: a[[2, 0]], [(3, 4)], "any"),
    ("index repeated", lambda a: a[[1, 1, 2, 1]], lambda a: a[[1, 1, 2, 1]], [(3, 4)], "any"),
    (
        "index pairs",
        lambda a: a[np.arange(3), [0, 3, 0]],
        lambda a: a[np.arange(3), [0, 3, 0]],
        [(3, 4)],
        "any",
    ),
    (
        "index repeated pairs",
        lambda a: a[[0, 0, 2], [1, 1, 3]],
        lambda a: a[[0, 0, 2], [1, 1, 3]],
        [(3, 4)],
        "any",
    ),
    ("index mask", lambda a: a[np.array([True, False, True])], lambda a: a[[0, 2]], [(3, 4)], "any"),
    ("index array and slice", lambda a: a[:, [3, 3, 0]], lambda a: a[:, [3, 3, 0]], [(3, 4)], "any"),
    # softmax family, stable for huge logits
    ("softmax", lambda a: a.softmax(), _softmax, [(3, 5)], "any"),
    ("softmax axis 0", lambda a: a.softmax(0), lambda a: _softmax(a, 0), [(3, 5)], "any"),
    ("softmax huge", lambda a: a.softmax(), _softmax, [(3, 5)], "big"),
    ("log_softmax", lambda a: a.log_softmax(), _log_softmax, [(3, 5)], "any"),
    ("log_softmax axis 0", lambda a: a.log_softmax(axis=0), lambda a: _log_softmax(a, 0), [(3, 5)], "any"),
    ("log_softmax huge", lambda a: a.log_softmax(), _log_softmax, [(3, 5)], "big"),
    ("log_softmax 1-d", lambda a: a.log_softmax(), _log_softmax, [(6,)], "big"),
    # composites
    (
        "mlp layer",
        lambda x, w, b: (x @ w + b).sigmoid(),
        lambda x, w, b: 1 / (1 + np.exp(-(x @ w + b))),
        [(5, 4), (4, 3), (3,)],
        "any",
    ),
    ("diamond", lambda a: (a + a) * (a + a), same, [(3,)], "any"),
    ("reuse", lambda a, b: (a * b + a) ** 2 / (b * b + 1.0), same, [(2, 3), (3,)], "any"),
]


def _inputs(shapes, kind, seed):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        x = rng.standard_normal(shape)
        if kind == "pos":
            x = rng.uniform(0.5, 2.0, shape)
        elif kind == "far0":
            x = np.where(x >= 0, x + 0.1, x - 0.1)
        elif kind == "big":
            x = x * 1e3
        out.append(np.asarray(x, dtype=np.float64))
    return out


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_numpy(name, fn, np_fn, shapes, kind):
    arrays = _inputs(shapes, kind, seed=1)
    got = fn(*[Tensor(a) for a in arrays])
    want = (np_fn or fn)(*arrays)
    assert got.shape == np.shape(want)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(got.data))


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(name, fn, np_fn, shapes, kind):
    tensors = [Tensor(a, requires_grad=True) for a in _inputs(shapes, kind, seed=2)]
    assert gradcheck(fn, tensors)
    # The gradient has the shape and dtype of its operand.
    out = fn(*tensors)
    out.backward(np.ones(out.shape))
    for t in tensors:
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype


FLOAT32_CASES = [c for c in CASES if "numpy" not in c[0]]  # C is a float64 array: it promotes, as in numpy


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", FLOAT32_CASES, ids=[c[0] for c in FLOAT32_CASES])
def test_float32_stays_float32(name, fn, np_fn, shapes, kind):
    tensors = [Tensor(a.astype(np.float32), requires_grad=True) for a in _inputs(shapes, kind, seed=3)]
    out = fn(*tensors)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert all(t.grad.dtype == np.float32 for t in tensors)


def test_max_splits_gradient_among_ties():
    a = Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    a.max().backward()
    np.testing.assert_array_equal(a.grad, [0, 0.5, 0.5, 0])
    b = Tensor([[5.0, 5.0, 5.0], [1.0, 4.0, 2.0]], requires_grad=True)
    (b.max(axis=1) * Tensor([3.0, 1.0])).sum().backward()
    np.testing.assert_allclose(b.grad, [[1, 1, 1], [0, 1, 0]])


def test_repeated_indices_accumulate():
    a = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    a[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(a.grad, [3, 0, 1])


def test_huge_logits_stay_finite():
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]])
    for dtype in (np.float32, np.float64):
        t = Tensor(x, dtype=dtype, requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # any overflow would raise here
            p = t.softmax()
            lp = t.log_softmax()
            (p.sum() + lp.sum()).backward()
        np.testing.assert_allclose(p.data, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)
        np.testing.assert_allclose(lp.data, [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-6)
        assert np.all(np.isfinite(t.grad))


def test_sigmoid_of_extremes_neither_warns_nor_nans():
    t = Tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = t.sigmoid()
        s.sum().backward()
    np.testing.assert_allclose(s.data, [0, 0, 0.5, 1, 1], atol=1e-20)
    np.testing.assert_allclose(t.grad, [0, 0, 0.25, 0, 0], atol=1e-20)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(Tensor([-1000.0, 1000.0]).tanh().data, [-1, 1])


@settings(max_examples=40, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div"]),
)
def test_broadcasting_gradients_for_any_shapes(shapes, op):
    (sa, sb), _ = shapes
    rng = np.random.default_rng(0)
    a = Tensor(rng.uniform(0.5, 2, sa), dtype=np.float64, requires_grad=True)
    b = Tensor(rng.uniform(0.5, 2, sb), dtype=np.float64, requires_grad=True)
    fn = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
    }[op]
    assert fn(a, b).shape == np.broadcast_shapes(sa, sb)
    assert gradcheck(fn, [a, b])


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    k=st.integers(1, 3),
    m=st.integers(1, 3),
    batch_a=st.sampled_from([(), (2,), (1,), (2, 1)]),
    batch_b=st.sampled_from([(), (2,), (1, 2)]),
)
def test_batched_matmul_gradients_for_any_shapes(n, k, m, batch_a, batch_b):
    rng = np.random.default_rng(1)
    a = Tensor(rng.standard_normal(batch_a + (n, k)), dtype=np.float64, requires_grad=True)
    b = Tensor(rng.standard_normal(batch_b + (k, m)), dtype=np.float64, requires_grad=True)
    np.testing.assert_allclose((a @ b).data, a.data @ b.data)
    assert gradcheck(lambda x, y: x @ y, [a, b])
