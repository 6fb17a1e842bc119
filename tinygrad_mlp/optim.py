"""Optimizers with PyTorch's update rules, updating parameters in place.

    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad(); loss.backward(); opt.step()

A parameter whose ``.grad`` is None is left alone, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Holds the parameters; subclasses define ``step``."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not all(isinstance(p, Tensor) and p.requires_grad for p in self.params):
            raise ValueError(f"{type(self).__name__}: every parameter must be a Tensor that requires grad")
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr} (must be >= 0)")
        self.lr = lr
        # One scratch array per parameter, made at the first step, so that a step allocates
        # nothing (and a compiled step, which uses its own buffers, never holds them).
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)

    def _tmp(self, i: int) -> np.ndarray:
        """Parameter ``i``'s scratch array."""
        tmp = self._scratch[i]
        if tmp is None:
            tmp = self._scratch[i] = np.empty_like(self.params[i].data)
        return tmp

    def zero_grad(self) -> None:
        """Forget the gradients (set them to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's running state as arrays (for checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned."""


class SGD(Optimizer):
    """p -= lr * g, or with momentum m: buf = m * buf + g (buf = g at the first step), p -= lr * buf."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not momentum >= 0:
            raise ValueError(f"SGD: invalid momentum {momentum} (must be >= 0)")
        self.momentum = momentum
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        """p -= lr * g (with momentum: through the velocity buffer)."""
        lr, mu = self.lr, self.momentum
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if mu:
                buf = self.buffers[i]
                if buf is None:
                    buf = self.buffers[i] = g.astype(p.dtype)  # a copy
                else:
                    buf *= mu
                    buf += g
                g = buf
            tmp = self._scratch[i]
            step = np.multiply(g, lr, out=tmp if tmp is not None else self._tmp(i))  # lr * g, in place
            p.data -= step

    def state_dict(self) -> dict[str, np.ndarray]:
        """The momentum buffers, as ``momentum.<i>``."""
        return {f"momentum.{i}": b for i, b in enumerate(self.buffers) if b is not None}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the momentum buffers."""
        for i in range(len(self.params)):
            if f"momentum.{i}" in state:
                self.buffers[i] = np.array(state[f"momentum.{i}"], dtype=self.params[i].dtype)


class Adam(Optimizer):
    """Adam (Kingma & Ba), written as ``torch.optim.Adam`` computes it:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid betas {betas} (each in [0, 1))")
        if not eps >= 0:
            raise ValueError(f"Adam: invalid eps {eps}")
        self.betas, self.eps = betas, eps
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        root_bc2 = np.sqrt(1 - b2**self.t)
        for i, (p, m, v, tmp) in enumerate(zip(self.params, self.m, self.v, self._scratch)):
            g = p.grad
            if g is None:
                continue
            if tmp is None:
                tmp = self._tmp(i)
            m *= b1
            m += np.multiply(g, 1 - b1, out=tmp)  # m = b1 m + (1 - b1) g
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp  # v = b2 v + (1 - b2) g^2
            np.sqrt(v, out=tmp)
            tmp /= root_bc2
            tmp += self.eps  # denominator: sqrt(v) / sqrt(1 - b2^t) + eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp

    def state_dict(self) -> dict[str, np.ndarray]:
        """The step count ``t`` and the moments ``m.<i>``, ``v.<i>``."""
        state = {"t": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = m, v
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the step count and the moments."""
        self.t = int(state["t"])
        for i, p in enumerate(self.params):
            self.m[i] = np.array(state[f"m.{i}"], dtype=p.dtype)
            self.v[i] = np.array(state[f"v.{i}"], dtype=p.dtype)
