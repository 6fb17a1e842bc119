"""The teaching notebook's network, trained on the autograd engine: 784-128-64-32-10,
sigmoid everywhere, weights N(0, 1) * 0.01, the loss 0.5 * sum((y_pred - y)**2), SGD
lr 0.1, batch 125. Watch the first epochs stall near chance, then take off.

    python examples/train_original.py [--epochs 2] [--subset N] [--data DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tinygrad_mlp.data import load_mnist
from tinygrad_mlp.train import ORIGINAL, build, fit, make_rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, help="train on the first N images only")
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cfg = replace(ORIGINAL, epochs=args.epochs, subset=args.subset, seed=args.seed, grad_norms=True)
    data = load_mnist(args.data)
    rng = make_rng(cfg.seed)
    model, opt = build(cfg, rng)
    print(model)
    history = fit(model, opt, cfg, data, rng, progress=False)
    print(f"final test accuracy: {history[-1].test_acc:.2%}")


if __name__ == "__main__":
    main()
