"""One checker for every numpy rule, in the spirit of HIPS autograd's ``check_grads``.

``check_grads(fun, *arrays, modes=("fwd", "rev"), order=2)`` runs ``fun`` (numpy code,
called with Tensors) and checks, in float64 against central differences:

- the forward value equals ``fun`` on the plain arrays (numpy itself);
- reverse mode: ``<u, J v>`` from ``func.vjp`` against the numerical directional derivative,
  for a random output cotangent ``u`` and input direction ``v``;
- forward mode: the same from ``func.jvp``;
- to ``order``: the same checks on the derivative functions themselves
  (``x -> vjp(u)`` and ``x -> jvp(v)``), which differentiates each rule's own rule;
- ``check_float32(fun, *arrays)``: float32 in, float32 out, in both modes.

A rule that is wrong in one mode only, or only in its second derivative, fails here.
"""

from __future__ import annotations

import numpy as np

from tinygrad_mlp import Tensor, func

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


def _arrays(out) -> list[np.ndarray]:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [np.asarray(o.data if isinstance(o, Tensor) else o, dtype=np.float64) for o in outs]


def _numeric_dir(fun, arrays, dirs, eps=EPS):
    """Central difference of ``fun`` (on plain arrays) along ``dirs``, flattened and joined."""
    plus = fun(*[a + eps * d for a, d in zip(arrays, dirs)])
    minus = fun(*[a - eps * d for a, d in zip(arrays, dirs)])
    return np.concatenate([((p - m) / (2 * eps)).ravel() for p, m in zip(_arrays(plus), _arrays(minus))])


def _rand_like(arrays, rng):
    return [rng.standard_normal(np.shape(a)) for a in arrays]


def _tensor_fun(fun):
    """``fun`` called with Tensors, returning one Tensor (several outputs: a fixed random
    weighting of them summed to a scalar, so every output is checked)."""

    def run(*ts):
        return _join(fun(*ts))

    return run


def _join(out):
    if not isinstance(out, (tuple, list)):
        return out
    if len(out) == 1:
        return out[0]
    rng = np.random.default_rng(12345)  # each weight in its output's dtype: float32 stays float32
    return sum((o * rng.standard_normal(np.shape(o)).astype(o.dtype)).sum() for o in out)


def _plain_fun(fun):
    def run(*arrays):
        return _arrays(fun(*[Tensor(np.asarray(a, dtype=np.float64)) for a in arrays]))

    return run


def check_grads(fun, *arrays, modes=("fwd", "rev"), order=2, rtol=RTOL, atol=ATOL, seed=0, check_value=True):
    """Check ``fun``'s derivatives in ``modes`` to ``order`` at ``arrays`` (float64)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if check_value:
        expect = _arrays(fun(*[a.copy() for a in arrays]))
        got = _arrays(fun(*[Tensor(a.copy()) for a in arrays]))
        assert len(expect) == len(got)
        for e, g in zip(expect, got):
            assert e.shape == g.shape, f"shape {g.shape} on Tensors, {e.shape} in numpy"
            np.testing.assert_allclose(
                g, e, rtol=1e-10, atol=1e-12, err_msg="forward value differs from numpy"
            )
    _check(_tensor_fun(fun), arrays, modes, order, rtol, atol, np.random.default_rng(seed))


def _check(tfun, arrays, modes, order, rtol, atol, rng):
    plain = _plain_fun(tfun)
    out = tfun(*[Tensor(a) for a in arrays])
    v = _rand_like(arrays, rng)
    u = rng.standard_normal(out.shape)
    numeric = _numeric_dir(plain, arrays, v)
    want = float(np.dot(u.ravel(), numeric))
    if "rev" in modes:
        _, vjp_fn = func.vjp(tfun, *[Tensor(a) for a in arrays])
        gs = vjp_fn(Tensor(u))
        got = sum(float(np.dot(g.data.ravel(), d.ravel())) for g, d in zip(gs, v))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"reverse mode, order {order}")
        if order > 1:

            def rev(*ts):
                _, f = func.vjp(tfun, *ts)
                return _join(f(Tensor(u)))

            _check(rev, arrays, modes, order - 1, rtol, atol, rng)
    if "fwd" in modes:
        _, t = func.jvp(tfun, [Tensor(a) for a in arrays], [Tensor(d) for d in v])
        got = float(np.dot(u.ravel(), np.asarray(t.data, dtype=np.float64).ravel()))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"forward mode, order {order}")
        if order > 1:

            def fwd(*ts):
                return func.jvp(tfun, list(ts), [Tensor(d) for d in v])[1]

            _check(fwd, arrays, modes, order - 1, rtol, atol, rng)


def check_float32(fun, *arrays, modes=("fwd", "rev")):
    """float32 inputs give a float32 value, float32 gradients and float32 tangents."""
    ts = [Tensor(np.asarray(a, dtype=np.float32)) for a in arrays]
    tfun = _tensor_fun(fun)
    out = tfun(*ts)
    assert out.dtype == np.float32, f"value is {out.dtype}"
    if "rev" in modes:
        _, vjp_fn = func.vjp(tfun, *ts)
        for g in vjp_fn(Tensor(np.ones(out.shape, dtype=np.float32))):
            assert g.dtype == np.float32, f"gradient is {g.dtype}"
    if "fwd" in modes:
        _, t = func.jvp(tfun, ts, [Tensor(np.ones(a.shape, dtype=np.float32)) for a in ts])
        assert t.dtype == np.float32, f"tangent is {t.dtype}"


def _ours(fun, arrays, vs):
    """First derivatives of sum(fun) and the Hessian-vector product along vs, by this engine."""
    argnums = tuple(range(len(arrays)))
    g = func.grad(lambda *xs: fun(*xs).sum(), argnums=argnums)
    first = g(*[Tensor(a) for a in arrays])
    hv = func.grad(lambda *xs: sum((gi * Tensor(v)).sum() for gi, v in zip(g(*xs), vs)), argnums=argnums)
    return [t.data for t in first], [t.data for t in hv(*[Tensor(a) for a in arrays])]


def _theirs(torch, fun, arrays, vs):
    """The same by PyTorch's autograd."""
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    first = torch.autograd.grad(fun(*xs).sum(), xs, create_graph=True)
    dot = sum((gi * torch.tensor(v)).sum() for gi, v in zip(first, vs))
    if not dot.requires_grad:  # a constant first derivative: the Hessian is 0
        return [t.detach().numpy() for t in first], [np.zeros_like(a) for a in arrays]
    hv = torch.autograd.grad(dot, xs, allow_unused=True)
    hv = [np.zeros_like(a) if h is None else h.detach().numpy() for h, a in zip(hv, arrays)]
    return [t.detach().numpy() for t in first], hv


def check_against_torch(torch, name, ours, theirs, arrays):
    """First derivatives and a Hessian-vector product of ``ours`` (numpy code on Tensors) equal
    PyTorch's for ``theirs`` (the same function in torch), in float64."""
    vs = [np.random.default_rng(7).standard_normal(np.shape(a)) for a in arrays]
    got, want = _ours(ours, arrays, vs), _theirs(torch, theirs, arrays, vs)
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=name)
