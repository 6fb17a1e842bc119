"""numpy's reductions on Tensors (prod, cumsum, cumprod, var, std, average, ptp, trace, diff,
nansum, nanmean, and sum/mean/max/min): value, reverse and forward mode to order 2 against
float64 central differences (tests/numpy_check.py), float32 kept, zeros in products, ties
and NaN in max, and PyTorch as an oracle for first and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_check import check_against_torch, check_float32, check_grads

from tinygrad_mlp import Tensor, func, numpy_api


def _r(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, shape)


A = _r(3, 4)
C = _r(2, 3, 4, seed=1)
V = _r(5, seed=2)
W = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4))  # positive weights
ONE_ZERO = np.array([[1.5, 0.0, -2.0, 0.7], [0.3, 1.2, -0.8, 2.0]])
TWO_ZEROS = np.array([[1.5, 0.0, -2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
NANS = np.array([[1.5, np.nan, -2.0, 0.7], [np.nan, 0.9, 0.4, 2.0]])


def _method(name, **kw):
    """``a.name(**kw)``, the ndarray method, on Tensors and arrays alike."""
    return lambda a: getattr(a, name)(**kw)


# (id, numpy code, inputs): check_grads (both modes, order 2) and check_float32 on each line
CASES = [
    ("prod", np.prod, [A]),
    ("prod axis", lambda a: np.prod(a, axis=1), [A]),
    ("prod axes keepdims", lambda a: np.prod(a, axis=(0, 2), keepdims=True), [C]),
    ("prod negative axis", lambda a: np.prod(a, axis=-2), [C]),
    ("prod initial", lambda a: np.prod(a, axis=0, initial=2.0), [A]),
    ("prod one zero", np.prod, [ONE_ZERO]),
    ("prod one zero per row", lambda a: np.prod(a, axis=1), [ONE_ZERO]),
    ("prod two zeros", lambda a: np.prod(a, axis=1), [TWO_ZEROS]),
    ("prod zeros all axes", np.prod, [TWO_ZEROS]),
    ("a.prod", _method("prod", axis=0), [ONE_ZERO]),
    ("prod 0-d", np.prod, [np.array(1.7)]),
    ("cumsum", np.cumsum, [A]),
    ("cumsum axis", lambda a: np.cumsum(a, axis=1), [C]),
    ("cumsum axis 0", lambda a: np.cumsum(a, axis=0), [A]),
    ("a.cumsum", _method("cumsum", axis=-1), [A]),
    ("cumprod", np.cumprod, [A]),
    ("cumprod axis", lambda a: np.cumprod(a, axis=1), [C]),
    ("cumprod one zero", lambda a: np.cumprod(a, axis=1), [ONE_ZERO]),
    ("cumprod two zeros", lambda a: np.cumprod(a, axis=1), [TWO_ZEROS]),
    ("cumprod flat zeros", np.cumprod, [TWO_ZEROS]),
    ("a.cumprod", _method("cumprod", axis=0), [ONE_ZERO]),
    ("var", np.var, [A]),
    ("var axis ddof", lambda a: np.var(a, axis=0, ddof=1), [A]),
    ("var axes keepdims", lambda a: np.var(a, axis=(0, 2), keepdims=True), [C]),
    ("a.var", _method("var", axis=1, ddof=1), [A]),
    ("std", np.std, [A]),
    ("std axis ddof", lambda a: np.std(a, axis=1, ddof=1, keepdims=True), [A]),
    ("a.std", _method("std", axis=0), [A]),
    ("average", np.average, [A]),
    ("average weights", lambda a: np.average(a, axis=1, weights=W), [A]),
    ("average 1-D weights", lambda a: np.average(a, axis=1, weights=[1.0, 2.0, 0.5, 3.0]), [A]),
    ("average weights as tensors", lambda a, w: np.average(a, axis=0, weights=w), [A, W]),
    ("average returned", lambda a, w: np.average(a, axis=0, weights=w, returned=True), [A, W]),
    ("average keepdims", lambda a: np.average(a, axis=1, keepdims=True), [A]),
    ("ptp", np.ptp, [A]),
    ("ptp axis", lambda a: np.ptp(a, axis=1), [A]),
    ("trace", np.trace, [A]),
    ("trace offset", lambda a: np.trace(a, offset=1), [A]),
    ("trace negative offset", lambda a: np.trace(a, offset=-1), [A]),
    ("trace offset past the edge", lambda a: np.trace(a, offset=7) + a.sum(), [A]),
    ("trace axes", lambda a: np.trace(a, axis1=1, axis2=2), [C]),
    ("trace axes reversed", lambda a: np.trace(a, 1, 2, 0), [C]),
    ("a.trace", _method("trace", offset=-1), [A.T]),
    ("diff", np.diff, [A]),
    ("diff n=2 axis 0", lambda a: np.diff(a, n=2, axis=0), [C]),
    ("diff n=0", lambda a: np.diff(a, n=0), [V]),
    ("diff prepend append", lambda a: np.diff(a, prepend=0.5, append=np.ones((3, 2))), [A]),
    ("diff prepend tensor", lambda a, b: np.diff(a, axis=0, prepend=b), [A, V[None, :4]]),
    ("nansum", np.nansum, [NANS]),
    ("nansum axis", lambda a: np.nansum(a, axis=1, keepdims=True), [NANS]),
    ("nanmean", np.nanmean, [NANS]),
    ("nanmean axis", lambda a: np.nanmean(a, axis=0), [NANS]),
    ("sum", lambda a: np.sum(a, axis=1), [A]),
    ("mean", lambda a: np.mean(a, axis=(0, 1)), [C]),
    ("max", lambda a: np.max(a, axis=0), [A]),
    ("min", lambda a: np.min(a, axis=1, keepdims=True), [A]),
    ("std of one element (constant 0)", np.std, [np.array(3.5)]),
    ("std over an axis of length 1", lambda a: np.std(a, axis=0, keepdims=True), [A[:1]]),
    ("diff prepend and append tensors", lambda a: np.diff(a, prepend=a[:, :1] * 2, append=a[:, -1:]), [A]),
    ("gradient 1-D", np.gradient, [V]),
    ("gradient of 2 points", np.gradient, [V[:2]]),
    ("gradient 2-D (a tuple)", np.gradient, [A]),
    ("gradient axis", lambda a: np.gradient(a, axis=-1), [C]),
    ("gradient axes in order given", lambda a: np.gradient(a, axis=(2, 0)), [C]),
    ("gradient spacing", lambda a: np.gradient(a, 0.5, 2.0), [A]),
]


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_derivatives_to_order_2_in_both_modes(name, fun, arrays):
    check_grads(fun, *arrays)


# lines whose constants are float64 arrays: numpy itself promotes those to float64
PROMOTED = {"average weights", "diff prepend append"}


@pytest.mark.parametrize("name,fun,arrays", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, fun, arrays):
    if name in PROMOTED:
        assert fun(*[a.astype(np.float32) for a in arrays]).dtype == np.float64
        return
    check_float32(fun, *arrays)


@pytest.mark.parametrize(
    "x,want",
    [
        ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),
        ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),  # one zero: only the zero's gradient is nonzero
        ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]),  # two zeros: all 0
        ([0.0], [1.0]),
    ],
)
def test_prod_gradient_with_zeros(x, want):
    t = Tensor(np.array(x), requires_grad=True)
    np.prod(t).backward()
    np.testing.assert_array_equal(t.grad, want)


def test_prod_hessian_with_one_zero():
    # d2/dx_i dx_j prod(x) = the product of the elements other than i and j; at (2, 0, 4) only x_1 = 0 is 0
    h = func.hessian(lambda t: np.prod(t))(Tensor(np.array([2.0, 0.0, 4.0])))
    np.testing.assert_array_equal(h.data, [[0.0, 4.0, 0.0], [4.0, 0.0, 2.0], [0.0, 2.0, 0.0]])


def test_max_splits_ties_and_sends_the_gradient_to_a_nan():
    t = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, np.nan, 5.0]]), requires_grad=True)
    t.max(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])
    # a NaN upstream of max propagates to the NaN's source instead of vanishing (was all 0)
    x = Tensor(np.array([1.0, np.nan, 3.0]), requires_grad=True)
    (x.max() ** 2).backward()
    assert x.grad[0] == 0.0 and np.isnan(x.grad[1]) and x.grad[2] == 0.0
    y = Tensor(np.array([1.0, np.nan, 3.0]), requires_grad=True)
    np.min(y).backward()
    np.testing.assert_array_equal(y.grad, [0.0, 1.0, 0.0])


def test_tensor_methods_match_numpy():
    x = Tensor(A)
    for name, kw in [
        ("prod", {"axis": 1}),
        ("cumsum", {}),
        ("cumprod", {"axis": 0}),
        ("var", {"ddof": 1}),
        ("std", {"axis": 0}),
        ("trace", {"offset": 1}),
        ("round", {"decimals": 1}),
    ]:
        np.testing.assert_allclose(getattr(x, name)(**kw).data, getattr(A, name)(**kw), rtol=1e-12)


@pytest.mark.parametrize(
    "call,error",
    [
        (
            lambda t: np.prod(t, out=np.empty(())),
            r"numpy.prod\(\.\.\., out=<numpy array>\): the result is part of a graph",
        ),
        (lambda t: np.var(t, where=np.ones((3, 4), bool)), "numpy.var with where="),
        (lambda t: np.trace(t[0]), "numpy.trace: needs a tensor of at least 2 dimensions"),
        (lambda t: np.diff(t, n=-1), "numpy.diff: order must be non-negative"),
        (lambda t: np.diff(t, prepend=np.ones(3)), r"numpy.diff: prepend of shape \(3,\) cannot be joined"),
        (lambda t: np.average(t, weights=np.ones(4)), "numpy.average: axis must be given"),
        (lambda t: np.average(t, axis=1, weights=np.zeros(4)), "weights sum to zero"),
        (lambda t: np.gradient(t, edge_order=2), "numpy.gradient with edge_order=2"),
        (lambda t: np.gradient(t, np.arange(3.0)), "one number of spacing per axis"),
        (lambda t: np.gradient(t[:1]), "numpy.gradient: shape of the array too small"),
    ],
)
def test_bad_arguments_are_named(call, error):
    with pytest.raises((TypeError, ValueError, ZeroDivisionError, RuntimeError), match=error):
        call(Tensor(A, requires_grad=True))


def test_std_of_one_element_is_a_constant_zero_only_without_ddof():
    x = Tensor(A[:1], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(np.std(x, axis=0, ddof=1).data).all()  # 0 / 0, as numpy
    np.std(x, axis=0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(A[:1]))  # not sqrt's 0/0
    hess = func.hessian(lambda a: np.std(a))(Tensor(np.array(3.5)))
    assert hess.item() == 0.0


def test_every_reduction_is_listed_as_supported():
    names = set(numpy_api.supported())
    wanted = "prod cumsum cumprod var std average ptp trace diff gradient nansum nanmean sum mean max min"
    missing = [w for w in wanted.split() if f"np.{w}" not in names]
    assert not missing, missing


# ---------------------------------------------------------------- PyTorch as an oracle


def _torch_cases():
    torch = pytest.importorskip("torch")
    return [
        # (id, ours, torch's, inputs)
        ("prod", lambda a: np.prod(a, axis=1), lambda a: torch.prod(a, dim=1), [A]),
        ("prod one zero", lambda a: np.prod(a, axis=1), lambda a: torch.prod(a, dim=1), [ONE_ZERO]),
        ("prod two zeros", lambda a: np.prod(a, axis=1), lambda a: torch.prod(a, dim=1), [TWO_ZEROS]),
        ("prod all", np.prod, torch.prod, [ONE_ZERO]),
        ("cumsum", lambda a: np.cumsum(a, axis=1), lambda a: torch.cumsum(a, dim=1), [A]),
        ("cumprod", lambda a: np.cumprod(a, axis=1), lambda a: torch.cumprod(a, dim=1), [A]),
        ("cumprod zeros", lambda a: np.cumprod(a, axis=1), lambda a: torch.cumprod(a, dim=1), [TWO_ZEROS]),
        ("var", lambda a: np.var(a, axis=0, ddof=1), lambda a: torch.var(a, dim=0, correction=1), [A]),
        ("std", lambda a: np.std(a, axis=1), lambda a: torch.std(a, dim=1, correction=0), [A]),
        ("trace", np.trace, torch.trace, [A]),
        ("diff", lambda a: np.diff(a, n=2, axis=0), lambda a: torch.diff(a, n=2, dim=0), [C]),
        ("nansum", np.nansum, torch.nansum, [NANS]),
        ("nanmean", lambda a: np.nanmean(a, axis=1), lambda a: torch.nanmean(a, dim=1), [NANS]),
        ("max with a NaN", np.max, torch.max, [NANS[:1]]),
        (
            "max along an axis with a NaN",
            lambda a: np.max(a, axis=1),
            lambda a: torch.max(a, dim=1)[0],
            [NANS],
        ),
    ]


@pytest.mark.parametrize("case", range(15))
def test_first_and_second_derivatives_match_pytorch(case):
    torch = pytest.importorskip("torch")
    cases = _torch_cases()
    assert len(cases) == 15
    name, ours, theirs, arrays = cases[case]
    check_against_torch(torch, name, ours, theirs, arrays)
