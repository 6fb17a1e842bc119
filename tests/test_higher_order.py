"""Second derivatives and forward mode of every op, one line per case (the op table of
test_ops.py): Hessian-vector products through grad(create_graph=True) twice, and jvp,
against float64 central differences and, where installed, PyTorch."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from test_ops import CASES, _inputs

from tinygrad_mlp import Function, Tensor, func, grad

EPS = 1e-6


def _weights(fn, arrays, seed):
    """A fixed random weighting of fn's output, so that L = sum(w * fn(x)) is a scalar."""
    shape = fn(*[Tensor(a) for a in arrays]).shape
    return np.random.default_rng(seed).standard_normal(shape)


def _loss(fn, w):
    return lambda *xs: (fn(*xs) * Tensor(w)).sum()


def _first_grads(f, arrays):
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    return [g.data for g in grad(f(*xs), xs)]


def _hvp(f, arrays, vs):
    """H v through the engine: grad of (grad(L) . v), with create_graph."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    gs = grad(f(*xs), xs, create_graph=True)
    dot = sum(((g * Tensor(v)).sum() for g, v in zip(gs, vs)), Tensor(0.0, dtype=np.float64))
    if not dot.requires_grad:  # the gradient is constant: the Hessian is zero
        return [np.zeros_like(a) for a in arrays]
    return [
        np.zeros_like(a) if h is None else h.data for h, a in zip(grad(dot, xs, allow_unused=True), arrays)
    ]


def _hvp_fd(f, arrays, vs):
    """H v by central differences of the (first-order) gradient along v."""
    plus = _first_grads(f, [a + EPS * v for a, v in zip(arrays, vs)])
    minus = _first_grads(f, [a - EPS * v for a, v in zip(arrays, vs)])
    return [(p - m) / (2 * EPS) for p, m in zip(plus, minus)]


def _directions(arrays, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape) for a in arrays]


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", CASES, ids=[c[0] for c in CASES])
def test_second_derivative_matches_finite_differences(name, fn, np_fn, shapes, kind):
    arrays = _inputs(shapes, kind, seed=2)
    f = _loss(fn, _weights(fn, arrays, seed=3))
    vs = _directions(arrays, seed=4)
    scale = 1e-3 if kind == "big" else 1.0  # logits around 1e3: the same relative step
    vs = [v * scale for v in vs]
    got = _hvp(f, arrays, vs)
    want = _hvp_fd(f, arrays, vs)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * scale, err_msg=name)


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", CASES, ids=[c[0] for c in CASES])
def test_jvp_matches_finite_differences(name, fn, np_fn, shapes, kind):
    arrays = _inputs(shapes, kind, seed=5)
    vs = _directions(arrays, seed=6)
    out, tangent = func.jvp(fn, [Tensor(a) for a in arrays], [Tensor(v) for v in vs])
    plus = fn(*[Tensor(a + EPS * v) for a, v in zip(arrays, vs)]).data
    minus = fn(*[Tensor(a - EPS * v) for a, v in zip(arrays, vs)]).data
    np.testing.assert_allclose(out.data, fn(*[Tensor(a) for a in arrays]).data, rtol=1e-12)
    assert tangent.shape == out.shape and tangent.dtype == np.float64
    big = 1e3 if kind == "big" else 1.0
    np.testing.assert_allclose(tangent.data, (plus - minus) / (2 * EPS), rtol=1e-5, atol=1e-6 * big)


# ---------------------------------------------------------------- PyTorch as the oracle

# The case functions use the engine's (numpy's) names; where PyTorch spells a method
# differently, the torch version of the case is given here.
TORCH = {
    "max all": lambda a: a.amax(),
    "max axis 1": lambda a: a.amax(1),
    "max axis -1 keepdims": lambda a: a.amax(-1, keepdim=True),
    "max axes (0,2)": lambda a: a.amax((0, 2)),
    "transpose reverse": lambda a: a.permute(2, 1, 0),
    "transpose perm": lambda a: a.permute(1, 2, 0),
    "transpose tuple": lambda a: a.permute(2, 0, 1),
    "softmax": lambda a: a.softmax(-1),
    "softmax axis 0": lambda a: a.softmax(0),
    "softmax huge": lambda a: a.softmax(-1),
    "log_softmax": lambda a: a.log_softmax(-1),
    "log_softmax axis 0": lambda a: a.log_softmax(0),
    "log_softmax huge": lambda a: a.log_softmax(-1),
    "log_softmax 1-d": lambda a: a.log_softmax(-1),
    "sum all keepdims": lambda a: a.sum((0, 1), keepdim=True),
    "sum keepdims": lambda a: a.sum(1, keepdim=True),
    "mean axis -2 keepdims": lambda a: a.mean(-2, keepdim=True),
    "index mask": lambda a: a[np_bool([True, False, True])],
}


def np_bool(values):
    import torch

    return torch.tensor(values)


def _torch_case(name, fn):
    import torch

    tfn = TORCH.get(name, fn)

    def run(*xs):
        out = tfn(*xs)
        return out if isinstance(out, torch.Tensor) else torch.as_tensor(out)

    return run


# cases that add a numpy constant: torch tensors do not take one (finite differences cover them)
TORCH_CASES = [c for c in CASES if "numpy" not in c[0]]


@pytest.mark.parametrize("name,fn,np_fn,shapes,kind", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_second_derivative_and_jvp_match_pytorch(name, fn, np_fn, shapes, kind):
    torch = pytest.importorskip("torch")
    arrays = _inputs(shapes, kind, seed=7)
    w = _weights(fn, arrays, seed=8)
    vs = _directions(arrays, seed=9)
    tfn = _torch_case(name, lambda *xs: fn(*xs))
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    tw = torch.tensor(w)
    loss = (tfn(*tx) * tw).sum()
    tg = torch.autograd.grad(loss, tx, create_graph=True)
    dot = sum((g * torch.tensor(v)).sum() for g, v in zip(tg, vs))
    want_hvp = (
        [
            h if h is not None else torch.zeros_like(x)
            for h, x in zip(torch.autograd.grad(dot, tx, allow_unused=True), tx)
        ]
        if dot.requires_grad
        else [torch.zeros_like(x) for x in tx]
    )
    got_hvp = _hvp(_loss(fn, w), arrays, vs)
    for g, h in zip(got_hvp, want_hvp):
        np.testing.assert_allclose(g, h.detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    _, want_t = torch.func.jvp(
        tfn, tuple(torch.tensor(a) for a in arrays), tuple(torch.tensor(v) for v in vs)
    )
    _, got_t = func.jvp(fn, [Tensor(a) for a in arrays], [Tensor(v) for v in vs])
    np.testing.assert_allclose(got_t.data, want_t.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- any order


@pytest.mark.parametrize(
    "name,f,derivatives",
    [
        ("x^3", lambda x: x**3, [lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6 + 0 * x]),
        (
            "tanh",
            lambda x: x.tanh(),
            [
                lambda x: 1 - np.tanh(x) ** 2,
                lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
                lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2),
            ],
        ),
        (
            "sigmoid",
            lambda x: x.sigmoid(),
            [
                lambda x: _s(x) * (1 - _s(x)),
                lambda x: _s(x) * (1 - _s(x)) * (1 - 2 * _s(x)),
                lambda x: _s(x) * (1 - _s(x)) * (1 - 6 * _s(x) + 6 * _s(x) ** 2),
            ],
        ),
    ],
)
def test_first_second_and_third_derivatives(name, f, derivatives):
    xs = np.array([-1.7, -0.3, 0.0, 0.4, 2.2])
    x = Tensor(xs, requires_grad=True)
    y = f(x).sum()
    for order, exact in enumerate(derivatives, start=1):
        (y,) = grad(y, x, create_graph=True)
        np.testing.assert_allclose(y.data, exact(xs), rtol=1e-12, atol=1e-12, err_msg=f"{name} order {order}")
        y = y.sum()
    # the same through the function transforms, nested three deep
    d3 = func.grad(func.grad(func.grad(lambda t: f(t).sum())))
    for xi in xs:
        np.testing.assert_allclose(d3(Tensor(xi, dtype=np.float64)).data, derivatives[2](xi), atol=1e-12)


def _s(x):
    return 1 / (1 + np.exp(-x))


def test_grad_follows_torch_autograd_grad():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    unused = Tensor([5.0], requires_grad=True)
    y = (x * x).sum()
    (gx,) = grad(y, x)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0, 6.0])
    assert not gx.requires_grad and x.grad is None  # no .grad written
    assert gx.dtype == np.float32
    with pytest.raises(RuntimeError, match="input 1 .* is not used"):
        grad(y, [x, unused])
    gx2, gu = grad(y, [x, unused], allow_unused=True)
    assert gu is None and np.array_equal(gx2.data, gx.data)
    with pytest.raises(RuntimeError, match="grad_outputs\\[0\\]"):
        grad(x * 2, x)  # more than one element: grad_outputs is required
    (gv,) = grad(x * 2, x, grad_outputs=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(gv.data, [2.0, 0.0, 4.0])
    (gc_,) = grad(y, x, create_graph=True)
    assert gc_.requires_grad and gc_._ctx.in_backward  # recorded by the backward pass


def test_grad_with_respect_to_an_intermediate_and_several_outputs():
    x = Tensor([0.5, -1.0], requires_grad=True, dtype=np.float64)
    h = x.tanh()
    y1, y2 = (h * h).sum(), (h * 3).sum()
    gh, gx = grad([y1, y2], [h, x])
    np.testing.assert_allclose(gh.data, 2 * h.data + 3)
    np.testing.assert_allclose(gx.data, (2 * h.data + 3) * (1 - h.data**2))


def test_create_graph_keeps_float32_and_frees_by_reference_counting():
    gc.collect()
    gc.disable()
    try:
        x = Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True, dtype=np.float32)
        w = Tensor(np.ones((3, 2)), requires_grad=True, dtype=np.float32)
        (g,) = grad(((x @ w).sigmoid() ** 2).sum(), x, create_graph=True)
        (h,) = grad((g * g).sum(), w)
        assert g.dtype == np.float32 and h.dtype == np.float32
        ref = weakref.ref(g._ctx)
        del g
        assert ref() is None  # the recorded backward graph died with its last tensor
    finally:
        gc.enable()


def test_a_long_chain_differentiates_twice_without_recursion():
    x = Tensor(0.1, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    (g,) = grad(y, x, create_graph=True)
    (h,) = grad(g, x, allow_unused=True)
    np.testing.assert_allclose(g.data, 1.0001**5000)
    assert h is None or float(h.data) == 0.0  # y is linear in x


# ---------------------------------------------------------------- func, against torch.func


def _mlp_loss(w1, b1, w2, x, y):
    return (((x @ w1 + b1).tanh() @ w2 - y) ** 2).mean()


def _mlp_args(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in [(3, 4), (4,), (4, 2), (5, 3), (5, 2)]]


def test_func_transforms_match_torch_func_in_shape_and_value():
    torch = pytest.importorskip("torch")
    arrays = _mlp_args()
    ts = [torch.tensor(a) for a in arrays]
    xs = [Tensor(a) for a in arrays]

    def close(ours, theirs):
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            if isinstance(o, tuple):  # nested: hessian with a tuple argnums
                close(o, t)
                continue
            assert not o.requires_grad  # plain results, as torch.func gives
            assert o.shape == tuple(t.shape)
            np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-9, atol=1e-12)

    tf = torch.func
    for argnums in (0, (0, 2), (1,)):
        close(func.grad(_mlp_loss, argnums)(*xs), tf.grad(_mlp_loss, argnums)(*ts))
        close(func.jacrev(_mlp_loss, argnums)(*xs), tf.jacrev(_mlp_loss, argnums)(*ts))
        close(func.jacfwd(_mlp_loss, argnums)(*xs), tf.jacfwd(_mlp_loss, argnums)(*ts))
    close(func.hessian(_mlp_loss)(*xs), tf.hessian(_mlp_loss)(*ts))  # (3, 4, 3, 4)
    close(func.hessian(_mlp_loss, (0, 1))(*xs), tf.hessian(_mlp_loss, (0, 1))(*ts))

    def layer(w, x):
        return (x @ w).sigmoid()

    close(func.jacrev(layer)(xs[0], xs[3]), tf.jacrev(layer)(ts[0], ts[3]))  # (5, 4, 3, 4): 2-D in, 2-D out
    close(func.jacfwd(layer, 1)(xs[0], xs[3]), tf.jacfwd(layer, 1)(ts[0], ts[3]))
    out, vjp_fn = func.vjp(layer, xs[0], xs[3])
    tout, tvjp = tf.vjp(layer, ts[0], ts[3])
    ct = np.random.default_rng(1).standard_normal(out.shape)
    close(out, tout)
    close(vjp_fn(Tensor(ct)), tvjp(torch.tensor(ct)))
    v = [np.ones((3, 4)), np.full((4,), 0.5)]
    out, tangent = func.jvp(lambda w, b: _mlp_loss(w, b, *xs[2:]), xs[:2], [Tensor(a) for a in v])
    tout, ttangent = tf.jvp(
        lambda w, b: _mlp_loss(w, b, *ts[2:]), tuple(ts[:2]), tuple(torch.tensor(a) for a in v)
    )
    close((out, tangent), (tout, ttangent))
    out, hvps = func.hvp(lambda w, b: _mlp_loss(w, b, *xs[2:]), xs[:2], [Tensor(a) for a in v])
    _, thvp = torch.autograd.functional.hvp(
        lambda w, b: _mlp_loss(w, b, *ts[2:]), tuple(ts[:2]), tuple(torch.tensor(a) for a in v)
    )
    close(hvps, thvp)


def test_func_without_torch_newton_step_and_hessian_symmetry():
    # f(a, b) = (a - 1)^4 + (a - b^2)^2: Newton's method with func.hessian converges to (1, 1)
    def f(p):
        a, b = p[0], p[1]
        return (a - 1.0) ** 4 + (a - b * b) ** 2

    p = Tensor([2.0, 2.0], dtype=np.float64)
    for _ in range(40):
        g = func.grad(f)(p)
        h = func.hessian(f)(p)
        assert h.shape == (2, 2)
        np.testing.assert_allclose(h.data, h.data.T, rtol=1e-12)
        p = Tensor(p.data - np.linalg.solve(h.data, g.data))
    np.testing.assert_allclose(p.data, [1.0, 1.0], atol=1e-4)
    # the hvp of func agrees with the full Hessian times v
    v = np.array([0.3, -0.7])
    _, (hv,) = func.hvp(f, (Tensor([0.5, 1.5], dtype=np.float64),), (Tensor(v),))
    np.testing.assert_allclose(hv.data, func.hessian(f)(Tensor([0.5, 1.5], dtype=np.float64)).data @ v)


def test_float32_stays_float32_through_every_transform():
    x = Tensor(np.linspace(-1, 1, 4), dtype=np.float32)
    f = lambda t: (t.sigmoid() * t).sum()  # noqa: E731
    assert func.grad(f)(x).dtype == np.float32
    assert func.jvp(f, (x,), (Tensor(np.ones(4)),))[1].dtype == np.float32
    assert func.jacrev(lambda t: t.tanh())(x).dtype == np.float32
    assert func.jacfwd(lambda t: t.tanh())(x).dtype == np.float32
    assert func.hessian(f)(x).dtype == np.float32
    assert not func.grad(f)(x).requires_grad  # plain results, as torch.func


def test_jvp_runs_no_backward_pass(monkeypatch):
    from tinygrad_mlp import autograd

    def refuse(*a, **k):
        raise AssertionError("a backward pass ran in forward mode")

    monkeypatch.setattr(autograd, "_backprop", refuse)
    x = Tensor(np.arange(6.0).reshape(2, 3), dtype=np.float64)
    _, t = func.jvp(lambda a: (a @ a.T).softmax(), (x,), (Tensor(np.ones((2, 3))),))
    assert t.shape == (2, 2)
    assert func.jacfwd(lambda a: a.exp())(x).shape == (2, 3, 2, 3)


class _Cube(Function):
    """An op of one's own, first-round style: backward on arrays, no tangent rule."""

    name = "my_cube"

    def forward(self, a):
        self.a = a
        return a**3

    def backward(self, g):
        return (3 * self.a**2 * g,)


def test_an_op_of_ones_own_without_rules_is_named():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = _Cube.apply(x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [3.0, 12.0])  # first order works
    with pytest.raises(NotImplementedError, match="op 'my_cube' has no tangent rule"):
        func.jvp(lambda t: _Cube.apply(t), (Tensor([1.0]),), (Tensor([1.0]),))
    with pytest.raises(RuntimeError, match="op 'my_cube' has a backward\\(g\\) on arrays only"):
        grad(_Cube.apply(x).sum(), x, create_graph=True)


# nested transforms with closures: each level's variable is its own (no perturbation
# confusion), and an inner result that depends on an outer variable keeps its graph
NESTED = [
    (
        "closure over the outer variable",
        lambda F, T: F.grad(lambda x: x * F.grad(lambda y: x * y)(T(1.0)))(T(1.0)),
    ),
    ("outer variable passed in", lambda F, T: F.grad(lambda x: F.grad(lambda y: x * y)(x))(T(1.0))),
    (
        "hessian inside grad",
        lambda F, T: F.grad(lambda x: (x * F.hessian(lambda y: (x * y * y).sum())(T([1.0]))).sum())(T([1.5])),
    ),
    (
        "jacfwd inside jacrev",
        lambda F, T: F.jacrev(lambda x: F.jacfwd(lambda y: x * y)(T([1.0])).sum())(T([2.0])),
    ),
    ("grad of grad of a product", lambda F, T: F.grad(F.grad(lambda x: (x**2) * x.exp()))(T(0.7))),
    ("jvp of grad", lambda F, T: F.jvp(F.grad(lambda x: x.tanh()), (T(0.3),), (T(1.0),))[1]),
]


@pytest.mark.parametrize("name,run", NESTED, ids=[n for n, _ in NESTED])
def test_nested_transforms_match_torch_func(name, run):
    torch = pytest.importorskip("torch")
    ours = run(func, lambda v: Tensor(v, dtype=np.float64))
    theirs = run(torch.func, lambda v: torch.tensor(v, dtype=torch.float64))
    assert not ours.requires_grad
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


def test_a_closure_over_a_tensor_that_requires_grad_keeps_its_graph():
    w = Tensor([2.0], requires_grad=True, dtype=np.float64)
    g = func.grad(lambda x: (x * x * w).sum())(Tensor([3.0], dtype=np.float64))  # 2 x w
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(w.grad, [6.0])  # d(2 x w)/dw = 2x


def test_transform_arguments_are_checked():
    x = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="primals and tangents must be tuples"):
        func.jvp(lambda t: t, x, x)
    with pytest.raises(TypeError, match="func.jacrev: f must return one Tensor"):
        func.jacrev(lambda t: (t, t))(x)
    _, vjp_fn = func.vjp(lambda t: t * 2, x)
    with pytest.raises(
        RuntimeError, match=r"func.vjp: the cotangent has shape \(3,\) but f's output has \(2,\)"
    ):
        vjp_fn(Tensor([1.0, 2.0, 3.0]))


def test_mutation_survivors_pinned_down():
    # abs at exactly 0: derivative and tangent 0, as PyTorch's sign(0)
    x = Tensor([0.0, -2.0, 3.0], requires_grad=True)
    (g,) = grad(x.abs().sum(), x)
    np.testing.assert_array_equal(g.data, [0.0, -1.0, 1.0])
    np.testing.assert_array_equal(
        func.jvp(lambda t: t.abs(), (x,), (Tensor([1.0, 1.0, 1.0]),))[1].data, [0, -1, 1]
    )
    # forward ops are not marked as backward-pass ops; those create_graph records are
    y = (x * x).sum()
    assert not y._ctx.in_backward
    (gy,) = grad(y, x, create_graph=True)
    assert gy._ctx.in_backward
    # a Jacobian with respect to an empty argument has the right (empty) shape
    jac = func.jacfwd(lambda t: t.sum() * Tensor([1.0, 2.0]))(Tensor(np.zeros((0, 3))))
    assert jac.shape == (2, 0, 3)
    with pytest.raises(TypeError, match="func.hvp: primals and tangents must be tuples"):
        func.hvp(lambda t: t.sum(), x, x)
    with pytest.raises(Exception, match="cross_entropy: target must be class indices"):
        from tinygrad_mlp import nn

        nn.cross_entropy(Tensor(np.zeros((3, 4))), np.zeros((3, 5)))
    np.testing.assert_array_equal(np.negative(x).data, -x.data)


@pytest.mark.parametrize(
    "transform, f, shape",
    [
        (func.jacrev, lambda t: t[:0], (0, 3)),  # an empty output: no backward pass, shape (0, 3)
        (func.jacfwd, lambda t: t[:0], (0, 3)),
        (func.jacrev, lambda t: t.reshape(1, 3)[:, :0] * 2, (1, 0, 3)),
        (func.jacfwd, lambda t: t.reshape(1, 3)[:, :0] * 2, (1, 0, 3)),
    ],
)
def test_jacobians_of_empty_outputs_have_their_shape(transform, f, shape):
    jac = transform(f)(Tensor(np.arange(3.0)))
    assert jac.shape == shape and jac.dtype == np.float64


_X2 = Tensor([1.0, 2.0])
BAD_TRANSFORM_CALLS = [
    (lambda: func.jvp(lambda t: t, (_X2,), (Tensor([1.0, 2.0, 3.0]),)), ValueError,
     r"func.jvp: tangent 0 has shape \(3,\) but primal 0 has \(2,\)"),
    (lambda: func.jvp(lambda t: t, (_X2,), (_X2, _X2)), ValueError, "func.jvp: 1 primals but 2 tangents"),
    (lambda: func.grad(lambda t: t)(_X2), RuntimeError, r"func.grad: f must return a one-element Tensor, got \(2,\)"),
    (lambda: func.grad(lambda t: t.sum(), argnums=1)(_X2), ValueError, "func.grad: argnums 1 is out of range"),
    (lambda: func.jacrev(lambda t: t, argnums=-2)(_X2), ValueError, "func.jacrev: argnums -2 is out of range"),
    (lambda: func.jacfwd(lambda t: t, argnums=())(_X2), ValueError, "func.jacfwd: argnums must not be empty"),
    (lambda: func.hvp(lambda t: t, (_X2,), (_X2,)), RuntimeError, "func.hvp: f must return a one-element Tensor"),
]  # fmt: skip


@pytest.mark.parametrize("call, error, match", BAD_TRANSFORM_CALLS)
def test_bad_transform_calls_say_what_is_wrong(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("argnums, want", [(1, [3.0]), (-1, [3.0]), (-2, [5.0]), ((1, 0), ([3.0], [5.0]))])
def test_argnums_count_from_either_end(argnums, want):
    got = func.grad(lambda a, b: (a * b).sum(), argnums)(Tensor([3.0]), Tensor([5.0]))
    got = [g.data for g in got] if isinstance(got, tuple) else [got.data]
    np.testing.assert_array_equal(got, want if isinstance(want, tuple) else [want])


def test_jacfwd_with_respect_to_an_empty_argument_keeps_a_tuple_of_outputs():
    jac = func.jacfwd(lambda t: (t.sum(), t * 2))(Tensor(np.zeros((0,))))
    assert isinstance(jac, tuple) and [j.shape for j in jac] == [(0,), (0, 0)]


@pytest.mark.parametrize("lift", [np.array, lambda v: v.tolist(), Tensor])
def test_hvp_takes_arrays_and_lists_as_primals(lift):
    out, (hv,) = func.hvp(
        lambda t: (t**3).sum(), (lift(np.array([1.0, 2.0])),), (lift(np.array([1.0, 0.0])),)
    )
    assert out.item() == 9.0 and not out.requires_grad  # x^3 summed; Hessian diag(6x) times e0
    np.testing.assert_array_equal(hv.data, [6.0, 0.0])
