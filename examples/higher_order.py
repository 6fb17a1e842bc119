"""Beyond the first derivative: second derivatives, Newton's method, a Hessian-vector
product of the MLP's loss, forward vs reverse mode, and the picture of a double backward.

    python examples/higher_order.py [--out DIR] [--quick]

Everything here is computed by the engine; the exact values printed beside it are
worked out by hand (3x**2, 6x, ...) or by finite differences, so you can check it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tinygrad_mlp import Tensor, func, grad, nn


def second_derivatives() -> None:
    print("1. d/dx and d2/dx2 of x**3 at x = 2, by differentiating the gradient again")
    x = Tensor(2.0, requires_grad=True, dtype=np.float64)
    y = x**3
    (dy,) = grad(y, x, create_graph=True)  # 3x^2 = 12, recorded as a graph of its own
    (d2y,) = grad(dy, x, create_graph=True)  # 6x = 12
    (d3y,) = grad(d2y, x)  # 6
    print(
        f"   dy/dx = {dy.item():g} (3x^2 = 12), d2y/dx2 = {d2y.item():g} (6x = 12), d3y/dx3 = {d3y.item():g} (6)"
    )
    d2tanh = func.grad(func.grad(lambda t: t.tanh()))
    t = 0.5
    exact = -2 * np.tanh(t) * (1 - np.tanh(t) ** 2)
    print(
        f"   func.grad(func.grad(tanh))(0.5) = {d2tanh(Tensor(t, dtype=np.float64)).item():.12f}"
        f"  (-2 tanh(x)(1 - tanh(x)^2) = {exact:.12f})"
    )


def newton() -> None:
    print("2. Newton's method on f(a, b) = (1 - a)^2 + 10 (b - a^2)^2, minimum at (1, 1):")
    print("   p <- p - H(p)^-1 grad f(p), with func.grad and func.hessian")

    def f(p):
        a, b = p[0], p[1]
        return (1.0 - a) ** 2 + 10.0 * (b - a * a) ** 2

    p = Tensor([-1.2, 1.0], dtype=np.float64)
    for step in range(8):
        g, h = func.grad(f)(p), func.hessian(f)(p)
        if True:
            print(f"   step {step:2d}: p = ({p.data[0]:.6f}, {p.data[1]:.6f}), f = {f(p).item():.3e}")
        p = Tensor(p.data - np.linalg.solve(h.data, g.data))


def mlp_hvp() -> None:
    print("3. A Hessian-vector product of the original MLP's loss (784-128-64-32-10, sigmoid, 0.5*SSE)")
    rng = np.random.default_rng(0)
    model = nn.MLP((784, 128, 64, 32, 10), dtype=np.float64, rng=rng)
    params = [p.data for p in model.parameters()]
    x = Tensor(rng.random((16, 784)))
    y = Tensor(nn.one_hot(rng.integers(0, 10, 16), 10, np.float64))

    def loss(*ps):
        h = x
        for w, b in zip(ps[0::2], ps[1::2]):
            h = (h @ w + b).sigmoid()
        return nn.sse_loss(h, y)

    v = [rng.standard_normal(p.shape) for p in params]
    _, hv = func.hvp(loss, [Tensor(p) for p in params], [Tensor(t) for t in v])
    # check: central differences of the gradient along v
    eps = 1e-5

    def gradient(ps):
        leaves = [Tensor(p, requires_grad=True) for p in ps]
        return [g.data for g in grad(loss(*leaves), leaves)]

    plus = gradient([p + eps * t for p, t in zip(params, v)])
    minus = gradient([p - eps * t for p, t in zip(params, v)])
    fd = np.concatenate([((a - b) / (2 * eps)).ravel() for a, b in zip(plus, minus)])
    ours = np.concatenate([h.data.ravel() for h in hv])
    rel = np.abs(ours - fd).max() / np.abs(fd).max()
    n = sum(p.size for p in params)
    print(f"   H v for all {n:,} parameters at once (the Hessian itself would have {n * n:.1e} entries);")
    print(f"   largest difference from finite differences of the gradient: {rel:.1e} of the largest entry")


def forward_vs_reverse(quick: bool) -> None:
    print("4. A full Jacobian of f(x) = tanh(x @ W), n inputs -> m outputs: forward vs reverse mode")
    print("   forward mode: one pass per INPUT (n jvps); reverse mode: one pass per OUTPUT (m vjps)")
    rng = np.random.default_rng(1)
    sizes = [(1, 64), (8, 64), (64, 64), (64, 8), (64, 1)] if not quick else [(2, 16), (16, 2)]
    print(f"   {'n in':>5} {'m out':>6} {'jacfwd ms':>10} {'jacrev ms':>10}  faster")
    for n, m in sizes:
        w = Tensor(rng.standard_normal((n, m)))
        x = Tensor(rng.standard_normal(n))

        def f(t, w=w):
            return (t @ w).tanh()

        timings = {}
        for name, jac in (("jacfwd", func.jacfwd), ("jacrev", func.jacrev)):
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                j = jac(f)(x)
                best = min(best, time.perf_counter() - t0)
            assert j.shape == (m, n)
            timings[name] = best
        faster = "forward" if timings["jacfwd"] < timings["jacrev"] else "reverse"
        print(f"   {n:5d} {m:6d} {timings['jacfwd'] * 1e3:10.2f} {timings['jacrev'] * 1e3:10.2f}  {faster}")
    print("   A loss has one output and a network has many inputs (its weights): reverse mode")
    print("   gets the whole gradient in one backward pass. That is why backprop is reverse mode.")


def draw(out: str) -> None:
    from tinygrad_mlp.viz import GraphvizMissing, render_graph

    print("5. The graph of a gradient: dy/dx of y = x**3, recorded with create_graph=True")
    x = Tensor(2.0, requires_grad=True, name="x")
    (dy,) = grad(x**3, x, create_graph=True)
    dy.name = "dy/dx"
    os.makedirs(out, exist_ok=True)
    try:
        path = render_graph(dy, os.path.join(out, "double_backward.svg"), legend=True)
    except GraphvizMissing as exc:
        print(f"   (not drawn: {exc})")
        return
    print(f"   written to {path}. Every op in it was recorded by backprop itself (dashed orange boxes):")
    print("   pow's rule computed seed * (3 * x**2), where seed = dy/dy = 1 is the gradient backward")
    print("   starts from. The forward op x**3 is not in dy/dx's graph: the gradient does not use its")
    print("   output. Differentiating this graph again (grad(dy, x)) gives d2y/dx2 = 6x = 12.")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out", help="folder for the picture (default: out)")
    p.add_argument("--quick", action="store_true", help="smaller timing table (for the tests)")
    args = p.parse_args(argv)
    second_derivatives()
    newton()
    mlp_hvp()
    forward_vs_reverse(args.quick)
    draw(args.out)


if __name__ == "__main__":
    main()
