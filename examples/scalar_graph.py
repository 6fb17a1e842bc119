"""A tiny scalar expression, micrograd style: its value, its gradients, and the
picture of the graph backward walks.

    python examples/scalar_graph.py [--out DIR]

Writes DIR/scalar.svg (the expression) and DIR/scalar_steps/index.html (backward,
one step per picture). Needs Graphviz's dot; without it the .dot files are written.
"""

from __future__ import annotations

import argparse
import os

from tinygrad_mlp import Tensor
from tinygrad_mlp.viz import GraphvizMissing, render_backward_steps, render_graph


def expression():
    """L = tanh(a*b + c) * d, with every intermediate named as a learner would write it."""
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor(-3.0, requires_grad=True, name="b")
    c = Tensor(10.0, requires_grad=True, name="c")
    d = Tensor(-2.0, requires_grad=True, name="d")
    e = a * b
    f = e + c
    g = (f * 0.25).tanh()
    L = g * d
    return (a, b, c, d), L


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the pictures (default: out)")
    args = parser.parse_args()

    leaves, L = expression()
    params = {t.name: t for t in leaves}
    try:
        page = render_backward_steps(L, os.path.join(args.out, "scalar_steps"), params=params, show_data=True)
        print(f"backward, step by step: {page}")
    except GraphvizMissing as exc:
        print(exc)
    print(f"L = {L.item():.6f}")
    for t in leaves:
        print(f"dL/d{t.name} = {t.grad.item():+.6f}")
    try:
        print(
            f"the graph: {render_graph(L, os.path.join(args.out, 'scalar.svg'), params=params, show_data=True)}"
        )
    except GraphvizMissing as exc:
        print(exc)


if __name__ == "__main__":
    main()
