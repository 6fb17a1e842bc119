"""The numpy shape family on Tensors (joining, splitting, flips, rolls, pad, tile, repeat,
diagonals, triangles, take, sorting): value against numpy, both modes to order 2 against
float64 central differences (``check_grads``), float32 kept, PyTorch as an oracle."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_check import check_float32, check_grads

from tinygrad_mlp import Tensor, func
from tinygrad_mlp.ops import ShapeError


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# (id, numpy code, input shapes): the code runs unchanged on arrays and on Tensors
CASES = [
    ("concatenate 3 inputs", lambda a, b, c: np.concatenate([a, b, c]), [(2, 3), (1, 3), (4, 3)]),
    ("concatenate axis -1", lambda a, b: np.concatenate((a, b), axis=-1), [(2, 3), (2, 1)]),
    ("concatenate axis None", lambda a, b: np.concatenate([a, b], axis=None), [(2, 3), (4,)]),
    ("concatenate an empty one", lambda a, b: np.concatenate([a, b, a]), [(0, 3), (2, 3)]),
    ("concatenate a list", lambda a: np.concatenate([a, [1.0, 2.0]]), [(3,)]),
    ("stack 3 inputs", lambda a, b, c: np.stack([a, b, c]), [(2, 3), (2, 3), (2, 3)]),
    ("stack axis 1", lambda a, b, c: np.stack([a, b, c], axis=1), [(2, 3), (2, 3), (2, 3)]),
    ("stack axis -1", lambda a, b: np.stack((a, b), axis=-1), [(2, 3), (2, 3)]),
    ("hstack 1-d", lambda a, b: np.hstack([a, b]), [(2,), (3,)]),
    ("hstack 2-d", lambda a, b: np.hstack([a, b]), [(2, 1), (2, 3)]),
    ("vstack 1-d", lambda a, b, c: np.vstack([a, b, c]), [(3,), (3,), (3,)]),
    ("vstack 2-d", lambda a, b: np.vstack([a, b]), [(1, 3), (2, 3)]),
    ("dstack", lambda a, b: np.dstack([a, b]), [(2, 3), (2, 3)]),
    ("column_stack", lambda a, b: np.column_stack([a, b]), [(3,), (3, 2)]),
    ("append None", lambda a, b: np.append(a, b), [(2, 2), (3,)]),
    ("append axis 0", lambda a, b: np.append(a, b, axis=0), [(2, 2), (1, 2)]),
    ("split sections", lambda a: np.split(a, 3, axis=1), [(2, 6)]),
    ("split empty pieces", lambda a: np.split(a, [2, 2, 5]), [(5,)]),
    ("array_split uneven", lambda a: np.array_split(a, 3), [(7, 2)]),
    ("array_split more than rows", lambda a: np.array_split(a, 4), [(2,)]),
    ("hsplit", lambda a: np.hsplit(a, [1]), [(2, 3)]),
    ("vsplit", lambda a: np.vsplit(a, 2), [(4, 3)]),
    ("dsplit", lambda a: np.dsplit(a, [1, 3]), [(2, 2, 4)]),
    ("expand_dims", lambda a: np.expand_dims(a, 1), [(2, 3)]),
    ("expand_dims tuple negative", lambda a: np.expand_dims(a, (0, -1)), [(2, 3)]),
    ("squeeze all", lambda a: np.squeeze(a), [(1, 3, 1)]),
    ("squeeze axis", lambda a: np.squeeze(a, axis=-1), [(1, 3, 1)]),
    ("squeeze method", lambda a: a.squeeze(0), [(1, 3, 1)]),
    ("atleast_1d 0-d", lambda a: np.atleast_1d(a), [()]),
    ("atleast_2d 1-d", lambda a: np.atleast_2d(a), [(3,)]),
    ("atleast_3d 1-d 2-d", lambda a, b: np.atleast_3d(a, b), [(3,), (2, 3)]),
    ("ravel", lambda a: np.ravel(a), [(2, 3)]),
    ("tile", lambda a: np.tile(a, (2, 3)), [(3,)]),
    ("tile fewer reps", lambda a: np.tile(a, 2), [(2, 3)]),
    ("tile zero", lambda a: np.tile(a, (0, 2)), [(2, 3)]),
    ("repeat scalar None", lambda a: np.repeat(a, 2), [(2, 3)]),
    ("repeat per element", lambda a: np.repeat(a, [1, 0, 3], axis=1), [(2, 3)]),
    ("repeat method", lambda a: a.repeat(2, axis=0), [(2, 3)]),
    ("roll None", lambda a: np.roll(a, 2), [(2, 3)]),
    ("roll axes", lambda a: np.roll(a, (1, -2), axis=(0, 1)), [(3, 4)]),
    ("roll same axis twice", lambda a: np.roll(a, (1, 5), axis=(-1, 1)), [(3, 4)]),
    ("flip None", lambda a: np.flip(a), [(2, 3)]),
    ("flip axis", lambda a: np.flip(a, axis=-1), [(2, 3, 2)]),
    ("fliplr flipud", lambda a: np.fliplr(a) + np.flipud(a), [(3, 3)]),
    ("rot90", lambda a: np.rot90(a), [(2, 3)]),
    ("rot90 k 2", lambda a: np.rot90(a, 2), [(2, 3)]),
    ("rot90 k -1 axes", lambda a: np.rot90(a, -1, axes=(1, 2)), [(2, 3, 4)]),
    ("moveaxis", lambda a: np.moveaxis(a, 0, -1), [(2, 3, 4)]),
    ("rollaxis", lambda a: np.rollaxis(a, 2, 1), [(2, 3, 4)]),
    ("swapaxes", lambda a: np.swapaxes(a, 0, -1), [(2, 3, 4)]),
    ("pad constant", lambda a: np.pad(a, ((1, 2), (0, 1)), constant_values=3.0), [(2, 3)]),
    ("pad width 0", lambda a: np.pad(a, 0), [(2, 3)]),
    ("pad per axis", lambda a: np.pad(a, ((0, 1), (2, 0))), [(2, 3)]),
    ("pad edge", lambda a: np.pad(a, 2, mode="edge"), [(2, 3)]),
    ("pad reflect", lambda a: np.pad(a, ((2, 1), (0, 2)), mode="reflect"), [(3, 4)]),
    ("pad symmetric", lambda a: np.pad(a, (1, 3), mode="symmetric"), [(3,)]),
    ("pad wrap", lambda a: np.pad(a, (2, 4), mode="wrap"), [(3,)]),
    ("pad 0-d", lambda a: np.pad(a, 1) * a, [()]),
    ("pad reflect 0", lambda a: np.pad(a, ((0, 0), (1, 1)), mode="reflect"), [(2, 3)]),
    ("diag vector", lambda a: np.diag(a), [(3,)]),
    ("diag vector k 1", lambda a: np.diag(a, 1), [(3,)]),
    ("diag vector k -2", lambda a: np.diag(a, k=-2), [(2,)]),
    ("diag matrix", lambda a: np.diag(a), [(3, 4)]),
    ("diag matrix k", lambda a: np.diag(a, 1) + np.diag(a, -1)[:2].sum(), [(3, 4)]),
    ("diagonal", lambda a: np.diagonal(a, 1, axis1=1, axis2=2), [(2, 3, 4)]),
    ("diagonal axes swapped", lambda a: np.diagonal(a, -1, axis1=2, axis2=0), [(3, 2, 4)]),
    ("diagonal method", lambda a: a.diagonal(), [(3, 3)]),
    ("diagonal too far", lambda a: np.diagonal(a, 5), [(3, 3)]),
    ("tril", lambda a: np.tril(a), [(3, 4)]),
    ("tril k -1 batch", lambda a: np.tril(a, -1), [(2, 3, 3)]),
    ("triu k 1", lambda a: np.triu(a, 1), [(4, 3)]),
    ("take None", lambda a: np.take(a, [0, 5, 5, 2]), [(2, 3)]),
    ("take axis repeated", lambda a: np.take(a, [[1, 1], [0, 2]], axis=1), [(2, 3)]),
    ("take wrap", lambda a: np.take(a, [4, -1], axis=0, mode="wrap"), [(3, 2)]),
    ("take method", lambda a: a.take([2, 0], axis=0), [(3, 2)]),
    ("take_along_axis", lambda a: np.take_along_axis(a, np.array([[2, 0], [1, 1]]), axis=1), [(2, 3)]),
    ("take_along_axis None", lambda a: np.take_along_axis(a, np.array([4, 0, 4]), axis=None), [(2, 3)]),
    ("sort", lambda a: np.sort(a), [(3, 4)]),
    ("sort axis 0", lambda a: np.sort(a, axis=0), [(3, 4)]),
    ("sort None", lambda a: np.sort(a, axis=None), [(3, 4)]),
    ("partition", lambda a: np.partition(a, 2), [(2, 5)]),
    ("partition axis 0", lambda a: np.partition(a, (0, 2), axis=0), [(4, 3)]),
    ("linspace", lambda a, b: np.linspace(a, b, 5), [(), ()]),
    ("linspace of one and of none", lambda a, b: np.linspace(a, b, 1) + np.linspace(a, b, 0).sum(), [(), ()]),
    (
        "linspace no endpoint, vectors, axis -1",
        lambda a, b: np.linspace(a, b, 4, False, axis=-1),
        [(2,), (2,)],
    ),
    ("linspace retstep", lambda a, b: np.linspace(a, b, 3, retstep=True), [(), ()]),
    ("hstack of a matrix's rows", np.hstack, [(3, 2)]),
]


@pytest.mark.parametrize("fun, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_function_value_and_derivatives(fun, shapes):
    check_grads(fun, *_inputs(shapes))


@pytest.mark.parametrize("fun, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_function_keeps_float32(fun, shapes):
    check_float32(fun, *_inputs(shapes))  # several outputs (split): weighted in their own dtype


def _grad(fun, arrays, u):
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    out = fun(*xs)
    out.backward(u)
    return out.data, [x.grad for x in xs]


def test_sort_ties_get_one_consistent_permutation():
    # tied values: each input receives exactly one output's gradient, in the stable order
    a = np.array([2.0, 1.0, 2.0, 1.0, 2.0])
    u = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    value, (g,) = _grad(np.sort, [a], u)
    np.testing.assert_array_equal(value, [1, 1, 2, 2, 2])
    np.testing.assert_array_equal(g, [30.0, 10.0, 40.0, 20.0, 50.0])
    # a function of the sorted values that does not tell tied entries apart has one first
    # derivative (its gradient, a permutation of the weights, jumps at the tie: order 1)
    check_grads(lambda x: np.sum(np.sort(x) * np.array([1.0, 1.0, 2.0, 2.0, 2.0])), a, order=1)


def test_partition_puts_numpy_s_values_in_numpy_s_order():
    a = np.array([[3.0, 1.0, 2.0, 1.0, 5.0, 0.5]])
    t = np.partition(Tensor(a, requires_grad=True), 2, axis=1)
    np.testing.assert_array_equal(t.data, np.partition(a, 2, axis=1))


def test_index_functions_give_values_without_gradient():
    x = Tensor(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]]), requires_grad=True)
    d = x.data
    for got, want in [
        (np.argsort(x, axis=1), np.argsort(d, axis=1)),
        (np.argmax(x, axis=0), np.argmax(d, axis=0)),
        (np.argmin(x), np.argmin(d)),
        (np.argpartition(x, 1, axis=1)[:, 1], np.argpartition(d, 1, axis=1)[:, 1]),
        (x.argmax(axis=1), np.argmax(d, axis=1)),
        (x.argmin(), np.argmin(d)),
        (x.argsort(axis=0), np.argsort(d, axis=0, kind="stable")),
    ]:
        assert isinstance(got, (np.ndarray, np.integer)) and got.dtype.kind == "i"
        np.testing.assert_array_equal(got, want)


def test_sort_method_sorts_in_place_and_records():
    x = Tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    y = x * 1.0
    y.sort()
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 3.0])
    (y * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [100.0, 1.0, 10.0])
    with pytest.raises(RuntimeError, match="cannot assign into a leaf"):
        x.sort()


def test_split_pieces_are_tensors_and_empty_pieces_have_their_shape():
    x = Tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    pieces = np.split(x, [2, 2, 7])
    assert [p.shape for p in pieces] == [(2, 2), (0, 2), (3, 2), (0, 2)]
    assert all(isinstance(p, Tensor) and p.requires_grad for p in pieces)
    with pytest.raises(ValueError, match="does not result in an equal division"):
        np.split(x, 2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda x: np.concatenate([x, x[:, :1]]),
            ShapeError,
            r"concatenate: cannot join shapes \[\(2, 3\), \(2, 1\)\]",
        ),
        (lambda x: np.stack([x, x[:1]]), ShapeError, "stack: all inputs must have one shape"),
        (lambda x: np.stack([x, x], axis=3), ShapeError, "stack: axis 3 is out of range"),
        (
            lambda x: np.concatenate([x, x], axis=2),
            ShapeError,
            "concatenate: cannot join shapes .* along axis 2",
        ),
        (lambda x: np.squeeze(x, 0), ValueError, "size not equal to one"),
        (lambda x: np.expand_dims(x, 3), ShapeError, "expand_dims: axis 3 is out of range"),
        (lambda x: np.roll(x, 1, axis=2), ShapeError, "roll: axis 2 is out of range"),
        (lambda x: np.pad(x, 1, mode="linear_ramp"), TypeError, "mode='linear_ramp' is not supported"),
        (lambda x: np.pad(x, -1), ValueError, "must not be negative"),
        (lambda x: np.pad(x, 1.5), TypeError, "pad_width must be integers"),
        (lambda x: np.fliplr(x[0]), ValueError, "fliplr: input must be >= 2-d"),
        (lambda x: np.diag(x[None]), ValueError, r"diag: input must be 1-d or 2-d, got shape \(1, 2, 3\)"),
        (lambda x: np.take(x, [0.5]), TypeError, "numpy.take: indices must be integers"),
        (lambda x: np.take_along_axis(x, np.array([0]), 1), ValueError, "same number of dimensions"),
        (lambda x: np.rot90(x, axes=(0, 0)), ValueError, "axes must be different"),
    ],
)
def test_bad_arguments_name_the_function(call, error, match):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(error, match=match):
        call(x)


def test_pad_without_a_graph_runs_other_modes_on_the_array():
    got = np.pad(Tensor([1.0, 2.0]), 1, mode="linear_ramp")
    np.testing.assert_array_equal(
        np.asarray(got), np.pad(np.array([1.0, 2.0], np.float32), 1, mode="linear_ramp")
    )


# ---------------------------------------------------------------- PyTorch as an oracle

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # PyTorch is an optional oracle
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (an optional oracle) is not installed")

TORCH_CASES = [
    (
        "cat",
        lambda a, b, c: np.concatenate([a, b, c], axis=1),
        lambda a, b, c: torch.cat([a, b, c], 1),
        [(2, 1), (2, 3), (2, 2)],
    ),
    (
        "stack",
        lambda a, b, c: np.stack([a, b, c], axis=-1),
        lambda a, b, c: torch.stack([a, b, c], -1),
        [(2, 3)] * 3,
    ),
    ("flip", lambda a: np.flip(a, (0, 2)), lambda a: torch.flip(a, (0, 2)), [(2, 3, 4)]),
    ("roll", lambda a: np.roll(a, (2, -1), (0, 1)), lambda a: torch.roll(a, (2, -1), (0, 1)), [(3, 4)]),
    ("tril", lambda a: np.tril(a, -1), lambda a: torch.tril(a, -1), [(2, 4, 3)]),
    ("triu", lambda a: np.triu(a, 1), lambda a: torch.triu(a, 1), [(4, 3)]),
    ("diagonal", lambda a: np.diagonal(a, 1, 0, 2), lambda a: torch.diagonal(a, 1, 0, 2), [(3, 2, 4)]),
    (
        "take_along_dim",
        lambda a: np.take_along_axis(a, np.array([[0, 0, 2], [1, 2, 1]]), 1),
        lambda a: torch.take_along_dim(a, torch.tensor([[0, 0, 2], [1, 2, 1]]), 1),
        [(2, 3)],
    ),
    ("sort", lambda a: np.sort(a, axis=0), lambda a: torch.sort(a, dim=0, stable=True).values, [(4, 3)]),
    ("pad constant", lambda a: np.pad(a, ((0, 0), (1, 2))), lambda a: F.pad(a, (1, 2)), [(2, 3)]),
    (
        "pad reflect",
        lambda a: np.pad(a, ((0, 0), (2, 1)), mode="reflect"),
        lambda a: F.pad(a[None], (2, 1), mode="reflect")[0],
        [(2, 4)],
    ),
    (
        "pad edge",
        lambda a: np.pad(a, ((0, 0), (1, 3)), mode="edge"),
        lambda a: F.pad(a[None], (1, 3), mode="replicate")[0],
        [(2, 4)],
    ),
    (
        "repeat_interleave",
        lambda a: np.repeat(a, [2, 0, 1], axis=0),
        lambda a: torch.repeat_interleave(a, torch.tensor([2, 0, 1]), 0),
        [(3, 2)],
    ),
]


@needs_torch
@pytest.mark.parametrize("fun, tfun, shapes", [c[1:] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES])
def test_against_pytorch(fun, tfun, shapes):
    arrays = _inputs(shapes, seed=3)
    value = fun(*[Tensor(a) for a in arrays])
    u = np.random.default_rng(4).standard_normal(value.shape)
    got, grads = _grad(fun, arrays, u)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = tfun(*ts)
    want.backward(torch.tensor(u))
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12)
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


@needs_torch
def test_sort_ties_match_pytorch_stable_sort():
    a = np.array([[1.0, 0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    u = np.arange(10.0).reshape(2, 5)
    _, (g,) = _grad(lambda x: np.sort(x, axis=1), [a], u)
    t = torch.tensor(a, requires_grad=True)
    torch.sort(t, dim=1, stable=True).values.backward(torch.tensor(u))
    np.testing.assert_array_equal(g, t.grad.numpy())


def test_jacobian_of_a_split_and_join_is_the_identity():
    # forward mode and reverse mode agree on a function made of several shape ops
    def f(x):
        a, b = np.split(x, 2)
        return np.concatenate([np.flip(b), np.roll(a, 1)])[::-1]

    x = Tensor(np.arange(6.0))
    jf, jr = func.jacfwd(f)(x), func.jacrev(f)(x)
    np.testing.assert_array_equal(jf.data, jr.data)
    assert sorted(jf.data.sum(axis=0).tolist()) == [1.0] * 6
