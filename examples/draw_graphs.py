"""Pictures of what backward walks: a tiny scalar expression, micrograd style (its
value, its gradients, its graph, and backward step by step), then one training step
of the original MLP.

    python examples/draw_graphs.py [--out DIR]

Writes DIR/scalar.svg, DIR/scalar_steps/index.html and DIR/mlp_step.svg. Needs
Graphviz's dot; without it the .dot files are written instead.

The step captions quote each op's backward rule with these tensors' names in place of the
rule's letters, and write the gradient arriving at a node as ḡ (dL/d(node)), so that the
tensor named g here is never mistaken for it: "d(g*d)/dg = ḡ * d". The constant 0.25 is
"constant 0.25", and the rule for it is "no gradient needed for 0.25: skipped".
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from tinygrad_mlp import Tensor, nn
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
    for t, name in ((e, "e"), (f, "f"), (g, "g"), (L, "L")):
        t.name = name  # the pictures show "e = mul", "f = add", ...
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
        path = render_graph(
            L, os.path.join(args.out, "scalar.svg"), params=params, show_data=True, legend=True
        )
        print(f"the graph: {path}")
    except GraphvizMissing as exc:
        print(exc)

    # One training step of the original network, on a small synthetic batch.
    model = nn.MLP(rng=np.random.RandomState(0))
    x = Tensor(np.random.RandomState(1).rand(8, 784).astype(np.float32), name="x")
    loss = nn.sse_loss(model(x), Tensor(nn.one_hot(np.arange(8) % 10), name="y"))
    loss.backward()
    print(f"MLP step: loss {loss.item():.4f}; |dL/dW| per layer:", end="")
    print("".join(f" {np.linalg.norm(layer.W.grad):.2e}" for layer in model.layers))
    try:
        path = render_graph(
            loss, os.path.join(args.out, "mlp_step.svg"), params=dict(model.named_parameters()), legend=True
        )
        print(f"the MLP step: {path}")
    except GraphvizMissing as exc:
        print(exc)


if __name__ == "__main__":
    main()
