"""Assignment into a tensor after it was read (``z = x.copy(); z[x < 0] = z[x < 0] * 0.1``):
each op's gradient goes to the values it read, as PyTorch's version counter routes it.

An assignment never writes into an array (``setitem`` copies), so no value backward
needs is ever overwritten and nothing is refused; the gradients are checked against
float64 central differences of the same code run on arrays."""

import numpy as np
import pytest

from tinygrad_mlp import Tensor, grad


def leaky(x):
    z = x.copy()
    z[x < 0] = z[x < 0] * 0.1  # reads z, then writes it
    return z


def shifted(x):
    y = 2 * x
    y[0] -= 1  # y[0] = y[0] - 1: read, then written
    return y * y


def softmax_minus_one_hot(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    loss = -np.sum(np.log(p[range(3), [0, 2, 1]]))  # p read ...
    p[range(3), [0, 2, 1]] -= 1  # ... then written
    return loss + np.sum(p * p)


def written_twice(x):
    h = x * 3
    a = h * h  # reads version 0
    h[1] = 7.0
    b = h * x  # reads version 1
    h[:, 0] = x[:, 1]
    return a + b + h  # version 2


def read_from_a_filled_array(x):
    out = Tensor(np.zeros(x.shape, dtype=x.dtype))
    first = out * x  # out (zeros, no graph) read before it is filled
    out[0] = x[1] ** 2
    return first + out * x


CASES = [leaky, shifted, softmax_minus_one_hot, written_twice, read_from_a_filled_array]


def _numerical(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for j in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[j] += eps
        minus.flat[j] -= eps
        out.flat[j] = (np.sum(f(Tensor(plus)).data) - np.sum(f(Tensor(minus)).data)) / (2 * eps)
    return out


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_gradient_goes_to_the_version_each_op_read(f):
    x0 = np.random.default_rng(1).standard_normal((3, 3))
    x = Tensor(x0, requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad, _numerical(f, x0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [shifted, written_twice], ids=lambda f: f.__name__)
def test_second_order_through_versions(f):
    x0 = np.random.default_rng(2).standard_normal((3, 3))
    v = np.random.default_rng(3).standard_normal((3, 3))

    def gv(x):  # <grad f(x), v>, differentiated again: a Hessian-vector product
        (g,) = grad(f(x).sum(), [x], create_graph=True)
        return (g * v).sum()

    x = Tensor(x0, requires_grad=True)
    (hv,) = grad(gv(x), [x])
    eps = 1e-5
    num = np.zeros_like(x0)
    for j in range(x0.size):
        p, m = x0.copy(), x0.copy()
        p.flat[j] += eps
        m.flat[j] -= eps
        num.flat[j] = (gv(Tensor(p, requires_grad=True)).data - gv(Tensor(m, requires_grad=True)).data) / (
            2 * eps
        )
    np.testing.assert_allclose(hv, num, rtol=1e-5, atol=1e-7)


def test_replacing_data_by_hand_is_still_refused():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x * 2
    y = h * h
    other = x * 1
    other[0] = 1.0  # (an assignment somewhere switches the check on)
    h.data = np.zeros(3)  # not recorded: no setitem chain leads back to the values y read
    with pytest.raises(RuntimeError, match="input 0 of 'mul' was changed after 'mul' used it"):
        y.sum().backward()


def test_astype_copy_false_is_the_tensor_itself_when_the_dtype_matches():
    x = Tensor(np.ones(2), requires_grad=True)
    assert x.astype(np.float64, copy=False) is x
    y = x.astype(np.float32, copy=False)
    assert y is not x and y.dtype == np.float32
