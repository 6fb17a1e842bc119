"""gradcheck itself: it passes correct ops and fails loudly, with the worst element,
on wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mlp import Tensor
from tinygrad_mlp.gradcheck import GradcheckError, gradcheck
from tinygrad_mlp.ops import Function


class WrongSquare(Function):
    """x**2 with a backward that is wrong at one element only."""

    name = "wrong_square"

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        grad = 2 * self.a * g
        grad.reshape(-1)[3] += 0.5
        return (grad,)


class Leaky(Function):
    """A backward that keeps state between calls: not reentrant."""

    name = "leaky"
    calls = 0

    def forward(self, a):
        return a * 1.0

    def backward(self, g):
        Leaky.calls += 1
        return (g * Leaky.calls,)


class IgnoresUpstream(Function):
    name = "ignores_upstream"

    def forward(self, a):
        return a * 2.0

    def backward(self, g):
        return (np.full_like(g, 2.0),)  # forgot to multiply by g


def test_passes_a_correct_op_and_leaves_inputs_untouched():
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype=np.float32, requires_grad=True)
    before = x.data.copy()
    assert gradcheck(lambda t: (t * t).sigmoid(), [x])
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None and x.dtype == np.float32


def test_names_input_element_and_both_values():
    a = Tensor(np.zeros((2, 2)), requires_grad=True)
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, x: a.sum() + WrongSquare.apply(x).sum(), [a, x])
    msg = str(info.value)
    # element 3 of a (2, 3) input is (1, 0); its true gradient is 2 * 3.0 = 6
    assert "input 1 (x), element (1, 0)" in msg
    assert "numerical 6" in msg and "analytical 6.5" in msg


def test_non_scalar_output_is_checked_through_a_projection():
    x = Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"element \(1, 0\)"):
        gradcheck(lambda t: WrongSquare.apply(t), [x])


def test_detects_a_backward_that_is_not_reentrant():
    with pytest.raises(GradcheckError, match="twice"):
        # first backward matches numerics only when calls == 1; reset the counter
        Leaky.calls = 0
        gradcheck(lambda t: Leaky.apply(t).sum(), [Tensor([1.0, 2.0], requires_grad=True)], atol=10, rtol=10)


def test_detects_a_backward_that_ignores_a_zero_upstream_gradient():
    with pytest.raises(GradcheckError, match="zero upstream gradient"):
        gradcheck(lambda t: IgnoresUpstream.apply(t).sum(), [Tensor([1.0, 2.0], requires_grad=True)])


def test_refuses_inputs_without_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda t: t * 2.0, [Tensor([1.0])])
