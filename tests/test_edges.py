"""Exact at the edges (issue 15): each numerically delicate rule at the edge values where
a naive formula fails, against a reference computed here in high precision (mpmath), and
the behaviours mutation testing found untested, each decided and pinned down.

PyTorch is a second oracle in the tests marked so (skipped where it is not installed).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from tinygrad_mlp import ShapeError, Tensor, nn, optim
from tinygrad_mlp.gradcheck import gradcheck

mpmath.mp.dps = 60  # far more digits than float64 holds


def ulps(got, want, dtype) -> np.ndarray:
    """|got - want| in units of the spacing of ``dtype`` at ``want`` (subnormals included)."""
    want = np.asarray(want, dtype=np.float64)
    spacing = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
    return np.abs(np.asarray(got, dtype=np.float64) - want) / spacing


def mp_sigmoid(x: float) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-mpmath.mpf(x)))


# ---------------------------------------------------------------- 1. sigmoid for negative inputs

SIGMOID_EDGES = [
    (np.float32, [-10.0, -17.0, -20.0, -40.0, -88.0, -100.0, 0.0, 10.0, 20.0]),
    (np.float64, [-40.0, -700.0, -745.0, -30.0, 0.0, 30.0, 40.0]),
]


@pytest.mark.parametrize("dtype,xs", SIGMOID_EDGES, ids=["float32", "float64"])
def test_sigmoid_is_exact_to_a_few_ulps_far_into_the_negative_tail(dtype, xs):
    x = Tensor(np.array(xs, dtype=dtype), requires_grad=True)
    s = x.sigmoid()
    s.backward(np.ones(len(xs), dtype=dtype))
    want = [float(mp_sigmoid(v)) for v in xs]
    want_grad = [float(mp_sigmoid(v) * (1 - mp_sigmoid(v))) for v in xs]
    assert s.dtype == dtype and x.grad.dtype == dtype
    assert np.all(s.data > 0), f"sigmoid underflowed to 0 at {np.array(xs)[s.data == 0]}"
    # a few units in the last place: a relative error of ~1e-7 (float32) or ~1e-16 (float64)
    assert ulps(s.data, want, dtype).max() <= 4, (s.data, want)
    # the gradient s (1 - s), exact on both sides (for x > 0, 1 - s cancels in PyTorch's rule;
    # ours takes e * s**2 there, e = exp(-x)); a batch holding -100 takes the careful branch
    assert ulps(x.grad, np.array(want_grad), dtype).max() <= 4, (x.grad, want_grad)
    assert np.all(x.grad >= 0) and np.all(np.isfinite(x.grad))


@pytest.mark.parametrize("dtype,xs", SIGMOID_EDGES, ids=["float32", "float64"])
def test_sigmoid_of_each_value_alone_and_in_a_mixed_batch_agree(dtype, xs):
    # A batch of safe values only takes the fast path, a batch holding a value where exp(-x)
    # overflows the two-branch form; a 0-d input takes the path a batch of it would.
    with np.errstate(over="ignore"):  # safe: exp(-x) does not overflow (the rule's trap)
        safe = np.isfinite(np.exp(-np.array(xs, dtype=dtype)))
    assert not safe.all()  # the whole batch takes the two-branch form
    alone = np.array([Tensor(np.array(v, dtype=dtype)).sigmoid().data for v in xs])
    assert all(type(Tensor(np.array(v, dtype=dtype)).sigmoid().data) is np.ndarray for v in xs)
    batch = Tensor(np.array(xs, dtype=dtype)).sigmoid().data
    fast = Tensor(np.array(xs, dtype=dtype)[safe]).sigmoid().data
    np.testing.assert_array_equal(alone[safe], fast)
    np.testing.assert_array_equal(alone[~safe], batch[~safe])
    assert ulps(fast, batch[safe], dtype).max() <= 2  # 1/(1+exp(-x)) vs exp(x)/(1+exp(x)) below 0
    for v, got in zip(np.array(xs)[safe], fast):
        assert ulps(np.array([got]), [float(mp_sigmoid(v))], dtype).max() <= 4, v


@pytest.mark.parametrize("dtype,x0", [(np.float32, -20.0), (np.float64, -40.0)])
def test_log_of_sigmoid_stays_finite_with_gradient_one(dtype, x0):
    # The original network's outputs are sigmoids and its printed loss takes their log.
    x = Tensor(np.array([x0], dtype=dtype), requires_grad=True)
    y = x.sigmoid().log()
    y.sum().backward()
    want = float(mpmath.log(mp_sigmoid(x0)))  # = x0 - log(1 + e^x0), about x0
    want_grad = float(1 - mp_sigmoid(x0))  # d log(sigma(x))/dx = 1 - sigma(x), about 1
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(y.data, [want], rtol=rtol)
    np.testing.assert_allclose(x.grad, [want_grad], rtol=rtol)


def test_sigmoid_agrees_with_pytorch_in_the_tail():
    torch = pytest.importorskip("torch")
    for dtype, tdtype, xs in [
        (np.float32, torch.float32, [-10.0, -17.0, -20.0, -40.0, -88.0]),
        (np.float64, torch.float64, [-40.0, -700.0, -745.0]),
    ]:
        got = Tensor(np.array(xs, dtype=dtype)).sigmoid().data
        want = torch.sigmoid(torch.tensor(xs, dtype=tdtype)).numpy()
        assert ulps(got, want, dtype).max() <= 4, (got, want)


# ---------------------------------------------------------------- 2. x ** 0 where x is 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero", [0, 0.0])
def test_power_zero_has_gradient_zero_at_zero(dtype, zero):
    x = Tensor(np.array([0.0, 1.5, -2.0], dtype=dtype), requires_grad=True)
    y = x**zero
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])  # 0 ** 0 is 1, as in numpy and PyTorch
    y.backward(np.ones(3, dtype=dtype))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # d(x**0)/dx = 0 everywhere


def test_power_zero_after_log_softmax_over_a_length_one_axis():
    # log_softmax over an axis of length 1 is exactly 0: how random graphs met defect 2.
    x = Tensor(np.array([[0.3], [-1.2]]), requires_grad=True)
    y = x.log_softmax(axis=1) ** 0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0], [0.0]])


def test_power_gradient_for_the_exponent_is_zero_where_the_base_is_zero():
    # d(a**b)/db = a**b log(a): PyTorch takes it as 0 where a == 0 (and b > 0, where a**b is 0)
    a = Tensor([0.0, 2.0, 0.0])
    b = Tensor([2.0, 3.0, 0.5], requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(b.grad, [0.0, 8.0 * np.log(2.0), 0.0], rtol=1e-6)
    assert np.all(np.isfinite(b.grad))


# ---------------------------------------------------------------- 3. division, denominator

DIVISION_EDGES = [
    (np.float32, 1e30, 3e19),  # b*b overflows float32
    (np.float32, 1e-30, 1e-21),  # b*b is subnormal in float32
    (np.float64, 1e300, 2e154),  # b*b overflows float64
    (np.float64, 1e-300, 1e-160),  # b*b underflows float64
    (np.float32, 3.0, 7.0),  # an ordinary pair
]


@pytest.mark.parametrize("dtype,a0,b0", DIVISION_EDGES)
def test_division_gradients_at_extreme_magnitudes(dtype, a0, b0):
    a = Tensor(np.array([a0], dtype=dtype), requires_grad=True)
    b = Tensor(np.array([b0], dtype=dtype), requires_grad=True)
    (a / b).sum().backward()
    ma, mb = mpmath.mpf(float(a.data[0])), mpmath.mpf(float(b.data[0]))  # the values actually stored
    want_a = float(1 / mb)  # d(a/b)/da = 1/b
    want_b = float(-ma / mb**2)  # d(a/b)/db = -a/b^2
    assert want_b != 0 and np.isfinite(want_b)
    assert ulps(a.grad, [want_a], dtype).max() <= 4, (a.grad, want_a)
    assert ulps(b.grad, [want_b], dtype).max() <= 4, (b.grad, want_b)


# ---------------------------------------------------------------- 4. relu selects, never multiplies


@pytest.mark.parametrize(
    "name,fn",
    [("sqrt(relu(x))", lambda x: x.relu().sqrt()), ("relu(x)**0.5", lambda x: x.relu() ** 0.5)],
)
def test_relu_gradient_is_zero_where_it_is_flat_even_under_an_infinite_upstream(name, fn):
    x = Tensor([-1.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):  # the upstream gradient at relu's output 0 is inf
        y = fn(x)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])  # flat for x < 0; 1/(2 sqrt 4) at 4


def test_relu_gradient_at_exactly_zero_is_zero():
    x = Tensor([-1.0, 0.0, 2.0, -0.0], requires_grad=True)
    x.relu().backward(np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0, 0.0])  # PyTorch: 0 at 0


def test_relu_edges_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    xs = [-1.0, 0.0, 4.0]
    x = Tensor(xs, dtype=np.float64, requires_grad=True)
    with np.errstate(divide="ignore"):
        x.relu().sqrt().sum().backward()
    tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    tx.relu().sqrt().sum().backward()
    # at exactly 0 both see 0 * inf from sqrt; beside that they must agree exactly
    np.testing.assert_array_equal(x.grad[[0, 2]], tx.grad.numpy()[[0, 2]])


# ---------------------------------------------------------------- 6. empty and 0-d tensors


def test_max_over_a_nonempty_axis_of_an_empty_tensor():
    x = Tensor.zeros(0, 3, requires_grad=True, dtype=np.float64)
    m = x.max(axis=1)
    assert m.shape == (0,)
    m.backward(np.zeros(0))
    assert x.grad.shape == (0, 3) and x.grad.dtype == np.float64
    assert x.max(axis=1, keepdims=True).shape == (0, 1)


@pytest.mark.parametrize("call", [lambda t: t.max(axis=0), lambda t: t.max(), lambda t: t.max(axis=(0, 1))])
def test_max_over_an_empty_axis_is_an_error_naming_the_shape(call):
    # PyTorch: "amax(): Expected reduction dim 0 to have non-zero size"; there is no maximum
    with pytest.raises(ShapeError, match=r"max.*\(0, 3\)"):
        call(Tensor.zeros(0, 3))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_on_an_empty_tensor(op, axis):
    x = Tensor.zeros(0, 3, requires_grad=True, dtype=np.float64)
    y = getattr(x, op)(axis=axis)
    assert y.shape == (0, 3)
    y.backward(np.zeros((0, 3)))
    assert x.grad.shape == (0, 3)


def test_sum_and_broadcast_over_an_empty_axis():
    x = Tensor.zeros(0, 3, requires_grad=True, dtype=np.float64)
    s = x.sum(axis=0)
    np.testing.assert_array_equal(s.data, [0.0, 0.0, 0.0])
    s.backward(np.ones(3))
    assert x.grad.shape == (0, 3)
    # unbroadcast of a length-1 axis against a length-0 axis: the gradient sums nothing, 0
    row = Tensor.ones(1, 3, requires_grad=True, dtype=np.float64)
    y = row + x
    assert y.shape == (0, 3)
    y.sum().backward()
    assert row.grad.shape == (1, 3)
    np.testing.assert_array_equal(row.grad, np.zeros((1, 3)))


# PyTorch treats dim 0 and dim -1 of a 0-d tensor as valid: the reduction is over nothing.
ZERO_D_CASES = [
    ("softmax(0)", lambda t: t.softmax(axis=0), 1.0, 0.0),
    ("softmax(-1)", lambda t: t.softmax(), 1.0, 0.0),
    ("log_softmax(0)", lambda t: t.log_softmax(axis=0), 0.0, 0.0),
    ("log_softmax(-1)", lambda t: t.log_softmax(), 0.0, 0.0),
    ("sum(0)", lambda t: t.sum(axis=0), 2.5, 1.0),
    ("sum(-1)", lambda t: t.sum(axis=-1), 2.5, 1.0),
    ("sum(0, keepdims)", lambda t: t.sum(axis=0, keepdims=True), 2.5, 1.0),
    ("mean(0)", lambda t: t.mean(axis=0), 2.5, 1.0),
    ("max(-1)", lambda t: t.max(axis=-1), 2.5, 1.0),
]


@pytest.mark.parametrize("name,fn,value,grad", ZERO_D_CASES, ids=[c[0] for c in ZERO_D_CASES])
def test_reductions_over_axis_0_or_minus_1_of_a_0d_tensor(name, fn, value, grad):
    x = Tensor(2.5, requires_grad=True, dtype=np.float64)
    y = fn(x)
    assert y.shape == ()
    np.testing.assert_allclose(y.data, value, rtol=1e-15)
    y.backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == ()
    np.testing.assert_allclose(x.grad, grad, atol=1e-15)


@pytest.mark.parametrize(
    "call", [lambda t: t.sum(axis=1), lambda t: t.softmax(axis=-2), lambda t: t.max(axis=1)]
)
def test_axes_beyond_0_and_minus_1_of_a_0d_tensor_are_errors(call):
    with pytest.raises(ShapeError, match="axis"):
        call(Tensor(2.5))


@pytest.mark.parametrize("name,fn,value,grad", ZERO_D_CASES, ids=[c[0] for c in ZERO_D_CASES])
def test_0d_reductions_agree_with_pytorch(name, fn, value, grad):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    torch_fn = {
        "softmax(0)": lambda t: t.softmax(0),
        "softmax(-1)": lambda t: t.softmax(-1),
        "log_softmax(0)": lambda t: t.log_softmax(0),
        "log_softmax(-1)": lambda t: t.log_softmax(-1),
        "sum(0)": lambda t: t.sum(0),
        "sum(-1)": lambda t: t.sum(-1),
        "sum(0, keepdims)": lambda t: t.sum(0, keepdim=True),
        "mean(0)": lambda t: t.mean(0),
        "max(-1)": lambda t: t.amax(-1),
    }[name]
    ty = torch_fn(tx)
    ty.backward()
    # the table's expected values are PyTorch's
    assert (ty.item(), tx.grad.item()) == (value, grad)


def test_empty_tensors_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    x = Tensor.zeros(0, 3, requires_grad=True, dtype=np.float64)
    tx = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    assert x.max(axis=1).shape == tuple(tx.amax(dim=1).shape)
    assert x.softmax(axis=0).shape == tuple(tx.softmax(0).shape)
    assert x.log_softmax(axis=0).shape == tuple(tx.log_softmax(0).shape)
    with pytest.raises(IndexError):
        tx.amax(dim=0)


# ---------------------------------------------------------------- 0-d leaves: .grad is an ndarray


@pytest.mark.parametrize(
    "fn", [lambda x: x * x, lambda x: x + x, lambda x: x * 2.0 - x / 3.0], ids=["x*x", "x+x", "2x-x/3"]
)
def test_a_0d_leaf_gets_an_ndarray_gradient_even_when_two_paths_add_up(fn):
    x = Tensor(3.0, requires_grad=True, dtype=np.float64)
    y = fn(x)
    y.backward()
    assert type(x.grad) is np.ndarray, type(x.grad)
    assert x.grad.shape == () and x.grad.dtype == np.float64
    assert gradcheck(fn, [Tensor(3.0, requires_grad=True)])


# ---------------------------------------------------------------- transpose's axes


@pytest.mark.parametrize(
    "shape,axes",
    [((2, 3), (2, 1)), ((2, 3), (0, 2)), ((2, 3), (-3, 0)), ((3,), (1,)), ((), (0,)), ((), (-1,))],
)
def test_transpose_axes_out_of_range_are_errors(shape, axes):
    with pytest.raises(ShapeError, match=r"transpose: axes"):
        Tensor.zeros(*shape).transpose(*axes)


def test_transpose_accepts_negative_axes_as_numpy_does():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = a.transpose(-1)  # the one axis of a 1-D tensor
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 3.0])
    y.backward(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(a.grad, [1.0, 2.0, 3.0])
    b = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(b.transpose(-1, -2).data, b.data.T)
    np.testing.assert_array_equal(Tensor(2.0).transpose().data, 2.0)  # 0-d, no axes: itself


# ---------------------------------------------------------------- indexing with a Tensor


def test_indexing_with_an_integer_valued_tensor_accumulates():
    a = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = a[Tensor([2.0, 0.0, 2.0])]
    np.testing.assert_array_equal(y.data, [30.0, 10.0, 30.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 2.0])


def test_indexing_with_a_fractional_tensor_is_refused():
    with pytest.raises(ValueError, match="index: .*integers"):
        Tensor([10.0, 20.0, 30.0])[Tensor([0.5, 1.0])]


# ---------------------------------------------------------------- construction


def test_a_ragged_list_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="Tensor: cannot make a tensor from list"):
        Tensor([[1, 2], [3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_same_dtype_shares_memory_as_documented(dtype):
    x = np.arange(4.0, dtype=dtype)
    for t in (Tensor(x), Tensor(x, dtype=x.dtype), Tensor(x, dtype=dtype)):
        assert np.shares_memory(t.data, x)
    other = np.float64 if dtype != np.float64 else np.float32
    assert not np.shares_memory(Tensor(x, dtype=other).data, x)  # a different dtype is a copy


# ---------------------------------------------------------------- losses


def test_sse_loss_refuses_a_target_that_only_broadcasts():
    # 0.5 * sum((p - t)^2) over a broadcast target would silently count each row of t
    # several times: refused, naming both shapes (use mse_loss for numpy broadcasting).
    pred = Tensor(np.zeros((4, 10)), requires_grad=True)
    with pytest.raises(ShapeError, match=r"\(4, 10\).*\(10,\)"):
        nn.sse_loss(pred, np.ones(10))
    with pytest.raises(ShapeError, match=r"\(10,\).*\(4, 10\)"):
        nn.sse_loss(Tensor(np.zeros(10)), np.ones((4, 10)))


def test_cross_entropy_takes_a_list_of_class_indices():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4))
    a, b = Tensor(logits, requires_grad=True), Tensor(logits, requires_grad=True)
    la, lb = nn.cross_entropy(a, [2, 0, 3]), nn.cross_entropy(b, np.array([2, 0, 3]))
    np.testing.assert_array_equal(la.data, lb.data)
    la.backward()
    lb.backward()
    np.testing.assert_array_equal(a.grad, b.grad)
    s = logits - logits.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(la.data, -log_p[[0, 1, 2], [2, 0, 3]].mean(), rtol=1e-12)


@pytest.mark.parametrize(
    "target",
    [np.array([2.0, 0.0, 3.0]), [2.0, 0.0, 3.0], np.array([2.0, 0.0, 3.0], dtype=np.float32)],
    ids=["float64 array", "list of floats", "float32 array"],
)
def test_cross_entropy_takes_whole_number_float_class_indices(target):
    # a Tensor holds floats, so labels wrapped in one arrive as floats: whole numbers are
    # class indices (PyTorch refuses them only because its tensors can be Long)
    logits = Tensor(np.arange(12.0).reshape(3, 4) / 7, requires_grad=True)
    got = nn.cross_entropy(logits, target)
    want = nn.cross_entropy(Tensor(logits.data), np.array([2, 0, 3]))
    assert got.item() == want.item()
    assert nn.cross_entropy(logits, Tensor(np.array([2.0, 0.0, 3.0]))).item() == want.item()


def test_cross_entropy_refuses_fractional_class_indices():
    with pytest.raises(ValueError, match=r"cross_entropy: class indices .* must be whole numbers.*2.5"):
        nn.cross_entropy(Tensor(np.zeros((3, 4))), np.array([2.5, 0.0, 3.0]))


def test_cross_entropy_float_indices_refused_by_pytorch_too():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="Long"):
        torch.nn.functional.cross_entropy(torch.zeros(3, 4), torch.tensor([2.0, 0.0, 3.0]))


# ---------------------------------------------------------------- nn and optim edges


def test_mlp_with_a_width_one_layer_trains():
    rng = np.random.default_rng(0)
    model = nn.MLP(
        (3, 1, 2), activation="tanh", output_activation=None, init="xavier", dtype=np.float64, rng=rng
    )
    assert [p.shape for p in model.parameters()] == [(3, 1), (1,), (1, 2), (2,)]
    x = rng.standard_normal((5, 3))
    labels = np.array([0, 1, 1, 0, 1])
    start = [p.data.copy() for p in model.parameters()]

    def loss_of(w0, b0, w1, b1):  # the model's own forward, on the checked tensors
        (model.layers[0].W, model.layers[0].b), (model.layers[1].W, model.layers[1].b) = (w0, b0), (w1, b1)
        return nn.cross_entropy(model(Tensor(x)), labels)

    assert gradcheck(loss_of, [Tensor(a, requires_grad=True) for a in start])
    with pytest.raises(ValueError, match="MLP: sizes"):
        nn.MLP((3, 0, 2))


def test_adam_refuses_beta2_of_one_and_accepts_eps_zero():
    p = Tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    for betas in [(0.9, 1.0), (0.9, 1.5), (0.9, -0.1), (-0.1, 0.9)]:
        with pytest.raises(ValueError, match=r"Adam: invalid betas"):
            optim.Adam([p], betas=betas)
    with pytest.raises(ValueError, match=r"Adam: invalid eps"):
        optim.Adam([p], eps=-1e-8)
    opt = optim.Adam([p], lr=0.1, eps=0.0)
    p.grad = np.array([0.5, -4.0])
    opt.step()
    # first step without eps: m_hat / sqrt(v_hat) = sign(g), so p moves by exactly lr
    np.testing.assert_allclose(p.data, [0.9, -1.9], rtol=1e-12)
    opt2 = optim.Adam([Tensor([1.0], requires_grad=True)], betas=(0.0, 0.0))  # 0 is allowed
    assert opt2.betas == (0.0, 0.0)


def test_sgd_momentum_state_round_trip_restores_only_the_buffers_it_has():
    rng = np.random.default_rng(0)
    p, q = (Tensor(rng.standard_normal(3), requires_grad=True, dtype=np.float64) for _ in range(2))
    opt = optim.SGD([p, q], lr=0.1, momentum=0.9)
    p.grad = rng.standard_normal(3)  # q has no gradient yet: no buffer to save
    opt.step()
    state = opt.state_dict()
    assert set(state) == {"momentum.0"}
    p2, q2 = Tensor(p.data.copy(), requires_grad=True), Tensor(q.data.copy(), requires_grad=True)
    opt2 = optim.SGD([p2, q2], lr=0.1, momentum=0.9)
    opt2.load_state_dict(state)
    assert opt2.buffers[1] is None
    for a, b in ((p, p2), (q, q2)):
        a.grad = b.grad = rng.standard_normal(3)
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(p2.data, p.data)
    np.testing.assert_array_equal(q2.data, q.data)


def test_a_module_without_forward_refuses_to_run():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError):
        NoForward()(Tensor([1.0]))


# ---------------------------------------------------------------- nn: behaviours mutation testing found untested


def test_linear_adds_its_bias_and_can_go_without_one():
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2, dtype=np.float64, rng=rng)
    layer.b.data[...] = [0.5, -1.0]
    x = rng.standard_normal((4, 3))
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.data, x @ layer.W.data + [0.5, -1.0], rtol=1e-12)
    out.sum().backward()
    np.testing.assert_array_equal(layer.b.grad, [4.0, 4.0])  # d sum(xW + b)/db = number of rows
    plain = nn.Linear(3, 2, bias=False, dtype=np.float64, rng=np.random.default_rng(0))
    assert plain.b is None and len(plain.parameters()) == 1
    np.testing.assert_allclose(plain(Tensor(x)).data, x @ plain.W.data, rtol=1e-12)


def test_layer_and_network_reprs_name_their_sizes():
    assert repr(nn.Linear(3, 2)) == "Linear(3, 2, bias=True)"
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(3, 2, bias=False)"
    assert repr(nn.MLP((4, 3, 2), "relu", None)) == (
        "MLP(4-3-2, activation='relu', output_activation=None, dtype=float32)"
    )


def test_mlp_sizes_are_stored_as_a_tuple_of_ints():
    model = nn.MLP(np.array([4, 3, 2]))
    assert model.sizes == (4, 3, 2) and all(type(s) is int for s in model.sizes)
    assert nn.MLP([4, 2]).sizes == (4, 2)


def test_activate_by_an_unknown_name_is_an_error_naming_it():
    with pytest.raises(ValueError, match="activation: unknown activation 'softplus'"):
        nn.activate(Tensor([1.0]), "softplus")


def test_one_hot_has_ten_classes_by_default():
    rows = nn.one_hot(np.array([0, 9, 3]))
    assert rows.shape == (3, 10) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows.argmax(axis=1), [0, 9, 3])
    np.testing.assert_array_equal(rows.sum(axis=1), [1, 1, 1])


def test_checkpoint_save_returns_the_path_and_a_foreign_npz_is_named(tmp_path):
    path = str(tmp_path / "model.npz")
    assert nn.save_checkpoint(path, nn.MLP((3, 2))) == path
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, W=np.zeros(3))
    with pytest.raises(ValueError, match=r"foreign\.npz: not a tinygrad_mlp checkpoint"):
        nn.load_checkpoint(str(foreign))


def test_the_optimizer_base_class_has_no_step_and_no_state():
    base = optim.Optimizer([Tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(NotImplementedError):
        base.step()
    assert base.state_dict() == {}


def test_adam_defaults_are_pytorchs():
    opt = optim.Adam([Tensor([1.0], requires_grad=True)])
    assert (opt.lr, opt.betas, opt.eps) == (1e-3, (0.9, 0.999), 1e-8)


@pytest.mark.parametrize(
    "make", [lambda p: optim.SGD(p, lr=0.0, momentum=0.9), lambda p: optim.Adam(p, lr=0.0)]
)
def test_a_learning_rate_of_zero_is_accepted_and_moves_nothing(make):
    # PyTorch accepts lr = 0 (it checks 0 <= lr); a step then leaves the parameters alone
    p = Tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    opt = make([p])
    p.grad = np.array([3.0, 4.0])
    opt.step()
    np.testing.assert_array_equal(p.data, [1.0, -2.0])
