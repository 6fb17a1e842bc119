"""Automatic gradients beside the hand-written ones and numerical differences, on one
real MNIST batch: first with the loss the hand-written backward differentiates, then
with the cross-entropy the original notebook printed.

    python examples/verify_gradients.py [--data DIR] [--batch 125]
"""

from __future__ import annotations

import argparse

import numpy as np

from tinygrad_mlp import nn
from tinygrad_mlp.data import load_mnist
from tinygrad_mlp.manual import ManualMLP
from tinygrad_mlp.verify import compare_gradients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument("--batch", type=int, default=125)
    args = parser.parse_args()

    X, y, _, _ = load_mnist(args.data)
    x, labels = X[: args.batch].astype(np.float64), y[: args.batch]
    model = nn.MLP(dtype=np.float64, rng=np.random.default_rng(0))

    # The same weights in both networks give the same outputs...
    manual = ManualMLP.from_mlp(model)
    from tinygrad_mlp import Tensor

    gap = np.abs(manual.predict(x) - model(Tensor(x)).data).max()
    print(f"same weights, same outputs: max |difference| = {gap:.1e}\n")

    # ...and, for 0.5 * sum((y_pred - y)**2), the same gradients.
    print(compare_gradients(model, x, labels, loss="sse", steps=20), end="\n\n")

    # The notebook printed a cross-entropy but backpropagated the squared error:
    report = compare_gradients(model, x, labels, loss="printed_ce")
    print(report)
    print("\nautograd matches finite differences of the printed loss; the hand-written gradient does not.")


if __name__ == "__main__":
    main()
