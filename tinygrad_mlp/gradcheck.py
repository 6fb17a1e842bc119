"""Check backward against numerical differentiation, as ``torch.autograd.gradcheck`` does.

``gradcheck(fn, inputs)`` runs ``fn(*inputs)`` in float64 and compares, for every
element of every input that requires grad, the gradient from backward with the
central finite difference (f(x + eps) - f(x - eps)) / (2 eps).

A non-scalar output y is checked through a fixed random projection L = sum(v * y):
dL/dx is one vector-Jacobian product, and a random v makes a wrong Jacobian show
up (except with probability zero). On a mismatch the error names the input, the
element and both values of the worst element, not whole Jacobians.

Two more checks, as in PyTorch: backward run twice on the same graph gives the
same gradient (reentrant), and a zero upstream gradient gives zero gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .tensor import Tensor


class GradcheckError(AssertionError):
    """Backward disagrees with finite differences; the message says where and by how much."""


def _float64_copies(inputs: Sequence[Tensor]) -> list[Tensor]:
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    out = []
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradcheck: input {i} is a {type(t).__name__}, not a Tensor")
        out.append(Tensor(t.data.astype(np.float64), requires_grad=t.requires_grad, name=t.name))
    if not any(t.requires_grad for t in out):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    return out


def _analytical(fn: Callable, xs: list[Tensor], v: np.ndarray | None) -> list[np.ndarray | None]:
    for x in xs:
        x.grad = None
    y = fn(*xs)
    y.backward(v if v is not None else None)
    return [
        None if not x.requires_grad else (x.grad if x.grad is not None else np.zeros_like(x.data)) for x in xs
    ]


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare ``fn``'s backward with central finite differences in float64.

    Returns True, or raises :class:`GradcheckError` naming the input, the element
    index, the numerical and the analytical value of the worst element. Inputs are
    copied to float64 first (the originals are not touched).
    """
    xs = _float64_copies(inputs)
    y = fn(*xs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(y).__name__}")
    if not y.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    v = None
    if y.data.size != 1:
        v = np.random.default_rng(seed).standard_normal(y.shape)

    def loss() -> float:
        out = fn(*xs).data.astype(np.float64)
        return float(np.sum(out * v)) if v is not None else float(out.sum())

    analytical = _analytical(fn, xs, v)

    worst = None  # (excess over tolerance, input, index, numerical, analytical)
    for k, x in enumerate(xs):
        if not x.requires_grad:
            continue
        flat = x.data.reshape(-1)  # a view: writing to it perturbs x
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = loss()
            flat[j] = orig - eps
            minus = loss()
            flat[j] = orig
            num = (plus - minus) / (2 * eps)
            ana = float(analytical[k].reshape(-1)[j])
            excess = abs(ana - num) - (atol + rtol * abs(num))
            if not np.isfinite(ana) or (excess > 0 and (worst is None or excess > worst[0])):
                worst = (np.inf if not np.isfinite(ana) else excess, k, j, num, ana)
    if worst is not None:
        _, k, j, num, ana = worst
        idx = np.unravel_index(j, xs[k].shape)
        label = f"input {k}" + (f" ({xs[k].name})" if xs[k].name else "")
        raise GradcheckError(
            f"gradcheck: {label}, element {tuple(int(i) for i in idx)}: numerical {num:.10g} "
            f"vs analytical {ana:.10g} (difference {abs(num - ana):.3g}, tolerance "
            f"atol={atol} + rtol={rtol} * |numerical|)"
        )

    # Reentrant: a second backward on the same graph propagates the same gradient.
    for x in xs:
        x.grad = None
    y = fn(*xs)
    y.backward(v)
    first = [x.grad for x in xs]
    for x in xs:
        x.grad = None
    y.backward(v)
    for k, (a, b) in enumerate(zip(first, (x.grad for x in xs))):
        if a is not None and not np.array_equal(a, b):
            raise GradcheckError(
                f"gradcheck: input {k}: backward run twice on one graph gives different gradients"
            )

    # A zero upstream gradient gives zero gradients.
    for x in xs:
        x.grad = None
    fn(*xs).backward(np.zeros(y.shape))
    for k, x in enumerate(xs):
        if x.grad is not None and np.any(x.grad != 0):
            raise GradcheckError(f"gradcheck: input {k}: a zero upstream gradient gives a nonzero gradient")
    return True
