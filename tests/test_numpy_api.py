"""numpy on Tensors (numpy functions record ops), assignment into a tensor, and ops of
one's own (Function.apply) that get a number, return None or too few gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mlp import Function, Tensor, func, grad, numpy_api
from tinygrad_mlp.gradcheck import gradcheck


def _t(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# (id, a function written for numpy arrays, input shapes): run on Tensors it must record
# ops whose gradient passes gradcheck, and give numpy's value.
NUMPY_CASES = [
    ("np.dot 2-D", lambda x, w: np.dot(x, w), [(3, 4), (4, 2)]),
    ("np.dot 1-D", lambda x, w: np.dot(x, w), [(4,), (4, 2)]),
    ("np.matmul", lambda x, w: np.matmul(x, w), [(2, 3, 4), (4, 2)]),
    ("x.dot", lambda x, w: x.dot(w), [(3, 4), (4, 2)]),
    ("np.sum axis", lambda x: np.sum(x, axis=0), [(3, 4)]),
    ("np.mean keepdims", lambda x: np.mean(x, axis=1, keepdims=True), [(3, 4)]),
    ("np.max", lambda x: np.max(x, axis=1), [(3, 4)]),
    ("np.maximum 0", lambda x: np.maximum(0, x), [(3, 4)]),
    ("np.maximum two", lambda x, y: np.maximum(x, y), [(3, 4), (4,)]),
    ("np.minimum", lambda x, y: np.minimum(x, y) + np.minimum(x, 0.2), [(3, 4), (4,)]),
    ("np.min x.min", lambda x: np.min(x, axis=0) + x.min(axis=1).sum(), [(3, 4)]),
    ("np.clip x.clip", lambda x: np.clip(x, -0.5, 0.45) + x.clip(max=0.0), [(3, 4)]),
    ("np.exp np.log", lambda x: np.log(1 + np.exp(x)), [(3, 4)]),
    ("np.sqrt", lambda x: np.sqrt(x * x + 1), [(3, 4)]),
    ("np.tanh", lambda x: np.tanh(x), [(3, 4)]),
    ("np.where", lambda x: np.where(x > 0, x, 0.1 * x), [(3, 4)]),
    ("np.where two tensors", lambda x, y: np.where(x > y, x * 2, y), [(3, 4), (3, 4)]),
    ("array + tensor", lambda x: np.ones((3, 4)) * 2 + x, [(3, 4)]),
    ("array - tensor", lambda x: np.arange(4.0) - x, [(3, 4)]),
    ("np.square np.abs", lambda x: np.square(x) + np.abs(x), [(3, 4)]),
    ("np.transpose reshape", lambda x: np.reshape(np.transpose(x), (2, 6)), [(3, 4)]),
    ("np.swapaxes", lambda x: np.swapaxes(x, 0, 1), [(3, 4)]),
    ("np.broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), [(3, 4)]),
    ("np.stack", lambda x, y: np.stack([x, y], axis=1), [(3, 4), (3, 4)]),
    ("copy and mask assignment", lambda x: _relu_with_mask(x), [(3, 4)]),
    ("assign a tensor into a slice", lambda x, y: _assign_slice(x, y), [(3, 4), (4,)]),
    ("x.T x.reshape x.sum", lambda x: x.T.reshape(12).sum(), [(3, 4)]),
    ("flatten astype", lambda x: x.flatten().astype(np.float64), [(3, 4)]),
]


def _relu_with_mask(x):
    mask = x <= 0  # a comparison gives a numpy bool array
    out = x.copy()
    out[mask] = 0
    return out


def _assign_slice(x, y):
    out = x * 1.0
    out[1] = y * 3
    return out


@pytest.mark.parametrize("name,fn,shapes", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_numpy_code_on_tensors_records_ops(name, fn, shapes):
    xs = [_t(*s, seed=i) for i, s in enumerate(shapes)]
    for x in xs:  # keep away from the kinks of relu, abs, maximum and where
        x.data[np.abs(x.data) < 0.05] = 0.3
    got = fn(*xs)
    assert isinstance(got, Tensor) and got.requires_grad
    want = fn(*[x.data.copy() for x in xs])
    np.testing.assert_allclose(got.data, want, rtol=1e-12)
    assert gradcheck(fn, xs)


def test_comparisons_give_numpy_bool_arrays_and_tensors_stay_hashable():
    x = Tensor([1.0, -2.0, 3.0])
    for result in (x > 0, x <= 0, x == 3.0, x != 3.0, np.greater(x, 0), np.zeros(3) < x):
        assert type(result) is np.ndarray and result.dtype == bool
    assert {x: 1}[x] == 1


def test_unsupported_numpy_functions_are_named_not_dropped():
    x = _t(3, 4)
    with pytest.raises(TypeError, match="numpy.median is not supported.*np.where"):
        np.median(x)
    assert "np.clip" in numpy_api.supported() and "np.median" not in numpy_api.supported()
    with pytest.raises(TypeError, match="numpy.spacing is not supported"):
        np.spacing(x)
    with pytest.raises(
        RuntimeError, match=r"numpy.add\(\.\.\., out=<numpy array>\): the result is part of a graph"
    ):
        np.add(x, 1, out=np.empty((3, 4)))
    # value-only functions and tensors without a graph just run on the arrays
    assert np.argmax(x) == np.argmax(x.data)
    assert np.allclose(x, x.data)
    np.testing.assert_allclose(np.spacing(Tensor([1.0])), np.spacing(np.float32([1.0])))


class _ForeignArray:
    """Another library's array type: numpy asks it after the Tensor declines."""

    def __array_function__(self, func, types, args, kwargs):
        return ("foreign", func.__name__)


@pytest.mark.parametrize("call", [np.concatenate, np.stack, lambda xs: np.dot(*xs)])
def test_a_function_of_another_array_type_is_left_to_that_type(call):
    assert call([_t(2), _ForeignArray()])[0] == "foreign"


def test_assignment_into_a_leaf_that_requires_grad_is_refused():
    x = _t(3)
    with pytest.raises(RuntimeError, match="cannot assign into a leaf tensor that requires grad"):
        x[0] = 1.0


def test_assignment_after_use_sends_the_gradient_to_the_values_read():
    # (tests/test_assignment_versions.py has the cases; an assignment never overwrites a saved value)
    x = _t(3)
    h = x * 2
    y = h * h  # uses h ...
    h[0] = 5.0  # ... which is then overwritten: y still depends on the old h
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 8 * x.data, rtol=1e-6)


def test_assignment_keeps_forward_mode_tangents():
    def f(x):
        out = x * 2
        out[0] = x[1] ** 2
        return out

    x = Tensor([1.0, 3.0], dtype=np.float64)
    _, t = func.jvp(f, (x,), (Tensor([1.0, 1.0]),))
    np.testing.assert_allclose(t.data, [6.0, 2.0])  # d(x1^2) = 2*3, d(2 x1) = 2


# ---------------------------------------------------------------- ops of your own


class Scale(Function):
    """a * k for a number k, first-round style (backward on arrays)."""

    name = "scale"

    def forward(self, a, k):
        self.k = k
        return a * k

    def backward(self, g):
        return (g * self.k, None)


def test_numbers_given_to_apply_become_constants():
    x = _t(3)
    y = Scale.apply(x, 2.0)
    assert y.dtype == x.dtype
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])


class NoneForAll(Function):
    name = "none_for_all"

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return (None, g)  # None counts as a zero gradient, as in PyTorch


class TooFew(Function):
    name = "too_few"

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        return (g,)


class BareArrayTwoInputs(Function):
    name = "bare_two"

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g


class BareArrayOneInput(Function):
    name = "bare_one"

    def forward(self, a):
        return a * 3

    def backward(self, g):
        return g * 3  # a bare array for a one-input op is accepted, as in PyTorch


def test_a_none_gradient_counts_as_zero():
    a, b = _t(3), _t(3, seed=1)
    NoneForAll.apply(a, b).sum().backward()
    assert a.grad is None and np.array_equal(b.grad, np.ones(3))
    (ga, gb) = grad(NoneForAll.apply(a, b).sum(), [a, b], allow_unused=True)
    assert ga is None and np.array_equal(gb.data, np.ones(3))


def test_too_few_or_bare_gradients_name_the_op():
    a, b = _t(3), _t(3, seed=1)
    with pytest.raises(RuntimeError, match="backward of 'too_few' returned 1 gradient\\(s\\) for 2 input"):
        TooFew.apply(a, b).sum().backward()
    with pytest.raises(RuntimeError, match="backward of 'bare_two' must return a tuple of 2 gradients"):
        BareArrayTwoInputs.apply(a, b).sum().backward()
    BareArrayOneInput.apply(a).sum().backward()
    np.testing.assert_allclose(a.grad, [3.0, 3.0, 3.0])


def test_grad_mode_is_per_thread():
    import threading

    from tinygrad_mlp import is_grad_enabled, no_grad

    seen = []
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        seen.append(is_grad_enabled())
        x = _t(2)
        seen.append((x * 2).requires_grad)
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with no_grad():
        inside.set()
        done.wait(5)
        assert not is_grad_enabled()
    thread.join(5)
    assert seen == [True, True]


class Float64Gradient(Function):
    """An op of one's own whose backward returns float64 for a float32 input."""

    name = "float64_gradient"

    def forward(self, a):
        return a * 2

    def backward(self, g):
        return (np.full(g.shape, 2.0, dtype=np.float64) * g,)


def test_a_gradient_of_another_dtype_is_cast_to_its_input_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)  # float32
    y = Float64Gradient.apply(x)
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 8 * x.data)
