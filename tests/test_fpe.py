"""Floating-point traps (tinygrad_mlp._fpe): the sigmoid's branch test, and the compiled
step's guard, is the overflow of its exp itself."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mlp import Tensor, _fpe


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trapped_returns_the_result_or_none_where_the_exception_happened(dtype):
    big = np.finfo(dtype).max
    clean = np.array([0.0, 1.0, -50.0], dtype)
    assert np.array_equal(_fpe.trapped("over", np.exp, clean), np.exp(clean))
    e = np.array([0.0, 1000.0], dtype)
    assert _fpe.trapped("over", np.exp, e, out=e) is None
    assert np.isinf(e[1])  # what numpy wrote stays in the out= array
    assert _fpe.trapped("invalid", np.multiply, np.array([np.inf], dtype), np.array([0.0], dtype)) is None
    assert _fpe.trapped("over", np.multiply, np.array([big], dtype), 2) is None
    with np.errstate(over="ignore"):  # an overflow, not an invalid operation
        assert _fpe.trapped("invalid", np.multiply, np.array([big], dtype), 2) is not None


def test_a_trap_leaves_the_callers_error_state_as_it_was():
    with np.errstate(over="warn", invalid="ignore", divide="raise"):
        before = np.geterr()
        assert _fpe.trapped("over", np.exp, np.array([1e4])) is None
        assert np.geterr() == before
        # the caller's other settings hold inside the trap: divide still raises, so the call
        # takes the careful branch too; invalid stays ignored
        assert _fpe.trapped("over", np.divide, np.array([1.0]), np.array([0.0])) is None
        assert _fpe.trapped("over", np.sqrt, np.array([-1.0])) is not None
        assert np.geterr() == before


def test_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="kind must be one of over, invalid, divide, under, not 'overflow'"):
        _fpe.trapped("overflow", np.exp, np.array([1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_at_minus_infinity_has_slope_zero(dtype):
    # exp(inf) is inf without an overflow: the fast branch runs, and e * sigma = inf * 0 is the
    # invalid product its slope traps, taking the careful slope there
    x = Tensor(np.array([-np.inf, -1.0, 0.0, 3.0], dtype), requires_grad=True)
    y = x.sigmoid()
    y.sum().backward()
    assert y.data[0] == 0 and np.all(np.isfinite(x.grad))
    assert x.grad[0] == 0
    s = 1 / (1 + np.exp(-x.data[1:].astype(np.float64)))
    np.testing.assert_allclose(x.grad[1:], s * (1 - s), rtol=1e-6)


@pytest.mark.parametrize("dtype,edge", [(np.float32, -88.7), (np.float64, -709.7)])
def test_the_sigmoid_branch_is_the_overflow_of_its_exp(dtype, edge):
    from tinygrad_mlp import ops

    # just above where exp(-a) overflows: the fast branch (it keeps exp(-a) for its slope)
    fast = ops.Sigmoid()
    fast.forward(np.array([edge, 0.0], dtype))
    assert fast.exp_neg is not None
    slow = ops.Sigmoid()  # just below: the careful branch
    out = slow.forward(np.array([edge - 1.0, 0.0], dtype))
    assert slow.exp_neg is None and out[0] > 0
