"""The teaching notebook's network, trained on the autograd engine: 784-128-64-32-10,
sigmoid everywhere, weights N(0, 1) * 0.01, the loss 0.5 * sum((y_pred - y)**2), SGD
lr 0.1, batch 125. Its default 2 epochs, the notebook's, show only the stall: test
accuracy near 22% with seed 0, and the first layer's gradient (printed each epoch) far
smaller than the last's. With --epochs 10 it takes off after a few epochs and ends near
96% (how many epochs the stall lasts depends on the seed and on the machine's float32
arithmetic: see benchmarks/readme_figures.py).

    python examples/train_original.py [--epochs 2] [--subset N] [--data DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tinygrad_mlp.cli import whole_number
from tinygrad_mlp.data import load_mnist
from tinygrad_mlp.train import ORIGINAL, build, fit, make_rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=whole_number(1), default=2)
    parser.add_argument("--subset", type=whole_number(1), help="train on the first N images only")
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument("--seed", type=whole_number(0), default=0)
    args = parser.parse_args()

    cfg = replace(ORIGINAL, epochs=args.epochs, subset=args.subset, seed=args.seed, grad_norms=True)
    data = load_mnist(args.data)
    rng = make_rng(cfg.seed)
    model, opt = build(cfg, rng)
    print(model)
    history = fit(model, opt, cfg, data, rng, progress=False)
    print(f"final test accuracy: {history[-1].test_acc:.2%}")
    if history[-1].test_acc < 0.5:
        print(
            "still in the stall: the gradients reaching the first layers are tiny; --epochs 10 shows it take off"
        )


if __name__ == "__main__":
    main()
