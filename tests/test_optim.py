"""Optimizers against their update rules written out here (and PyTorch, if installed)."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mlp import Tensor, optim

GRADS = [
    np.array([[0.5, -1.0], [2.0, 0.1]]),
    np.array([[-0.3, 0.2], [0.0, 1.0]]),
    np.array([[1.0, 1.0], [-2.0, 0.5]]),
]
START = np.array([[1.0, -2.0], [0.5, 3.0]])


def _run(opt_cls, **kw):
    p = Tensor(START.copy(), requires_grad=True)
    opt = opt_cls([p], **kw)
    data = p.data
    trace = []
    for g in GRADS:
        p.grad = g.copy()
        opt.step()
        trace.append(p.data.copy())
    assert p.data is data  # updated in place
    return trace


def test_sgd_plain():
    w = START.copy()
    for got, g in zip(_run(optim.SGD, lr=0.1), GRADS):
        w = w - 0.1 * g
        np.testing.assert_allclose(got, w, rtol=1e-15)


def test_sgd_momentum_pytorch_rule():
    w, buf = START.copy(), None
    for got, g in zip(_run(optim.SGD, lr=0.1, momentum=0.9), GRADS):
        buf = g.copy() if buf is None else 0.9 * buf + g
        w = w - 0.1 * buf
        np.testing.assert_allclose(got, w, rtol=1e-15)


def test_adam_pytorch_rule():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    w, m, v = START.copy(), np.zeros_like(START), np.zeros_like(START)
    for t, (got, g) in enumerate(zip(_run(optim.Adam, lr=lr), GRADS), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_against_pytorch(kind):
    torch = pytest.importorskip("torch")
    tp = torch.tensor(START.copy(), requires_grad=True)
    make = {
        "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.1), dict(cls=optim.SGD, lr=0.1)),
        "momentum": (
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
            dict(cls=optim.SGD, lr=0.1, momentum=0.9),
        ),
        "adam": (lambda ps: torch.optim.Adam(ps, lr=0.01), dict(cls=optim.Adam, lr=0.01)),
    }[kind]
    topt = make[0]([tp])
    kw = dict(make[1])
    ours = _run(kw.pop("cls"), **kw)
    for got, g in zip(ours, GRADS):
        tp.grad = torch.tensor(g)
        topt.step()
        np.testing.assert_allclose(got, tp.detach().numpy(), rtol=1e-12)


def test_parameters_without_grad_are_left_alone_and_zero_grad():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0], np.float32)
    opt.step()
    assert b.data[0] == 2.0 and a.data[0] != 1.0
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_float32_parameters_stay_float32():
    for opt_cls in (optim.SGD, optim.Adam):
        p = Tensor(np.ones(3, np.float32), requires_grad=True)
        opt = opt_cls([p], lr=0.1, **({"momentum": 0.5} if opt_cls is optim.SGD else {}))
        for _ in range(2):
            p.grad = np.full(3, 0.5, np.float32)
            opt.step()
        assert p.data.dtype == np.float32


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "SGD: invalid learning rate -0.1"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "SGD: invalid momentum -1"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.9)), r"Adam: invalid betas \(1.0, 0.9\)"),
        (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
        (lambda p: optim.SGD([Tensor([1.0])], lr=0.1), "requires grad"),
    ],
)
def test_bad_settings_are_named(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make([Tensor([1.0], requires_grad=True)])


def test_optimizer_state_round_trip():
    p = Tensor(START.copy(), requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    p.grad = GRADS[0].copy()
    opt.step()
    q = Tensor(p.data.copy(), requires_grad=True)
    opt2 = optim.Adam([q], lr=0.01)
    opt2.load_state_dict(opt.state_dict())
    for t in (p, q):
        t.grad = GRADS[1].copy()
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(p.data, q.data)
