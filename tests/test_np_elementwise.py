"""numpy's elementwise functions on Tensors: value, reverse and forward mode to order 2 against
float64 central differences (one shared checker, tests/numpy_check.py), float32 kept, the
numerics at the edges, and PyTorch as an oracle for first and second derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy_check import check_against_torch, check_float32, check_grads

from tinygrad_mlp import Tensor, func, nn, numpy_api


def _r(*shape, lo=-2.0, hi=2.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


A = _r(3, 4)  # generic inputs
B = _r(3, 4, seed=1)
POS = _r(3, 4, lo=0.2, hi=3.0, seed=2)  # the domain of log, cbrt's smooth part ...
UNIT = _r(3, 4, lo=-0.9, hi=0.9, seed=3)  # arcsin, arccos, arctanh
BIG = _r(3, 4, lo=1.1, hi=4.0, seed=4)  # arccosh
AWAY = np.array([[0.3, 1.7, -2.2, -0.6], [2.6, -1.3, 0.8, 3.4]])  # not near an integer or a half


def _sigmoid(x):
    return x.sigmoid() if isinstance(x, Tensor) else np.exp(-np.logaddexp(0.0, -x))


def _log_sigmoid(x):
    return x.log_sigmoid() if isinstance(x, Tensor) else -np.logaddexp(0.0, -x)


def _nn_log_sigmoid(x):
    return nn.log_sigmoid(x) if isinstance(x, Tensor) else -np.logaddexp(0.0, -x)


# (id, numpy code, inputs): check_grads (both modes, order 2) and check_float32 on each line
CASES = [
    ("sin", np.sin, [A]),
    ("cos", np.cos, [A]),
    ("tan", np.tan, [UNIT]),
    ("arcsin", np.arcsin, [UNIT]),
    ("arccos", np.arccos, [UNIT]),
    ("arctan", np.arctan, [A]),
    ("sinh", np.sinh, [A]),
    ("cosh", np.cosh, [A]),
    ("tanh", np.tanh, [A]),
    ("arcsinh", np.arcsinh, [A]),
    ("arccosh", np.arccosh, [BIG]),
    ("arctanh", np.arctanh, [UNIT]),
    ("log1p", np.log1p, [POS - 0.15]),
    ("expm1", np.expm1, [A]),
    ("log2", np.log2, [POS]),
    ("log10", np.log10, [POS]),
    ("exp2", np.exp2, [A]),
    ("cbrt", np.cbrt, [A]),
    ("reciprocal", np.reciprocal, [POS]),
    ("sinc", np.sinc, [A]),
    ("deg2rad", np.deg2rad, [A * 90]),
    ("radians", np.radians, [A * 90]),
    ("rad2deg", np.rad2deg, [A]),
    ("degrees", np.degrees, [A]),
    ("fabs", np.fabs, [AWAY]),
    ("absolute", np.absolute, [AWAY]),
    ("square", np.square, [A]),
    ("floor", lambda x: x * np.floor(x), [AWAY]),
    ("ceil", lambda x: x * np.ceil(x), [AWAY]),
    ("rint", lambda x: x * np.rint(x), [AWAY]),
    ("round", lambda x: x * np.round(x, 1), [AWAY + 0.01]),
    ("around", lambda x: x * np.around(x), [AWAY]),
    ("trunc", lambda x: x * np.trunc(x), [AWAY]),
    ("fix", lambda x: x * np.fix(x), [AWAY]),
    ("sign", lambda x: x * np.sign(x), [AWAY]),
    ("floor_divide", lambda x, y: x * np.floor_divide(x, y), [AWAY, AWAY[::-1] + 5]),
    ("x // 2", lambda x: x * (x // 2), [AWAY]),
    ("nan_to_num", np.nan_to_num, [A]),
    ("logaddexp", np.logaddexp, [A, B]),
    ("logaddexp2", np.logaddexp2, [A, B]),
    ("logaddexp broadcast", np.logaddexp, [A, B[0]]),
    ("hypot", np.hypot, [A, B]),
    ("arctan2", np.arctan2, [A, B]),
    ("arctan2 broadcast", np.arctan2, [A, B[:, :1]]),
    ("remainder", np.remainder, [AWAY * 3 + 0.35, np.full((2, 4), 1.3)]),
    ("mod negative divisor", np.mod, [AWAY * 3 + 0.35, np.full((2, 4), -1.3)]),
    ("x % y", lambda x, y: x % y, [AWAY * 3 + 0.35, np.full((2, 4), 1.3)]),
    ("5.0 % x", lambda x: 5.0 % x, [AWAY + 4]),
    ("fmod", np.fmod, [AWAY * 3 + 0.35, np.full((2, 4), -1.3)]),
    ("fmax", np.fmax, [A, B]),
    ("fmin", np.fmin, [A, B]),
    ("maximum", np.maximum, [A, B]),
    ("minimum", np.minimum, [A, B]),
    ("power x**3.5", lambda x: np.power(x, 3.5), [POS]),
    ("power tensors", np.power, [POS, A]),
    ("power of a number", lambda y: np.power(2.0, y), [A]),
    ("sigmoid", _sigmoid, [A * 4]),
    ("log_sigmoid", _log_sigmoid, [A * 4]),
    ("nn.log_sigmoid", _nn_log_sigmoid, [A * 4]),
    # edges, kept inside the domain
    ("arcsin near 1", np.arcsin, [np.array([0.999, -0.999, 0.99])]),
    ("arctanh near 1", np.arctanh, [np.array([0.999, -0.999, 0.99])]),
    ("arccosh near 1", np.arccosh, [np.array([1.001, 1.01, 30.0])]),
    ("sinc at and near 0", np.sinc, [np.array([0.0, 1e-9, -1e-5, 0.3, 0.64, -2.5])]),
    ("arctan large", np.arctan, [np.array([1e3, -1e4])]),
    ("logaddexp large", np.logaddexp, [np.array([800.0, -800.0, 30.0]), np.array([800.5, -801.0, -30.0])]),
    ("logaddexp2 large", np.logaddexp2, [np.array([1100.0, -1100.0]), np.array([1100.5, -1101.0])]),
    ("hypot with a zero side", np.hypot, [np.array([0.0, 3.0, -2.0]), np.array([1.5, 0.0, 0.5])]),
    ("sigmoid large", _sigmoid, [np.array([-40.0, -20.0, 20.0, 40.0])]),
    ("log_sigmoid large", _log_sigmoid, [np.array([-800.0, -100.0, 20.0, 40.0])]),
    ("nan_to_num of inf and nan", lambda x: np.nan_to_num(x + [0.0, np.inf, np.nan, -np.inf]), [A[0]]),
    ("0-d", lambda x: np.sin(x) * np.arctan2(x, 2.0) + np.hypot(x, 1.0), [np.array(0.7)]),
    # a real Tensor's complex parts (HIPS autograd's tests call them on real arrays)
    ("real", lambda x: np.real(x) * x, [A]),
    ("real_if_close", np.real_if_close, [A]),
    ("imag (a constant 0)", lambda x: np.imag(x) + x, [A]),
    ("conj", lambda x: np.conj(x) * x, [A]),
    ("conjugate", np.conjugate, [A]),
    ("angle (0 or pi: constant)", lambda x: np.angle(x) * x, [A]),
    ("angle in degrees", lambda x: np.angle(x, deg=True) + x, [A]),
    ("select", lambda x, y: np.select([x > 0.5, y < 0], [x * y, np.sin(x)], 0.25), [A, B]),
    ("select broadcasting a default Tensor", lambda x, d: np.select([x > 0], [x], d), [A, B[0]]),
    ("power of a constant 0 (second derivative along y)", lambda y: np.power(0.0, y), [POS]),
]


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_derivatives_to_order_2_in_both_modes(name, fun, arrays):
    check_grads(fun, *arrays)


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, fun, arrays):
    check_float32(fun, *arrays)


def test_sinc_third_and_fourth_derivatives_at_zero():
    # sinc(x) = 1 - (pi x)^2/6 + (pi x)^4/120 - ...: f'' (0) = -pi^2/3, f''''(0) = pi^4/5, odd ones 0
    d = np.sinc
    for _ in range(4):
        d = func.grad(d)
    x = Tensor(0.0, dtype=np.float64)
    assert abs(func.grad(func.grad(np.sinc))(x).item() + math.pi**2 / 3) < 1e-12
    assert abs(func.grad(func.grad(func.grad(np.sinc)))(x).item()) < 1e-12
    assert abs(d(x).item() - math.pi**4 / 5) < 1e-9
    check_grads(np.sinc, np.array([0.0, 0.5, 2.5]), order=3)


# ---------------------------------------------------------------- the numerics fixed in this round


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x", [-100.0, -40.0, -17.5, -1.0, 0.0, 1.5, 3.0, 17.5, 40.0, 80.0])
def test_sigmoid_gradient_is_exact_on_both_sides(dtype, x):
    # sigma'(x) = e / (1 + e)^2, e = exp(-|x|): not 0 once sigma(x) rounds to 1 (float32 x > 17)
    e = math.exp(-abs(x))
    truth = e / (1 + e) ** 2
    t = Tensor(np.array([x, -x], dtype=dtype), requires_grad=True)
    t.sigmoid().sum().backward()
    tiny = np.finfo(dtype).tiny
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(t.grad, [truth, truth], rtol=rtol, atol=tiny * 2)
    assert t.grad.dtype == dtype
    # the same slope in forward mode and in the recorded (higher-order) rule
    _, tangent = func.jvp(
        lambda v: v.sigmoid(), (Tensor(np.array([x], dtype=dtype)),), (Tensor(np.ones(1, dtype)),)
    )
    np.testing.assert_allclose(tangent.data, [truth], rtol=rtol, atol=tiny * 2)
    second = func.grad(lambda v: func.vjp(lambda w: w.sigmoid(), v)[1](Tensor(np.ones(1, dtype)))[0].sum())
    s = 1 / (1 + math.exp(-x)) if x > -700 else 0.0
    np.testing.assert_allclose(
        second(Tensor(np.array([x], dtype=dtype))).data, [truth * (1 - 2 * s)], rtol=1e-4, atol=tiny * 4
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_sigmoid_is_finite_and_right_below_minus_88(dtype):
    x = np.array([-1000.0, -120.0, -89.0, -30.0, 0.0, 30.0, 120.0], dtype=dtype)
    t = Tensor(x, requires_grad=True)
    out = t.log_sigmoid()
    out.sum().backward()
    x64 = x.astype(np.float64)
    want = -np.logaddexp(0.0, -x64)  # log sigma(x), exact in float64
    np.testing.assert_allclose(out.data, want, rtol=1e-6, atol=np.finfo(dtype).tiny)
    slope = np.exp(-np.logaddexp(0.0, x64))  # sigma(-x)
    np.testing.assert_allclose(t.grad, slope, rtol=1e-6, atol=np.finfo(dtype).tiny)
    assert np.all(np.isfinite(t.grad)) and t.grad.dtype == dtype
    # what it replaces: log(sigmoid(x)) has an infinite gradient there in float32
    if dtype == np.float32:
        naive = Tensor(x[:3], requires_grad=True)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            naive.sigmoid().log().sum().backward()
        assert not np.all(np.isfinite(naive.grad))


def test_power_by_zero_and_one_is_exact_at_every_order():
    # d/dx x**0 = 0 at any order, even at x = 0 (the issue: grad(grad(...))(0.) was NaN)
    assert func.grad(func.grad(lambda x: np.power(x, 0.0)))(Tensor(0.0)).item() == 0.0
    assert func.grad(func.grad(lambda x: np.power(x, 0)))(Tensor(0.0)).item() == 0.0
    assert func.grad(func.grad(func.grad(lambda x: x**1.0)))(Tensor(0.0)).item() == 0.0
    assert func.grad(lambda x: np.power(x, 1.0))(Tensor(0.0)).item() == 1.0
    # a tensor exponent equal to 0 at a base of 0
    y0 = Tensor(0.0)
    assert func.grad(func.grad(lambda x: x**y0))(Tensor(0.0)).item() == 0.0
    # forward mode along the exponent of a constant base 0: 0, not 0 * inf
    for y in (0.5, 2.0, 0.0):
        _, tangent = func.jvp(lambda e: np.power(0.0, e), (Tensor(y),), (Tensor(1.0),))
        assert tangent.item() == 0.0
    _, tangent = func.jvp(lambda x: np.power(x, 0.0), (Tensor(0.0),), (Tensor(np.inf),))
    assert tangent.item() == 0.0


def test_power_nested_forward_mode_keeps_a_tangent_that_is_zero_only_here():
    # cos(x)**y at x = 0: the base's tangent -sin(x) dx is 0 there, its derivative is not;
    # d2/dx2 cos(x)**y at 0 = -y
    y = Tensor(np.array([0.5, 2.0, 0.0]))
    ones = Tensor(np.ones(3))

    def inner(x):
        return func.jvp(lambda z: np.cos(z) ** y, (x,), (ones,))[1]

    second = func.jvp(inner, (Tensor(np.zeros(3)),), (ones,))[1]
    np.testing.assert_allclose(second.data, [-0.5, -2.0, 0.0], atol=1e-15)


def test_power_with_tensor_exponent_at_a_zero_base_stays_finite():
    x = Tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    y = Tensor(np.array([2.0, 3.0, 0.0]), requires_grad=True)
    gx, gy = func.grad(lambda a, b: (a**b).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx.data, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gy.data, [0.0, 0.0, math.log(2.0)])
    hx = func.grad(lambda a: func.grad(lambda c: (c**y).sum())(a).sum())(x)
    np.testing.assert_array_equal(hx.data, [2.0, 0.0, 0.0])  # d2/dx2 x^2 = 2, x^3: 6x = 0, x^0: 0


def test_maximum_sends_the_gradient_to_a_nan_and_fmax_ignores_it():
    nan = np.nan
    a = Tensor(np.array([1.0, nan, 3.0, nan]), requires_grad=True)
    b = Tensor(np.array([2.0, 2.0, nan, nan]), requires_grad=True)
    np.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 0.0, 0.5])
    np.testing.assert_array_equal(b.grad, [1.0, 0.0, 1.0, 0.5])
    a.grad = b.grad = None
    out = np.fmax(a, b)
    np.testing.assert_array_equal(out.data, np.fmax(a.data, b.data))
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 1.0, 0.5])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 0.0, 0.5])


def test_hypot_and_arcsinh_never_square_into_overflow():
    a = Tensor(np.array([3e200, 3e-200]), requires_grad=True)
    b = Tensor(np.array([4e200, 4e-200]), requires_grad=True)
    np.hypot(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.6, 0.6], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [0.8, 0.8], rtol=1e-15)
    x = Tensor(np.array([1e200, -1e300]), requires_grad=True)
    np.arcsinh(x).sum().backward()
    np.testing.assert_allclose(x.grad, [1e-200, 1e-300], rtol=1e-15)
    y = Tensor(np.array([3e200]), requires_grad=True)
    x = Tensor(np.array([4e200]), requires_grad=True)
    np.arctan2(y, x).sum().backward()
    np.testing.assert_allclose([y.grad[0], x.grad[0]], [1.6e-201, -1.2e-201], rtol=1e-14)


def test_piecewise_constant_functions_are_recorded_with_zero_gradient():
    x = Tensor(np.array([-1.5, 0.2, 2.7]), requires_grad=True)
    for fun in (
        np.floor,
        np.ceil,
        np.rint,
        np.trunc,
        np.sign,
        np.round,
        np.fix,
        lambda v: v.round(),
        lambda v: v // 1,
    ):
        out = fun(x)
        assert isinstance(out, Tensor) and out.requires_grad
        x.grad = None
        out.sum().backward()
        np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_every_function_is_listed_as_supported():
    names = set(numpy_api.supported())
    wanted = (
        "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh log1p expm1 log2 log10 "
        "exp2 logaddexp logaddexp2 hypot arctan2 remainder fmod fmax fmin sinc reciprocal cbrt nan_to_num "
        "deg2rad rad2deg radians degrees fabs floor ceil round around rint trunc fix sign floor_divide "
        "real real_if_close imag conjugate angle select"
    )
    missing = [w for w in wanted.split() if f"np.{w}" not in names]
    assert not missing, missing


# ---------------------------------------------------------------- PyTorch as an oracle


def _torch_cases():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return [
        # (id, ours, torch's, inputs)
        ("sin", np.sin, torch.sin, [A]),
        ("cos", np.cos, torch.cos, [A]),
        ("tan", np.tan, torch.tan, [UNIT]),
        ("arcsin", np.arcsin, torch.asin, [UNIT]),
        ("arccos", np.arccos, torch.acos, [UNIT]),
        ("arctan", np.arctan, torch.atan, [A]),
        ("sinh", np.sinh, torch.sinh, [A]),
        ("cosh", np.cosh, torch.cosh, [A]),
        ("arcsinh", np.arcsinh, torch.asinh, [A]),
        ("arccosh", np.arccosh, torch.acosh, [BIG]),
        ("arctanh", np.arctanh, torch.atanh, [UNIT]),
        ("log1p", np.log1p, torch.log1p, [POS]),
        ("expm1", np.expm1, torch.expm1, [A]),
        ("log2", np.log2, torch.log2, [POS]),
        ("log10", np.log10, torch.log10, [POS]),
        ("exp2", np.exp2, torch.exp2, [A]),
        ("reciprocal", np.reciprocal, torch.reciprocal, [POS]),
        ("sinc", np.sinc, torch.sinc, [A]),
        ("deg2rad", np.deg2rad, torch.deg2rad, [A]),
        ("rad2deg", np.rad2deg, torch.rad2deg, [A]),
        ("floor", lambda x: x * np.floor(x), lambda x: x * torch.floor(x), [AWAY]),
        ("sign", lambda x: x * np.sign(x), lambda x: x * torch.sign(x), [AWAY]),
        ("logaddexp", np.logaddexp, torch.logaddexp, [A, B]),
        ("logaddexp2", np.logaddexp2, torch.logaddexp2, [A, B]),
        ("hypot", np.hypot, torch.hypot, [A, B]),
        ("arctan2", np.arctan2, torch.atan2, [A, B]),
        ("remainder", np.remainder, torch.remainder, [AWAY * 3 + 0.35, np.full((2, 4), -1.3)]),
        ("fmod", np.fmod, torch.fmod, [AWAY * 3 + 0.35, np.full((2, 4), -1.3)]),
        ("fmax", np.fmax, torch.fmax, [A, B]),
        ("fmin", np.fmin, torch.fmin, [A, B]),
        ("sigmoid", lambda x: x.sigmoid(), torch.sigmoid, [A * 4]),
        ("log_sigmoid", lambda x: x.log_sigmoid(), F.logsigmoid, [A * 4]),
        ("log_sigmoid large", lambda x: x.log_sigmoid(), F.logsigmoid, [np.array([-800.0, -100.0, 20.0])]),
        (
            "nan_to_num",
            lambda x: np.nan_to_num(x + [0.0, np.inf, np.nan, -np.inf]),
            lambda x: torch.nan_to_num(x + torch.tensor([0.0, np.inf, np.nan, -np.inf], dtype=torch.float64)),
            [A[0]],
        ),
    ]


@pytest.mark.parametrize("case", range(34))
def test_first_and_second_derivatives_match_pytorch(case):
    torch = pytest.importorskip("torch")
    cases = _torch_cases()
    assert len(cases) == 34
    name, ours, theirs, arrays = cases[case]
    check_against_torch(torch, name, ours, theirs, arrays)
