"""Per-op overhead of the engine against the bare numpy calls it wraps.

    python benchmarks/overhead.py

Prints, for each case, the best-of-5 time of the engine, of bare numpy, and their
ratio. Cases: 10,000 ``a + b`` on 1-element tensors (pure bookkeeping cost), and a
125x784 @ 784x128 matmul forward + backward (the first layer of the MNIST MLP).
Not a test: timings belong here, not in the test suite.
"""

from __future__ import annotations

import timeit

import numpy as np

from tinygrad_mlp import Tensor, no_grad


def best(fn, number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    rows = []
    a_np, b_np = np.ones(1, np.float32), np.ones(1, np.float32)
    a, b = Tensor(a_np, requires_grad=True), Tensor(b_np, requires_grad=True)

    def add_engine():
        for _ in range(10_000):
            a + b

    def add_engine_no_grad():
        with no_grad():
            for _ in range(10_000):
                a + b

    def add_numpy():
        for _ in range(10_000):
            a_np + b_np

    rows.append(("10,000 a + b (recorded)", best(add_engine, 3), best(add_numpy, 3)))
    rows.append(("10,000 a + b (no_grad)", best(add_engine_no_grad, 3), best(add_numpy, 3)))

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((125, 784)).astype(np.float32)
    w_np = (rng.standard_normal((784, 128)) * 0.01).astype(np.float32)
    g_np = np.ones((125, 128), np.float32)
    x, w = Tensor(x_np), Tensor(w_np, requires_grad=True)

    def matmul_engine():
        w.grad = None
        (x @ w).backward(g_np)

    def matmul_numpy():
        _ = x_np @ w_np
        _ = x_np.T @ g_np  # dW; the input needs no gradient

    rows.append(("125x784 @ 784x128 fwd+bwd", best(matmul_engine, 50), best(matmul_numpy, 50)))

    print(f"{'case':32} {'engine':>12} {'numpy':>12} {'ratio':>7}")
    for name, t_engine, t_numpy in rows:
        print(f"{name:32} {t_engine * 1e3:9.3f} ms {t_numpy * 1e3:9.3f} ms {t_engine / t_numpy:7.2f}")
    print(
        f"per recorded add: {rows[0][1] / 10_000 * 1e6:.2f} us; per bare numpy add: {rows[0][2] / 10_000 * 1e6:.2f} us"
    )


if __name__ == "__main__":
    main()
