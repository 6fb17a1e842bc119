"""The backward pass as a whole: graph shapes, repeated calls, deep graphs, memory,
errors, anomaly mode, no_grad, detach, and the Tensor's construction rules."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from tinygrad_mlp import ShapeError, Tensor, detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad, ops
from tinygrad_mlp.autograd import toposort
from tinygrad_mlp.ops import Function

# ---------------------------------------------------------------- graph shapes


def test_diamond_graph():
    a = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = a + a
    c = b * b  # c = 4 a^2, dc/da = 8a
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, 8 * a.data)
    np.testing.assert_array_equal(b.grad, 2 * b.data)  # intermediate tensors hold their grad too
    np.testing.assert_array_equal(c.grad, np.ones(3))


def test_backward_twice_gives_exactly_twice_on_leaves():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)))
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    loss = ((x @ w + b).sigmoid() ** 2).sum()
    loss.backward()
    w1, b1 = w.grad.copy(), b.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2 * w1)
    np.testing.assert_array_equal(b.grad, 2 * b1)


def test_each_node_visited_once_and_in_topological_order():
    a = Tensor(2.0, requires_grad=True)
    b = a * a
    c = b + a
    d = c * b
    order = toposort(d)
    assert [id(t) for t in order] == [id(a), id(b), id(c), id(d)]
    d.backward()  # d = (a^2 + a) a^2 = a^4 + a^3, dd/da = 4a^3 + 3a^2
    assert a.grad == 4 * 8 + 3 * 4


def test_constants_get_no_grad_and_no_place_in_the_sort():
    a = Tensor([1.0, 2.0], requires_grad=True)
    k = Tensor([3.0, 4.0])
    y = (a * k).sum()
    assert len(toposort(y)) == 3  # a, a*k, sum: k is not visited
    y.backward()
    assert k.grad is None
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])


def test_chain_of_100000_ops_backprops_without_recursion():
    a = Tensor(1.0, requires_grad=True, dtype=np.float64)
    x = a
    for _ in range(100_000):
        x = x * 1.0001 + 0.0
    x.backward()
    np.testing.assert_allclose(a.grad, 1.0001**100_000, rtol=1e-9)
    del x  # freeing a 200,000-node chain must not overflow the C stack either
    assert a.grad is not None


def test_graph_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        w = Tensor(np.ones((3, 2)), requires_grad=True)
        x = Tensor(np.ones((4, 3)))
        h = (x @ w).sigmoid()
        loss = (h * h).mean()
        loss.backward()
        refs = [weakref.ref(h), weakref.ref(loss), weakref.ref(h._ctx), weakref.ref(loss._ctx)]
        del h, loss
        assert all(r() is None for r in refs), "the graph survived: a reference cycle?"
        assert w.grad is not None  # the leaf keeps its gradient
    finally:
        gc.enable()


def test_leaf_gradients_are_arrays_of_their_own():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    c = a + b  # add passes the same gradient array to both sides
    g = np.array([1.0, 1.0])
    c.backward(g)
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [1, 1])
    np.testing.assert_array_equal(c.grad, [1, 1])
    np.testing.assert_array_equal(g, [1, 1])
    s = Tensor(np.ones((2, 3)), requires_grad=True)
    s.sum().backward()  # sum's backward is a broadcast view: the leaf gets a writable copy
    s.grad[0, 0] = 5.0
    assert s.grad.flags.writeable and s.grad.sum() == 10.0


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_full_sum_hands_every_element_the_output_gradient(shape, dtype):
    x = Tensor(np.arange(np.prod(shape), dtype=dtype).reshape(shape), requires_grad=True)
    y = x * 2.0
    s = y.sum()
    s.backward(np.array(3.0))
    for t in (y, x):
        assert t.grad.shape == shape and t.grad.dtype == dtype and type(t.grad) is np.ndarray
    np.testing.assert_array_equal(y.grad, np.full(shape, 3.0))
    np.testing.assert_array_equal(x.grad, np.full(shape, 6.0))
    if shape:  # the intermediate's gradient is one value seen everywhere: not writable
        assert not y.grad.flags.writeable
        with pytest.raises(ValueError):
            y.grad[...] = 0


def test_a_0d_leaf_used_twice_gets_an_array_gradient():
    a = Tensor(3.0, requires_grad=True)
    (a * a).backward()  # two 0-d contributions: numpy adds them into a scalar
    assert type(a.grad) is np.ndarray and a.grad.shape == () and a.grad == 6.0
    b = Tensor(2.0, requires_grad=True, dtype=np.float64)
    (b * b * b).backward()
    assert type(b.grad) is np.ndarray and b.grad.dtype == np.float64 and b.grad == 12.0


def test_a_leaf_never_shares_its_gradient_with_a_non_leaf_given_the_same_array():
    class Both(ops.Function):  # hands one new array to both inputs
        name = "both"

        def forward(self, a, b):
            return a + b

        def vjp(self, g, out, a, b):
            d = g * 1.0
            return d, d

    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.ones(3), requires_grad=True)
    h = w * 3.0
    Both.apply(x, h).sum().backward()
    assert not np.shares_memory(x.grad, h.grad)
    x.grad *= 0
    np.testing.assert_array_equal(h.grad, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(w.grad, [3.0, 3.0, 3.0])


def test_tensor_subclasses_hash_by_identity_so_backward_keeps_them_apart():
    class Named(Tensor):  # defining __eq__ alone would make a class unhashable
        __slots__ = ()

        def __eq__(self, other):
            return self is other

    class ByValue(Tensor):  # equal values must not merge two tensors in backward
        __slots__ = ()

        def __hash__(self):
            return hash(self.data.tobytes())

    x = Named([1.0, 2.0], requires_grad=True)
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    a, b = ByValue(1.0, requires_grad=True), ByValue(1.0, requires_grad=True)
    ga, gb = grad(a * 2.0 + b * 3.0, [a, b])
    assert (float(ga.data), float(gb.data)) == (2.0, 3.0)


def test_backward_with_explicit_gradient():
    a = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (a * a).backward(np.array([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_array_equal(a.grad, [[2, 0], [3, 16]])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make,pattern",
    [
        (
            lambda: Tensor(np.ones((2, 3))) + Tensor(np.ones((4,))),
            r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast",
        ),
        (lambda: Tensor(np.ones((2, 3))) * Tensor(np.ones((3, 2))), r"mul: shapes \(2, 3\) and \(3, 2\)"),
        (
            lambda: Tensor(np.ones((125, 784))) @ Tensor(np.ones((128, 64))),
            r"matmul: shapes \(125, 784\) and \(128, 64\) are not aligned: 784 .* != 128",
        ),
        (lambda: Tensor(np.ones(3)) @ Tensor(np.ones(4)), r"matmul: shapes \(3,\) and \(4,\)"),
        (lambda: Tensor(2.0) @ Tensor(np.ones(4)), r"matmul: .*at least one dimension.*\(\) and \(4,\)"),
        (
            lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 2))),
            r"matmul: batch dimensions of \(2, 3, 4\)",
        ),
        (
            lambda: Tensor(np.ones((2, 3))).reshape(4, 2),
            r"reshape: cannot reshape .* \(2, 3\) \(6 elements\) into \(4, 2\)",
        ),
        (lambda: Tensor(np.ones((2, 3))).sum(axis=2), r"sum: axis 2 is out of range .* 2 dimensions"),
        (
            lambda: Tensor(np.ones((2, 3, 4))).transpose(0, 1),
            r"transpose: axes \(0, 1\) .*\(2, 3, 4\).*swapaxes",
        ),
        (lambda: Tensor(np.ones((2, 3)))[5], r"index: cannot index a tensor of shape \(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3)))[np.array([0.5])], r"index: .*integers"),
    ],
)
def test_shape_errors_name_the_op_and_the_shapes(make, pattern):
    with pytest.raises(ShapeError, match=pattern):
        make()


def test_shape_errors_are_value_errors():
    assert issubclass(ShapeError, ValueError)


def test_backward_on_non_scalar_without_grad_says_so():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element tensor.*shape \(2, 3\)"):
        (a * 2.0).backward()


def test_backward_on_a_tensor_without_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2.0).backward()


def test_backward_with_a_gradient_of_the_wrong_shape_names_both():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad has shape \(3, 2\) but the tensor has shape \(2, 3\)"):
        (a * 2.0).backward(np.ones((3, 2)))


def test_a_custom_op_with_a_wrongly_shaped_gradient_is_named():
    class Bad(Function):
        name = "bad"

        def forward(self, a):
            return a * 2

        def backward(self, g):
            return (g.sum(),)

    with pytest.raises(
        RuntimeError,
        match=r"backward of 'bad' returned a gradient of shape \(\) for an input of shape \(3,\)",
    ):
        Bad.apply(Tensor([1.0, 2.0, 3.0], requires_grad=True)).sum().backward()


def test_bad_data_and_dtype_are_refused():
    with pytest.raises(TypeError, match="floating point"):
        Tensor([1, 2], dtype=np.int32)
    with pytest.raises(TypeError, match="dtype <U"):
        Tensor(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="item: .*shape \\(2,\\)"):
        Tensor([1.0, 2.0]).item()


# ---------------------------------------------------------------- anomaly mode


def test_anomaly_mode_names_the_op_whose_backward_made_nan():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # d sqrt(x)/dx = 1 / (2 sqrt x) is inf at 0
        z = (y * 3.0).sum()
        with (
            np.errstate(divide="ignore"),
            pytest.raises(
                FloatingPointError, match=r"backward of 'sqrt' produced Inf .*test_autograd.py:\d+"
            ),
        ):
            z.backward()


def test_anomaly_mode_is_off_by_default():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad[0])


# ---------------------------------------------------------------- no_grad and detach


def test_no_grad_records_nothing():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = w * 2.0
        with enable_grad():
            z = w * 2.0
    assert is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    assert z.requires_grad and z.op == "mul"


def test_no_grad_as_decorator_and_restored_after_errors():
    @no_grad()
    def evaluate(t):
        return t * 3.0

    w = Tensor([1.0], requires_grad=True)
    assert not evaluate(w).requires_grad

    @no_grad()
    def depth(n):  # a decorated function that recurses restores the mode on the way out
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3 and is_grad_enabled()
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError
    assert is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_data():
    a = Tensor([1.0, 2.0], requires_grad=True)
    d = (a * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    (d * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])  # d is a constant here


# ---------------------------------------------------------------- construction and dtypes


@pytest.mark.parametrize(
    "data,dtype,want",
    [
        (3.0, None, np.float32),
        (3, None, np.float32),
        (True, None, np.float32),
        ([[1, 2], [3, 4]], None, np.float32),
        ([1.5, 2.5], None, np.float32),
        (np.arange(3), None, np.float32),
        (np.ones(2, dtype=np.float16), None, np.float16),
        (np.ones(2, dtype=np.float64), None, np.float64),
        (np.ones(2, dtype=np.float32), None, np.float32),
        ([1.0, 2.0], np.float64, np.float64),
        (np.ones(2), np.float32, np.float32),
    ],
)
def test_construction_dtype_rules(data, dtype, want):
    t = Tensor(data, dtype=dtype)
    assert t.dtype == want and isinstance(t.data, np.ndarray)


def test_scalar_tensor_and_attributes():
    t = Tensor(3.0)
    assert t.shape == () and t.ndim == 0 and t.size == 1 and t.item() == 3.0
    m = Tensor(np.arange(6.0).reshape(2, 3), name="m")
    assert m.T.shape == (3, 2) and len(m) == 2 and m.numpy() is m.data
    assert Tensor(m).dtype == np.float64 and Tensor(m).data is m.data
    with pytest.raises(ValueError, match=r"item: only a one-element tensor .* shape \(2, 3\)"):
        m.item()


def test_numbers_never_promote_float32_but_float64_tensors_do():
    a = Tensor([1.0, 2.0])
    for r in (a + 1, 2.5 * a, a / 3.0, a**2, 1 - a, a + np.float64(2.0)):
        assert r.dtype == np.float32
    assert (a + Tensor([1.0, 2.0], dtype=np.float64)).dtype == np.float64


def test_numpy_array_on_the_left():
    a = Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * a
    assert isinstance(y, Tensor) and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])


def test_factories():
    z = Tensor.zeros(2, 3, requires_grad=True)
    assert z.shape == (2, 3) and z.dtype == np.float32 and z.requires_grad and not z.data.any()
    o = Tensor.ones((4,), dtype=np.float64)
    assert o.shape == (4,) and o.dtype == np.float64 and o.data.sum() == 4
    r1 = Tensor.randn(1000, rng=np.random.default_rng(0))
    r2 = Tensor.randn(1000, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(r1.data, r2.data)
    assert abs(r1.data.mean()) < 0.1 and abs(r1.data.std() - 1) < 0.1
    np.random.seed(3)
    a = Tensor.randn(5)
    np.random.seed(3)
    np.testing.assert_array_equal(a.data, Tensor.randn(5).data)
    for make in (Tensor.zeros, Tensor.ones, Tensor.randn):  # f(2, 3) and f((2, 3)), as numpy and torch
        assert make(2, 3).shape == make((2, 3)).shape == make([2, 3]).shape == (2, 3), make


def test_repr_shows_the_op():
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    assert repr(a) == "Tensor([1., 2.], requires_grad=True, name='a')"
    assert repr(a * 2.0) == "Tensor([2., 4.], op=mul)"
    assert "dtype=float64" in repr(Tensor(np.ones(1)))
