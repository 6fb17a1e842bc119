"""Arrays built from Tensors record (np.array/asarray of lists, np.r_, np.c_, a list given to
a numpy function); a conversion that would cut a graph is an error naming the line; and the
silent answers of issue 21: tangents dropped by numpy functions without a tangent rule, the
float64 gradient of a 0-d tensor rounded to float32, out= ignored, iteration."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_check import check_grads

from tinygrad_mlp import Tensor, func, numpy_api
from tinygrad_mlp.numpy_api import GraphCutError

HERE = r"test_np_construct.py:\d+"


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# (id, numpy code building an array from its arguments, input shapes)
CASES = [
    ("np.array of a list", lambda x: x * np.array([x, 2 * x]), [(3,)]),
    ("np.array nested with numbers", lambda x, y: np.array([[x[0], 1.0], [2.0 * y, x[1]]]), [(2,), ()]),
    ("np.array of a tuple", lambda x: np.array((x, x * x, 3.0 * np.ones(2))), [(2,)]),
    ("np.asarray of a list", lambda x: np.asarray([x.sum(), x.max()]), [(3,)]),
    ("np.asanyarray of a list", lambda x: np.asanyarray([[x], [x + 1]]), [(2,)]),
    ("np.array ndmin", lambda x: np.array([x[0], x[1]], ndmin=3), [(2,)]),
    ("np.r_", lambda x, y: np.r_[x, 0.5, y], [(2,), (3,)]),
    ("np.r_ with a slice", lambda x: np.r_[x, 1:3], [(2,)]),
    ("np.c_ of vectors", lambda x, y: np.c_[x, y, x * y], [(3,), (3,)]),
    ("np.c_ matrix and vector", lambda a, v: np.c_[a, v], [(3, 2), (3,)]),
    ("np.mean of a list", lambda x: x * np.mean([x, x + 2]), [(2,)]),
    ("np.sum of a list axis 0", lambda x, y: np.sum([x, y], axis=0), [(3,), (3,)]),
    ("np.max of a list", lambda x, y: np.max([x, y], axis=0), [(3,), (3,)]),
    ("np.transpose... of a list", lambda x: np.ravel([[x, x * 2]]), [(2,)]),
    ("np.concatenate of a list", lambda a, b: np.concatenate([a, b]), [(2,), (3,)]),
    ("np.append of a list", lambda x: np.append(x, [x[0] * 2, 1.0]), [(2,)]),
    ("a list as an operand", lambda x: x * [x[1], 1.0], [(2,)]),
    ("np.linalg.norm of a list", lambda x: x * np.linalg.norm([x, x + 2]), [()]),
    ("np.linalg.det of a nested list", lambda x, y: np.linalg.det([[x, 1.0], [2.0 * y, x * y]]), [(), ()]),
]


@pytest.mark.parametrize("fun, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_built_arrays_record(fun, shapes):
    check_grads(fun, *_inputs(shapes))


@pytest.mark.parametrize("fun, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_built_arrays_keep_float32(fun, shapes):
    # (Tensors outside a graph give numpy's own array, float64 for numbers: so in a graph only)
    xs = [Tensor(np.asarray(a, np.float32), requires_grad=True) for a in _inputs(shapes)]
    out = fun(*xs)
    assert isinstance(out, Tensor) and out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert all(x.grad.dtype == np.float32 for x in xs)
    _, t = func.jvp(fun, [x.detach() for x in xs], [np.ones(x.shape, np.float32) for x in xs])
    assert t.dtype == np.float32


@pytest.mark.parametrize(
    "fun, want",
    [
        (lambda x: (x * np.array([x, 2 * x])).sum(), 18.0),  # issue 21: gave 9 on main
        (lambda x: (x * np.mean([x, x + 2])).sum(), 7.0),  # issue 21: gave 4 on main
        (lambda x: np.r_[x, x * x].sum(), 7.0),
        (lambda x: np.c_[x, 2 * x].sum(), 3.0),
    ],
)
def test_issue_examples_give_the_true_gradient(fun, want):
    assert func.grad(fun)(Tensor(3.0)).item() == want


def test_built_array_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert np.array([x[0], 1.0]).dtype == np.float32  # numbers take the Tensors' dtype
    assert np.array([x, x], dtype=np.float64).dtype == np.float64
    with pytest.raises(GraphCutError, match="dtype=int64"):
        np.array([x, x], dtype=np.int64)
    with pytest.raises(ValueError, match="must have one shape"):
        np.array([x, x[:1]])


def test_a_leaf_cannot_hold_a_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphCutError, match=HERE):
        Tensor([x[0], 1.0])  # a new leaf: the graph would be cut (np.array([...]) records)
    assert Tensor([Tensor(1.0), 2.0]).dtype == np.float32  # without a graph it is data as before


def test_without_a_graph_numpy_gives_arrays_as_before():
    t = Tensor([1.0, 2.0])  # not part of a graph: plotting and printing keep working
    for got in (np.asarray(t), np.array([t, t]), np.r_[t, 3.0], np.mean([t, t])):
        assert not isinstance(got, Tensor)
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])
    np.testing.assert_array_equal(np.array([t, 2 * t]), [[1.0, 2.0], [2.0, 4.0]])
    assert np.asarray(np.ones(3)).dtype == np.float64 and np.array([1, 2]).dtype.kind == "i"


@pytest.mark.parametrize(
    "cut",
    [
        lambda x: np.asarray(x),
        lambda x: np.array(x * 2),
        lambda x: np.exp([x, x]),  # a ufunc never sees the Tensors in a list
        lambda x: np.zeros(3)[0:2].__setitem__(slice(None), x),
        lambda x: np.vander([x[0], x[1]]),  # a list given to a function the engine cannot record
    ],
)
def test_a_conversion_that_cuts_the_graph_names_the_line(cut):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphCutError, match=HERE + r": a Tensor of shape .* that requires grad.*detach\(\)"):
        cut(x)
    np.testing.assert_array_equal(np.asarray(x.detach()), [1.0, 2.0])  # the fix it names
    np.testing.assert_array_equal(np.asarray(x.data), [1.0, 2.0])


def test_writing_a_tensor_into_an_array_element_is_refused():
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = np.zeros(2)
    with pytest.raises((GraphCutError, ValueError)) as info:
        out[0] = 2 * x[0]  # issue 21: a constant on main
    cause = info.value if isinstance(info.value, GraphCutError) else info.value.__cause__
    assert isinstance(cause, GraphCutError) and "writing it into a numpy array" in str(cause)
    assert float(x[0]) == 1.0 and x[1].item() == 2.0  # explicit values stay allowed, as in PyTorch


def test_a_tangent_counts_as_a_graph():
    def f(x):
        return Tensor(np.asarray(x))

    with pytest.raises(GraphCutError, match="forward-mode tangent"):
        func.jvp(f, (Tensor([1.0]),), (Tensor([1.0]),))


def test_uninstall_gives_numpy_its_functions_back():
    from tinygrad_mlp.numpy_api import construct

    wrapped = (np.array, np.asarray, np.mean, np.r_)
    construct.uninstall()
    try:
        assert np.mean is wrapped[2].__wrapped__ and np.array is wrapped[0].__wrapped__
        assert type(np.r_).__name__ == "RClass"
        x = Tensor([1.0], requires_grad=True)
        with pytest.raises(GraphCutError):  # never silent, even without the wrappers
            np.array([x, x])
    finally:
        construct.install(numpy_api._FUNCTIONS)
    # the very same wrappers come back: code that kept a reference (zero = np.triu) compares equal
    assert (np.array, np.asarray, np.mean, np.r_) == wrapped


# ---------------------------------------------------------------- forward mode: no dropped tangent


def test_issue_jvp_example_is_right_or_an_error():
    # issue 21: on main, func.jvp ran np.sin on the arrays and dropped the tangent
    x = np.array([0.5, 1.0])
    try:
        _, t = func.jvp(lambda x: x * np.sin(x), (Tensor(x),), (Tensor(np.ones(2)),))
    except TypeError as exc:
        assert "numpy.sin" in str(exc)
    else:
        np.testing.assert_allclose(t.data, np.sin(x) + x * np.cos(x), rtol=1e-6)


@pytest.mark.parametrize(
    "fun, name",
    [
        (lambda x: x * np.spacing(x), "numpy.spacing"),  # a ufunc without a rule
        (lambda x: x * np.i0(x), "numpy.i0"),  # a function without a rule
        (lambda x: np.vander(x)[0], "numpy.vander"),
    ],
)
def test_a_function_without_a_tangent_rule_is_an_error_in_forward_mode(fun, name):
    x, v = Tensor([0.5, 1.0]), Tensor([1.0, 1.0])
    with pytest.raises(TypeError, match=name + " is not supported"):
        func.jvp(fun, (x,), (v,))
    with pytest.raises(TypeError, match=name + " is not supported"):
        func.jacfwd(fun)(x)
    fun(x)  # with no tangent and no grad it runs on the arrays, as before


# ---------------------------------------------------------------- float64 gradients of 0-d tensors


def test_float64_gradient_of_a_0d_tensor_used_twice_is_float64():
    # issue 21: the two gradients of v summed to a numpy scalar, lifted to float32 by indexing
    x = Tensor(np.array([0.3]), requires_grad=True)
    v = x[0]
    (v.sigmoid() + v.exp()).backward()
    s = 1 / (1 + np.exp(-0.3))
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [s * (1 - s) + np.exp(0.3)], rtol=1e-15)


def test_float64_second_derivative_of_a_0d_tensor_used_twice():
    def f(x):
        v = x[0]
        return v.exp() * v + v.sigmoid()

    g2 = func.grad(lambda x: func.grad(f)(x)[0])(Tensor(np.array([0.3])))
    s = 1 / (1 + np.exp(-0.3))
    assert g2.dtype == np.float64
    np.testing.assert_allclose(g2.data, [np.exp(0.3) * 2.3 + s * (1 - s) * (1 - 2 * s)], rtol=1e-14)


def test_function_apply_on_arrays_only_keeps_their_float_dtype():
    from tinygrad_mlp.ops import Exp

    assert Exp.apply(np.float64(0.1)).dtype == np.float64
    assert Exp.apply(np.array(0.1, dtype=np.float64)).dtype == np.float64
    assert Exp.apply(0.1).dtype == np.float32


# ---------------------------------------------------------------- out=


def test_out_tensor_gets_the_result_and_it_is_recorded():
    x = Tensor(np.array([-2.0, 0.5, 3.0]), requires_grad=True)
    y = x * 2
    got = np.clip(y, -1.0, 1.0, y)  # issue 21: ignored on main
    assert got is y
    np.testing.assert_array_equal(y.data, [-1.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 0.0])


def test_out_tensor_of_a_ufunc():
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor(np.zeros(2))
    assert np.add(a, a * a, out=c) is c
    np.testing.assert_array_equal(c.data, [2.0, 6.0])
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 5.0])


def test_out_given_by_position_and_of_a_wrong_type():
    x = Tensor([1.0, 2.0], requires_grad=True)
    total = Tensor(np.zeros(()))
    assert np.sum(x * x, None, None, total) is total  # out is numpy.sum's fourth parameter
    total.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(TypeError, match="numpy.clip: out= must be a Tensor or a numpy array, got list"):
        np.clip(x, 0, 1, out=[0.0, 0.0])


def test_out_keeps_forward_mode_tangents():
    def f(x):
        out, total = x * 0.0, Tensor(np.zeros(1))
        np.multiply(x, x, out=out)
        np.sum(out, out=total, keepdims=True)  # a reduction with out= too
        return out + total

    _, t = func.jvp(f, (Tensor([1.0, 2.0]),), (Tensor([1.0, 1.0]),))
    np.testing.assert_array_equal(t.data, [8.0, 10.0])


def test_out_array_with_a_graph_result_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphCutError, match=r"numpy.clip\(\.\.\., out=<numpy array>\)"):
        np.clip(x, 0, 1, out=np.empty(2))
    buffer = np.empty(2)
    np.add(Tensor([1.0, 2.0]), 1.0, out=buffer)  # no graph: written, as numpy does
    np.testing.assert_array_equal(buffer, [2.0, 3.0])
    arr = np.ones(2)
    with pytest.raises(GraphCutError, match="numpy.add"):
        arr += x  # an in-place numpy update with a graph Tensor


# ---------------------------------------------------------------- iteration


def test_iteration_gives_recorded_rows():
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == len(x) == 3 and [r.shape for r in rows] == [(2,)] * 3
    a, b, c = x
    total = sum(r.sum() * (i + 1) for i, r in enumerate(x))
    total.backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    np.testing.assert_array_equal(np.vstack(x.detach()), x.data)
    v = np.vstack(x)
    assert isinstance(v, Tensor) and v.requires_grad
    assert [float(e) for e in Tensor([1.0, 2.0])] == [1.0, 2.0]


def test_iterating_a_0d_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(Tensor(1.0))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))
    assert list(Tensor(np.zeros((0, 2)))) == []


def test_out_after_star_args_is_keyword_only():
    # np.einsum(*operands, out=None): a third operand is no out= (it was taken for one)
    rng = np.random.default_rng(0)
    a, b = Tensor(rng.standard_normal((2, 3)), requires_grad=True), rng.standard_normal((3, 3))
    got = np.einsum("ij,jk,kl->il", a, b, b)
    np.testing.assert_allclose(got.data, a.data @ b @ b)


def test_truth_of_a_tensor_is_numpys():
    assert bool(Tensor(2.0)) and not bool(Tensor([0.0]))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) is ambiguous"):
        bool(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor(np.ones(0)))


def test_linalg_functions_are_named_by_their_module():
    names = numpy_api.supported()
    assert {"np.linalg.inv", "np.linalg.norm", "np.cross", "np.linalg.cross"} <= set(names)
    assert "np.inv" not in names and "np.eigh" not in names
    x = Tensor(np.eye(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"^numpy\.linalg\.eig is not supported"):
        np.linalg.eig(x)


@pytest.mark.parametrize(
    "fun, expect",
    [
        (lambda x, y: np.sum(x < y) + 0.0, 0.0),  # a comparison: a plain number, a constant
        (lambda x, y: np.ones(3).sum(), 0.0),  # ignores its arguments
        (lambda x, y: (x * y).sum(), 2.0),
    ],
)
def test_transforms_take_a_plain_output_as_a_constant(fun, expect):
    x, y = Tensor(np.array([1.0, 2.0, 3.0])), Tensor(np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(func.grad(fun)(x, y).data, np.full(3, expect))
    _, vjp_fn = func.vjp(fun, x, y)
    np.testing.assert_array_equal(vjp_fn(Tensor(np.array(1.0)))[1].data, x.data if expect else np.zeros(3))
    _, t = func.jvp(fun, (x, y), (np.ones(3), np.zeros(3)))
    assert t.item() == 3 * expect  # along x: sum(y)
    np.testing.assert_array_equal(func.jacrev(fun)(x, y).data, np.full(3, expect))


def test_astype_takes_ndarray_arguments():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    assert x.astype(np.float32, copy=False) is x  # CS231n's out.astype(x.dtype, copy=False)
    y = x.astype(np.float32)
    assert y is not x and y.requires_grad
    assert x.astype(np.float64, copy=False).dtype == np.float64
    with pytest.raises(TypeError, match="order='C' and casting='unsafe' are not supported"):
        x.astype(np.float64, order="C")
    with pytest.raises(TypeError, match="astype: a Tensor holds floats; got dtype int64"):
        x.astype(np.int64, copy=False)


def test_dot_of_n_d_operands_is_numpys():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4, 2))
    check_grads(lambda a, b: a.dot(b), a, b)
    assert "N-D" in Tensor.dot.__doc__ and "1-D and 2-D" not in Tensor.dot.__doc__
