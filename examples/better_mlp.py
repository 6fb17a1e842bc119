"""A better MLP on the same engine: ReLU, He initialisation, softmax cross-entropy on
logits, Adam 1e-3 decayed by 0.8 each epoch, batch 128. 784-512-256-10 reaches 98.4%
test accuracy in 10 epochs (about 45 s of training with one BLAS thread on a 2-core machine).

    python examples/better_mlp.py [--epochs 10] [--subset N] [--save model.npz]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tinygrad_mlp import nn
from tinygrad_mlp.cli import whole_number
from tinygrad_mlp.data import load_mnist
from tinygrad_mlp.train import BETTER, accuracy, build, config_to_dict, fit, make_rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs",
        type=whole_number(0),
        default=BETTER.epochs,
        help="0: evaluate the untrained network",
    )
    parser.add_argument("--subset", type=whole_number(1), help="train on the first N images only")
    parser.add_argument("--hidden", default="512,256", help="hidden widths (default 512,256)")
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument("--save", help="write the trained model to this .npz checkpoint")
    args = parser.parse_args()

    try:
        sizes = (784, *(whole_number(1)(h) for h in args.hidden.split(",")), 10)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument --hidden: {exc}")
    cfg = replace(BETTER, sizes=sizes, epochs=args.epochs, subset=args.subset)
    data = load_mnist(args.data)
    rng = make_rng(cfg.seed)
    model, opt = build(cfg, rng)
    print(model)
    history = fit(model, opt, cfg, data, rng, progress=False)
    if history:
        print(f"final test accuracy: {history[-1].test_acc:.2%}")
    else:  # --epochs 0
        X_test, y_test = data[2].astype(model.dtype), data[3]
        print(
            f"no training (--epochs 0): the initial network's test accuracy is {accuracy(model, X_test, y_test):.2%}"
        )
    if args.save:
        nn.save_checkpoint(args.save, model, extra=opt.state_dict(), meta={"train": config_to_dict(cfg)})
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
