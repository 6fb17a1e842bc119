"""Pictures of computation graphs, with Graphviz: what backprop walks.

    draw_graph(loss, params=dict(model.named_parameters()))   # a graphviz.Digraph: shows inline in Jupyter
    to_dot(loss)                                              # its DOT source
    render_graph(loss, "step.svg")                            # a file (svg, png, pdf or dot)
    render_backward_steps(loss, "steps/")                     # one picture per backward step + an HTML flip book

Legend (one box per tensor, monospace text: what made it, shape and dtype, and its
gradient's shape and norm once backward has run):

- light blue box: a parameter (a leaf that requires grad), named from ``params``;
- grey box: an input (a leaf that does not require grad); dashed: a constant;
- white rounded box: the result of an op (add, matmul, sigmoid, ...);
- green box: the output the graph was drawn from;
- red border (step pictures): the node backward is processing;
- with ``agreement``, a parameter is green-filled when its gradient was verified, red when not.

Edges follow the forward data flow (``direction="backward"`` turns them around, the
way gradients flow). With ``params``, each layer's matmul, bias add and activation sit
in one box named after the layer (``layers.0``). Node ids are counters in a
deterministic walk, so one graph always gives the same DOT text. Graphs larger than
``max_nodes`` (default: 1,000, so that rendering never runs away) are cut, the nodes
nearest the output kept, with a node that says how many were left out.

Rendering needs Graphviz's ``dot`` program (Debian/Ubuntu: ``apt-get install
graphviz``; macOS: ``brew install graphviz``). Without it, ``render_graph`` still
writes the .dot file and raises :class:`GraphvizMissing`, saying how to render it.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping

import graphviz
import numpy as np

from . import autograd
from ._files import atomic_write
from .tensor import Tensor

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_MAX_NODES = 1000  # max_nodes=None draws at most this many: layout time grows fast with size
# unary ops that stay inside the layer of the op feeding them (the activation after x @ W + b)
_FOLLOWS_LAYER = {"sigmoid", "relu", "tanh"}
STYLE = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "lightblue"},
    "input": {"shape": "box", "style": "filled", "fillcolor": "gray90"},
    "constant": {"shape": "box", "style": "filled,dashed", "fillcolor": "gray95", "fontcolor": "gray30"},
    "op": {"shape": "box", "style": "rounded"},
    "output": {"shape": "box", "style": "filled", "fillcolor": "darkolivegreen1"},
}


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed; the .dot file was written instead."""


def _walk(root: Tensor, max_nodes: int) -> tuple[list[Tensor], int]:
    """The tensors of the graph, nearest to ``root`` first (breadth-first, parents in
    order), each once; cut at ``max_nodes``. Returns them and how many were left out."""
    seen = {id(root)}
    order = [root]
    i = 0
    while i < len(order):
        for p in order[i].parents:
            if id(p) not in seen:
                seen.add(id(p))
                order.append(p)
        i += 1
    if len(order) > max_nodes:
        return order[: max(max_nodes, 1)], len(order) - max(max_nodes, 1)
    return order, 0


def _kind(t: Tensor, root: Tensor) -> str:
    if t is root:
        return "output"
    if t._ctx is not None:
        return "op"
    if t.requires_grad:
        return "param"
    return "input" if (t.name is not None or t.data.size > 1) else "constant"


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")" if len(shape) != 1 else f"({shape[0]},)"


def _label(t: Tensor, name: str | None, show_data: bool, grad: np.ndarray | None) -> str:
    lines = [name or t.op or t.name or ("constant" if t.data.size == 1 else "tensor")]
    if name and t.op:
        lines[0] = f"{t.op}: {name}"
    lines.append(f"{_fmt_shape(t.shape)} {t.dtype}")
    if show_data and t.data.size <= 16:
        lines.append(np.array2string(t.data, precision=3, separator=", ", max_line_width=40))
    if grad is not None:
        lines.append(f"grad |g|={np.linalg.norm(grad):.3g}")
        if show_data and grad.size <= 16:
            lines.append("g=" + np.array2string(grad, precision=3, separator=", ", max_line_width=40))
    return "\n".join(lines)


def _clusters(nodes: list[Tensor], names: dict[int, str]) -> dict[int, str]:
    """id -> layer name for the ops that belong to a layer: those that take one of the
    layer's parameters, and an activation right after one of those."""
    layer_of: dict[int, str] = {}
    for t in reversed(nodes):  # parents before children
        if t._ctx is None:
            continue
        owners = [names[id(p)].rsplit(".", 1)[0] for p in t.parents if id(p) in names and "." in names[id(p)]]
        if owners:
            layer_of[id(t)] = owners[-1]
        elif t.op in _FOLLOWS_LAYER and id(t.parents[0]) in layer_of:
            layer_of[id(t)] = layer_of[id(t.parents[0])]
    return layer_of


def draw_graph(
    root: Tensor,
    show_data: bool = False,
    show_grad: bool = True,
    rankdir: str = "LR",
    max_nodes: int | None = None,
    params: Mapping[str, Tensor] | None = None,
    direction: str = "forward",
    highlight: Tensor | None = None,
    grads: Mapping[int, np.ndarray] | None = None,
    agreement: Mapping[str, bool] | None = None,
    legend: bool = False,
) -> graphviz.Digraph:
    """The graph that made ``root`` as a ``graphviz.Digraph`` (see the module docstring).

    ``params`` maps names to parameter tensors (``dict(model.named_parameters())``);
    ``grads`` (tensor id -> gradient) overrides the gradients shown (the step pictures
    use it); ``highlight`` gets a red border; ``agreement`` (name -> bool, e.g.
    ``VerifyReport.agreement()``) colours parameters by verified agreement.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(f"draw_graph: direction must be 'forward' or 'backward', got {direction!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    max_nodes = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    nodes, left_out = _walk(root, max_nodes)
    names = {id(t): n for n, t in (params or {}).items()}
    ids = {id(t): f"n{i}" for i, t in enumerate(reversed(nodes))}  # inputs get the small numbers
    layer_of = _clusters(nodes, names) if names else {}

    g = graphviz.Digraph(
        "graph",
        graph_attr={"rankdir": rankdir, "nodesep": "0.25", "ranksep": "0.35", "fontname": "monospace"},
        node_attr={"fontname": "monospace", "fontsize": "10", "margin": "0.12,0.06"},
        edge_attr={"arrowsize": "0.6"},
    )
    clusters: dict[str, graphviz.Digraph] = {}
    for t in reversed(nodes):
        kind = _kind(t, root)
        grad = grads.get(id(t)) if grads is not None else t.grad
        attrs = dict(STYLE[kind])
        name = names.get(id(t))
        if agreement is not None and name in agreement:
            attrs["fillcolor"] = "palegreen" if agreement[name] else "salmon"
        if highlight is not None and t is highlight:
            attrs.update(color="red", penwidth="3")
        label = _label(t, name, show_data, grad if show_grad else None)
        layer = layer_of.get(id(t)) or (name.rsplit(".", 1)[0] if name and "." in name else None)
        if layer is not None:
            if layer not in clusters:
                clusters[layer] = graphviz.Digraph(
                    f"cluster_{layer}",
                    graph_attr={"label": layer, "style": "rounded,dashed", "color": "gray50"},
                )
            clusters[layer].node(ids[id(t)], label, **attrs)
        else:
            g.node(ids[id(t)], label, **attrs)
    for sub in clusters.values():
        g.subgraph(sub)
    for t in reversed(nodes):
        for p in t.parents:
            if id(p) in ids:
                a, b = ids[id(p)], ids[id(t)]
                if direction == "forward":
                    g.edge(a, b)
                else:
                    g.edge(b, a, color="firebrick", fontcolor="firebrick")
    if left_out:
        g.node(
            "cut",
            f"... {left_out} more tensors not shown\n(max_nodes={max_nodes})",
            shape="note",
            color="gray40",
        )
        frontier = [t for t in nodes if any(id(p) not in ids for p in t.parents)]
        for t in frontier:
            ends = ("cut", ids[id(t)]) if direction == "forward" else (ids[id(t)], "cut")
            g.edge(*ends, style="dashed")
    if legend:
        _add_legend(g)
    return g


def _add_legend(g: graphviz.Digraph) -> None:
    with g.subgraph(name="cluster_legend") as leg:
        leg.attr(label="legend", style="rounded", color="gray70", fontname="monospace")
        for kind, text in (
            ("param", "parameter"),
            ("input", "input"),
            ("constant", "constant"),
            ("op", "op result"),
            ("output", "output"),
        ):
            leg.node(f"legend_{kind}", text, **STYLE[kind])


def to_dot(root: Tensor, **kwargs) -> str:
    """The DOT source of :func:`draw_graph`'s picture."""
    return draw_graph(root, **kwargs).source


def _write_atomic(path: str, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def _pipe(g: graphviz.Digraph, fmt: str, dot_path: str) -> bytes:
    """Render ``g`` with dot, or write ``dot_path`` and raise GraphvizMissing."""
    try:
        return g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        _write_atomic(dot_path, g.source.encode())
        raise GraphvizMissing(
            f"Graphviz's dot program was not found, so {dot_path} was written instead; install Graphviz "
            f"(apt-get install graphviz, or brew install graphviz) and run: dot -T{fmt} {dot_path} -o "
            f"{os.path.splitext(dot_path)[0]}.{fmt}"
        ) from None


def render_graph(root: Tensor, path: str, format: str | None = None, **kwargs) -> str:
    """Write the picture of ``root``'s graph to ``path`` (format from ``format`` or the
    file's suffix: svg, png, pdf or dot), atomically; returns the path."""
    fmt = format or os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    if fmt not in FORMATS:
        raise ValueError(
            f"render_graph: unknown format {fmt!r} for {path}; choose one of {', '.join(FORMATS)}"
        )
    g = draw_graph(root, **kwargs)
    data = g.source.encode() if fmt == "dot" else _pipe(g, fmt, os.path.splitext(path)[0] + ".dot")
    _write_atomic(path, data)
    return path


# ---------------------------------------------------------------- backprop, step by step


def backward_frames(root: Tensor, grad=None, **kwargs) -> tuple[list[graphviz.Digraph], list[str]]:
    """Run ``root.backward(grad)`` and return one picture per node that backward
    visits, in that order (the node being processed outlined in red, the gradients
    known so far filled in), with a caption for each. Gradients left in ``.grad`` by
    an earlier call are not shown as known."""
    visited: list[Tensor] = []
    known: dict[int, np.ndarray] = {}
    snapshots: list[dict[int, np.ndarray]] = []

    def on_visit(t: Tensor) -> None:
        visited.append(t)
        known[id(t)] = t.grad.copy()
        snapshots.append(dict(known))

    autograd.backward(root, grad, on_visit=on_visit)
    names = {id(t): n for n, t in (kwargs.get("params") or {}).items()}
    frames, captions = [], []
    for step, (t, snap) in enumerate(zip(visited, snapshots), start=1):
        frames.append(draw_graph(root, highlight=t, grads=snap, **kwargs))
        what = names.get(id(t)) or (t.op and f"the {t.op} node") or t.name or "a leaf"
        receivers = [names.get(id(p)) or p.op or p.name or "a leaf" for p in t.parents if p.requires_grad]
        rule = (
            f"; its backward sends gradients on to: {', '.join(receivers)}" if t.parents else "; a leaf: done"
        )
        captions.append(
            f"step {step}/{len(visited)}: {what}, shape {_fmt_shape(t.shape)}, has its full gradient, "
            f"|g|={np.linalg.norm(snap[id(t)]):.3g}{rule}"
        )
    return frames, captions


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: monospace; margin: 1em; }}
#caption {{ margin: 0.6em 0; min-height: 2.5em; }}
.frame {{ display: none; overflow: auto; }} .frame.on {{ display: block; }}
.frame svg {{ max-width: 100%; height: auto; }}
button {{ font: inherit; padding: 0.2em 1em; }}
</style></head><body>
<h2>{title}</h2>
<p>Backward visits the graph from the output back to the inputs. Each picture is one step: the
node outlined in red has just received its whole gradient; gradients known so far are shown.
Use the buttons or the left and right arrow keys (index.html#N opens step N).</p>
<div><button id="prev">&larr; previous</button> <span id="count"></span> <button id="next">next &rarr;</button></div>
<p id="caption"></p>
{frames}
<script>
const frames = document.querySelectorAll('.frame');
const captions = {captions};
let i = 0;
function show(k) {{
  i = Math.max(0, Math.min(frames.length - 1, k));
  frames.forEach((f, j) => f.classList.toggle('on', j === i));
  document.getElementById('caption').textContent = captions[i];
  document.getElementById('count').textContent = (i + 1) + ' / ' + frames.length;
}}
document.getElementById('prev').onclick = () => show(i - 1);
document.getElementById('next').onclick = () => show(i + 1);
document.addEventListener('keydown', e => {{
  if (e.key === 'ArrowLeft') show(i - 1);
  if (e.key === 'ArrowRight') show(i + 1);
}});
show(parseInt(location.hash.slice(1), 10) - 1 || 0);  // index.html#5 opens at step 5
</script></body></html>
"""


def render_backward_steps(
    root: Tensor,
    folder: str,
    grad=None,
    format: str = "svg",
    title: str = "Backprop, step by step",
    progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> str:
    """Run backward from ``root`` and write one picture per step to ``folder``
    (``step_001.svg`` ...) and ``index.html``, a self-contained page (every frame
    embedded as SVG) that flips through them. Returns the page's path."""
    import json

    if format not in ("svg", "png"):
        raise ValueError(f"render_backward_steps: format must be svg or png, got {format!r}")
    frames, captions = backward_frames(root, grad, **kwargs)
    os.makedirs(folder, exist_ok=True)
    svgs = []
    for k, frame in enumerate(frames, start=1):
        path = os.path.join(folder, f"step_{k:03d}.{format}")
        svg = _pipe(frame, "svg", os.path.join(folder, f"step_{k:03d}.dot"))
        _write_atomic(path, svg if format == "svg" else _pipe(frame, "png", path[:-4] + ".dot"))
        text = svg.decode()
        svgs.append(text[text.index("<svg") :])  # drop the XML prolog and doctype
        if progress is not None:
            progress(k, len(frames))
    body = "\n".join(f'<div class="frame" id="frame{k}">{s}</div>' for k, s in enumerate(svgs, start=1))
    page = _PAGE.format(title=html.escape(title), frames=body, captions=json.dumps(captions))
    index = os.path.join(folder, "index.html")
    _write_atomic(index, page.encode())
    return index
