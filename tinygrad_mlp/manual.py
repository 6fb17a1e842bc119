"""The original hand-written network, kept as the reference automatic gradients are
checked against. Numpy only: no Tensor, no graph, every derivative written by hand.

For one layer, out = x @ W + b, and given dout = dL/d(out):

    dW = x.T @ dout          db = dout.sum(0)          dx = dout @ W.T

The network's output delta is ``(y_pred - y) * a * (1 - a)`` for a sigmoid output:
the gradient of 0.5 * sum((y_pred - y)**2), whatever loss the notebook printed.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), as the original wrote it (errstate: exp(-x) may overflow to inf,
    which gives the right limit 0)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


# name -> (activation, its derivative written in terms of the activation's output a)
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (lambda x: np.maximum(x, 0), lambda a: (a > 0).astype(a.dtype)),
    None: (lambda x: x, lambda a: np.ones_like(a)),
}


class FullyConnected:
    """out = x @ W + b, with the hand-written backward."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x @ W + b, keeping x for backward."""
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Fill ``dW`` and ``db`` from dout = dL/d(out); return dL/dx."""
        self.dW = self.x.T @ dout  # dL/dW = x.T @ dout
        self.db = dout.sum(axis=0)  # dL/db = sum of dout over the batch
        return dout @ self.W.T  # dL/dx = dout @ W.T


class ManualMLP:
    """The original MLP: fully connected layers, each followed by an activation whose
    derivative is taken from its output, trained by plain SGD.

    ``predict(x)`` runs forward; ``backward(dout)`` takes ``dout = y_pred - y`` and fills
    every layer's ``dW`` and ``db``; ``update(lr)`` takes one SGD step.
    """

    def __init__(
        self,
        sizes: tuple[int, ...] = (784, 128, 64, 32, 10),
        activation: str = "sigmoid",
        output_activation: str | None = "sigmoid",
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        for name in (activation, output_activation):
            if name not in ACTIVATIONS:
                raise ValueError(f"ManualMLP: unknown activation {name!r}")
        normal = rng.standard_normal if rng is not None else np.random.standard_normal
        self.sizes, self.activation, self.output_activation = tuple(sizes), activation, output_activation
        self.layers = [
            FullyConnected((normal((i, o)) * 0.01).astype(dtype), np.zeros(o, dtype=dtype))
            for i, o in zip(sizes[:-1], sizes[1:])
        ]
        self.outputs: list[np.ndarray] = []  # each layer's activation output, kept for backward

    def _act(self, i: int):
        return ACTIVATIONS[self.activation if i < len(self.layers) - 1 else self.output_activation]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward through every layer and activation, keeping each activation's output."""
        self.outputs = []
        for i, layer in enumerate(self.layers):
            x = self._act(i)[0](layer.forward(x))
            self.outputs.append(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Backpropagate ``dout`` = dL/d(y_pred); returns dL/dx of the input."""
        for i in reversed(range(len(self.layers))):
            delta = dout * self._act(i)[1](self.outputs[i])  # through the activation: times f'(z)
            dout = self.layers[i].backward(delta)
        return dout

    def update(self, lr: float) -> None:
        """One plain SGD step: W -= lr * dW, b -= lr * db."""
        for layer in self.layers:
            layer.W -= lr * layer.dW
            layer.b -= lr * layer.db

    @classmethod
    def from_mlp(cls, mlp) -> ManualMLP:
        """A ManualMLP holding copies of an ``nn.MLP``'s weights (same sizes, activations, dtype)."""
        manual = cls(
            mlp.sizes, mlp.activation, mlp.output_activation, dtype=mlp.dtype, rng=np.random.default_rng(0)
        )
        for mine, theirs in zip(manual.layers, mlp.layers):
            mine.W = theirs.W.data.copy()
            mine.b = theirs.b.data.copy()
        return manual

    def copy_to(self, mlp) -> None:
        """Write these weights into an ``nn.MLP`` of the same sizes, in place."""
        if tuple(mlp.sizes) != self.sizes:
            raise ValueError(f"copy_to: sizes differ: {self.sizes} here, {tuple(mlp.sizes)} in the MLP")
        for mine, theirs in zip(self.layers, mlp.layers):
            theirs.W.data[...] = mine.W
            theirs.b.data[...] = mine.b
