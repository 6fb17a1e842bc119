"""Pictures of computation graphs, with Graphviz: what backprop walks.

    draw_graph(loss, params=dict(model.named_parameters()))   # a graphviz.Digraph: shows inline in Jupyter
    to_dot(loss)                                              # its DOT source
    render_graph(loss, "step.svg")                            # a file (svg, png, pdf or dot)
    render_backward_steps(loss, "steps/")                     # backward step by step: an HTML viewer

The layout reads top to bottom (``rankdir="TB"``, the default; ``"LR"`` turns it on its
side): the data path from the input to the output runs down one straight column, and
each parameter or input that feeds a single op sits on the same row as that op, beside
it. With ``params``, each layer's matmul, bias add and activation sit in one dashed box
named after the layer (``layers.0``); the boxes line up under each other.

Legend (one box per tensor, monospace text: its name when it has one, then the op that
made it; shape and dtype; the value of a one-element tensor, and of any tensor of up to
16 elements with ``show_data``; its gradient once backward has run: ``grad = 1`` for
one element, else ``grad |g| = norm``):

- light blue box: a parameter (a leaf that requires grad), named from ``params``;
- grey box: an input (a leaf that does not require grad); dashed: a constant;
- white rounded box: the result of an op (add, matmul, sigmoid, ...);
- orange dashed rounded box: an op recorded by a backward pass (``grad(...,
  create_graph=True)``): its Function carries ``in_backward = True``;
- green box: the output the graph was drawn from;
- red border: the node ``highlight`` names (the step viewer: the node backward is processing);
- with ``agreement``, a parameter is green-filled when its gradient was verified, red when not.

Edges follow the forward data flow (``direction="backward"`` turns them around, the
way gradients flow). Node ids are counters in a deterministic walk, so one graph always
gives the same DOT text. Graphs larger than ``max_nodes`` (default: 1,000, so that
rendering never runs away) are cut, the nodes nearest the output kept, with a node that
says how many were left out.

Rendering needs Graphviz's ``dot`` program (Debian/Ubuntu: ``apt-get install
graphviz``; macOS: ``brew install graphviz``). Without it, ``render_graph`` still
writes the .dot file and raises :class:`GraphvizMissing`, saying how to render it.
"""

from __future__ import annotations

import glob
import html
import inspect
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import graphviz
import numpy as np

from . import autograd
from ._files import atomic_write
from .tensor import Tensor

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_MAX_NODES = 1000  # max_nodes=None draws at most this many: layout time grows fast with size
SMALL = 16  # show_data prints tensors of at most this many elements
# unary ops that stay inside the layer of the op feeding them (the activation after x @ W + b)
_FOLLOWS_LAYER = {"sigmoid", "relu", "tanh"}
STYLE = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "lightblue"},
    "input": {"shape": "box", "style": "filled", "fillcolor": "gray90"},
    "constant": {"shape": "box", "style": "filled,dashed", "fillcolor": "gray95", "fontcolor": "gray30"},
    "op": {"shape": "box", "style": "rounded"},
    "backward": {
        "shape": "box",
        "style": "rounded,dashed",
        "color": "darkorange3",
        "fontcolor": "darkorange4",
    },
    "output": {"shape": "box", "style": "filled", "fillcolor": "darkolivegreen1"},
}
LEGEND = (
    ("param", "parameter"),
    ("input", "input"),
    ("constant", "constant"),
    ("op", "op result"),
    ("backward", "backward-pass op"),
    ("output", "output"),
)
FONT = {"fontname": "monospace", "fontsize": "10"}  # 10 pt: readable when the picture is shown 1:1


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed; the .dot file was written instead."""


# ---------------------------------------------------------------- walking the graph


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


def _in_backward(t: Tensor) -> bool:
    """Whether a backward pass with ``create_graph=True`` recorded the op that made ``t``."""
    return bool(getattr(t._ctx, "in_backward", False))


def _kind(t: Tensor, root: Tensor) -> str:
    if t is root:
        return "output"
    if t._ctx is not None:
        return "backward" if _in_backward(t) else "op"
    if t.requires_grad:
        return "param"
    return "input" if (t.name is not None or t.data.size > 1) else "constant"


def _spine(root: Tensor, drawn: dict[int, Tensor]) -> list[Tensor]:
    """The data path: from ``root`` up the parent with the longest chain of ops above it
    (ties: op results, then inputs, then parameters, then the first), to a leaf."""
    depth: dict[int, int] = {}
    stack = [(root, False)]
    while stack:  # iterative post-order: parents get their depth before their children
        t, ready = stack.pop()
        if id(t) in depth:
            continue
        parents = [p for p in t.parents if id(p) in drawn]
        if ready or not parents:
            depth[id(t)] = 1 + max((depth[id(p)] for p in parents), default=-1)
        else:
            stack.append((t, True))
            stack.extend((p, False) for p in parents if id(p) not in depth)
    preference = {"op": 0, "backward": 0, "input": 1, "param": 2, "constant": 3}
    path = [root]
    while True:  # (Tensors compare elementwise, so they are told apart by id, never by ==)
        parents = [(i, p) for i, p in enumerate(path[-1].parents) if id(p) in drawn]
        if not parents:
            return path
        _, p = min(parents, key=lambda ip: (-depth[id(ip[1])], preference.get(_kind(ip[1], root), 4), ip[0]))
        path.append(p)


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


# ---------------------------------------------------------------- labels


def _num(v: float, digits: int = 4) -> str:
    """A number as a person writes it: 2, -0.5, 1.2e-05 (never "2.")."""
    return f"{float(v):.{digits}g}"


def _array(a: np.ndarray) -> str:
    return np.array2string(
        np.asarray(a), separator=", ", max_line_width=40, formatter={"float_kind": lambda v: _num(v, 3)}
    )


def _fmt_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 0:
        return "scalar"
    return "(" + ", ".join(map(str, shape)) + ")" if len(shape) != 1 else f"({shape[0]},)"


def _title(t: Tensor, name: str | None) -> str:
    """The first line of a node: the tensor's name, then the op that made it."""
    name = name or t.name
    if t.op:
        return f"{name} = {t.op}" if name else t.op
    if name:
        return name
    if t.requires_grad:
        return "parameter"
    return "constant" if t.data.size == 1 else "input"


def _label_lines(
    t: Tensor, name: str | None, show_data: bool, grad: np.ndarray | None
) -> tuple[list[str], int]:
    """The lines of a node's label, and how many of them (at the end) show the gradient."""
    lines = [_title(t, name), f"{_fmt_shape(t.shape)} {t.dtype}"]
    if t.data.size == 1:
        lines.append(f"value = {_num(t.data.item())}")
    elif show_data and t.data.size <= SMALL:
        lines += ("value = " + _array(t.data)).split("\n")
    grad_lines = []
    if grad is not None:
        if grad.size == 1:
            grad_lines.append(f"grad = {_num(grad.item())}")
        else:
            grad_lines.append(f"grad |g| = {_num(np.linalg.norm(grad), 3)}")
            if show_data and grad.size <= SMALL:
                grad_lines += ("grad = " + _array(grad)).split("\n")
    return lines + grad_lines, len(grad_lines)


# ---------------------------------------------------------------- the picture


@dataclass
class _Drawing:
    """A Digraph and what the SVG post-processing needs to know about its nodes."""

    graph: graphviz.Digraph
    ids: dict[int, str]  # id(tensor) -> node id ("n3")
    titles: dict[str, str] = field(default_factory=dict)  # node id -> tooltip
    grad_lines: dict[str, int] = field(default_factory=dict)  # node id -> trailing gradient lines


def _draw(
    root: Tensor,
    show_data: bool = False,
    show_grad: bool = True,
    rankdir: str = "TB",
    max_nodes: int | None = None,
    params: Mapping[str, Tensor] | None = None,
    direction: str = "forward",
    highlight: Tensor | None = None,
    grads: Mapping[int, np.ndarray] | None = None,
    agreement: Mapping[str, bool] | None = None,
    legend: bool = False,
) -> _Drawing:
    if direction not in ("forward", "backward"):
        raise ValueError(f"draw_graph: direction must be 'forward' or 'backward', got {direction!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    max_nodes = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    nodes, left_out = _walk(root, max_nodes)
    drawn = {id(t): t for t in nodes}
    names = {id(t): n for n, t in (params or {}).items()}
    ids = {id(t): f"n{i}" for i, t in enumerate(reversed(nodes))}  # inputs get the small numbers
    layer_of = _clusters(nodes, names) if names else {}
    spine = {id(t) for t in _spine(root, drawn)}
    consumers: dict[int, list[Tensor]] = {}
    for t in nodes:
        for p in {id(p): p for p in t.parents}.values():  # a tensor used twice by one op: one consumer
            consumers.setdefault(id(p), []).append(t)

    g = graphviz.Digraph(
        "graph",
        graph_attr={"rankdir": rankdir, "newrank": "true", "nodesep": "0.18", "ranksep": "0.2", **FONT},
        node_attr={**FONT, "margin": "0.07,0.045", "height": "0.3"},
        edge_attr={"arrowsize": "0.6"},
    )
    drawing = _Drawing(g, ids)
    clusters: dict[str, graphviz.Digraph] = {}
    beside: list[tuple[str, str]] = []  # (leaf, the op it feeds): drawn on one row
    kinds: set[str] = set()  # the kinds of box drawn: the legend shows only these
    for t in reversed(nodes):
        nid = ids[id(t)]
        kind = _kind(t, root)
        kinds.add(kind)
        grad = grads.get(id(t)) if grads is not None else t.grad
        attrs = dict(STYLE[kind])
        name = names.get(id(t))
        if agreement is not None and name in agreement:
            attrs["fillcolor"] = "palegreen" if agreement[name] else "salmon"
        if highlight is not None and t is highlight:
            attrs.update(color="red", penwidth="3")
        if id(t) in spine:
            attrs["group"] = "spine"  # dot keeps the edges between one group's nodes straight
        lines, n_grad = _label_lines(t, name, show_data, grad if show_grad else None)
        drawing.titles[nid] = "\n".join(lines[:2])
        drawing.grad_lines[nid] = n_grad
        users = consumers.get(id(t), [])
        if t._ctx is None and id(t) not in spine and len(users) == 1:
            beside.append((nid, ids[id(users[0])]))
        layer = layer_of.get(id(t)) or (name.rsplit(".", 1)[0] if name and "." in name else None)
        if layer is not None:
            if layer not in clusters:
                clusters[layer] = graphviz.Digraph(
                    f"cluster_{layer}",
                    graph_attr={"label": layer, "style": "rounded,dashed", "color": "gray50", **FONT},
                )
            clusters[layer].node(nid, "\n".join(lines), **attrs)
        else:
            g.node(nid, "\n".join(lines), **attrs)
    for sub in clusters.values():
        g.subgraph(sub)
    taken: set[str] = set()
    for leaf, op in beside:  # one leaf beside each op: two would need an edge across the other
        if op not in taken:
            taken.add(op)
            with g.subgraph() as row:
                row.attr(rank="same")
                row.node(leaf)
                row.node(op)
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
        drawing.titles["cut"] = f"{left_out} more tensors not shown"
        frontier = [t for t in nodes if any(id(p) not in ids for p in t.parents)]
        for t in frontier:
            ends = ("cut", ids[id(t)]) if direction == "forward" else (ids[id(t)], "cut")
            g.edge(*ends, style="dashed")
    if legend:
        _add_legend(g, ids[id(root)], kinds)
        drawing.titles["legend"] = "legend"
    return drawing


def draw_graph(
    root: Tensor,
    show_data: bool = False,
    show_grad: bool = True,
    rankdir: str = "TB",
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
    ``VerifyReport.agreement()``) colours parameters by verified agreement; ``legend``
    adds a small table of the colours.
    """
    return _draw(
        root, show_data, show_grad, rankdir, max_nodes, params, direction, highlight, grads, agreement, legend
    ).graph


def _add_legend(g: graphviz.Digraph, below: str, kinds: set[str] | None = None) -> None:
    """One compact node under the picture (below the node ``below``): a table of two
    rows with a cell per kind of box drawn (``kinds``; None: every kind)."""
    cells = []
    for kind, text in LEGEND:
        if kinds is not None and kind not in kinds:
            continue
        style = STYLE[kind]
        rounded = ' STYLE="ROUNDED"' if "rounded" in style["style"] else ""
        cells.append(
            f'<TD BGCOLOR="{style.get("fillcolor", "white")}" COLOR="{style.get("color", "black")}"{rounded}>'
            f'<FONT COLOR="{style.get("fontcolor", "black")}">{text}</FONT></TD>'
        )
    half = (len(cells) + 1) // 2
    rows = "".join(f"<TR>{''.join(cells[i : i + half])}</TR>" for i in (0, half))
    g.node("legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2">{rows}</TABLE>>',
           shape="plaintext", margin="0")  # fmt: skip
    g.edge(below, "legend", style="invis")


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


# ---------------------------------------------------------------- SVG post-processing

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)
_S = "{" + SVG_NS + "}"


def _svg_id(nid: str) -> str:
    """The id of a node's element in the tidied SVG (``node-n3`` for DOT's ``n3``)."""
    return f"node-{nid}"


def _tidy_svg(svg: bytes, drawing: _Drawing) -> ET.Element:
    """Parse dot's SVG and make it fit to show: tooltips say what a box is ("matmul
    (125, 10) float32", "x -> matmul") instead of internal ids ("n21"), the comments
    naming those ids go, each node's element gets the id :func:`_svg_id` gives it, and
    each gradient line of a label gets ``class="grad"``."""
    text = svg.decode()
    root = ET.fromstring(text[text.index("<svg") :])  # the comments and the doctype go here
    first_line = {nid: title.split("\n")[0] for nid, title in drawing.titles.items()}
    for g in root.iter(_S + "g"):
        title = g.find(_S + "title")
        kind = g.get("class")
        if title is None or kind not in ("node", "edge", "cluster", "graph"):
            continue
        if kind == "node":
            nid = title.text or ""
            g.set("id", _svg_id(nid))
            title.text = drawing.titles.get(nid, "")
            texts = g.findall(_S + "text")
            n_grad = drawing.grad_lines.get(nid, 0)
            for t in texts[len(texts) - n_grad :] if n_grad else []:
                t.set("class", "grad")
        elif kind == "edge":
            tail, _, head = (title.text or "").partition("->")
            title.text = f"{first_line.get(tail, tail)} \u2192 {first_line.get(head, head)}"
        elif kind == "cluster":
            title.text = (title.text or "").removeprefix("cluster_")
        else:
            title.text = "computation graph"
    return root


def _svg_text(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def render_graph(root: Tensor, path: str, format: str | None = None, **kwargs) -> str:
    """Write the picture of ``root``'s graph to ``path`` (format from ``format`` or the
    file's suffix: svg, png, pdf or dot), atomically; returns the path."""
    fmt = format or os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    if fmt not in FORMATS:
        raise ValueError(
            f"render_graph: unknown format {fmt!r} for {path}; choose one of {', '.join(FORMATS)}"
        )
    drawing = _draw(root, **kwargs)
    g = drawing.graph
    if fmt == "dot":
        data = g.source.encode()
    else:
        data = _pipe(g, fmt, os.path.splitext(path)[0] + ".dot")
        if fmt == "svg":
            svg = _svg_text(_tidy_svg(data, drawing))
            data = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + svg + "\n").encode()
    _write_atomic(path, data)
    return path


# ---------------------------------------------------------------- backprop, step by step

DONE_FILL = "#ffd966"  # a node whose gradient is complete
CURRENT_STROKE = "#d62728"  # the node backward is processing


def _backward_rule(ctx) -> str:
    """What an op's backward does, in its own words: the math comment of its ``vjp``
    (or ``backward``) method (``# d(a@b)/da = g @ b.T, ...``), else the "Backward: ..." sentence of its
    docstring, else the docstring's first line."""
    cls = type(ctx)
    source = ""
    for method in ("vjp", "backward"):  # the rule of the op itself, not the base class's default
        rule = getattr(cls, method, None)
        if rule is None or getattr(rule, "__qualname__", "").startswith("Function."):
            continue
        try:
            source = inspect.getsource(rule)
        except (OSError, TypeError):
            continue
        break
    math = re.search(r"#\s*((?:d\(|dL/)[^\n]*)", source)
    if math:
        return re.sub(r"\s+", " ", math.group(1)).strip()
    doc = inspect.getdoc(cls) or ""
    said = re.search(r"Backward:\s*(.+?)(?:\.(?:\s|$)|$)", doc, re.S)
    if said:
        return re.sub(r"\s+", " ", said.group(1)).strip()
    return doc.split("\n")[0] if doc else f"{getattr(ctx, 'name', cls.__name__)}'s backward"


def _grad_text(g: np.ndarray) -> str:
    return f"grad = {_num(g.item())}" if g.size == 1 else f"|g| = {_num(np.linalg.norm(g), 3)}"


def _describe(t: Tensor, g: np.ndarray, names: dict[int, str], root: Tensor) -> str:
    """What happens when backward reaches ``t``, in one or two sentences."""

    def call(x: Tensor) -> str:
        return names.get(id(x)) or x.name or x.op or "a leaf"

    shape = "a scalar" if t.ndim == 0 else f"of shape {_fmt_shape(t.shape)}"
    what = f"{_title(t, names.get(id(t)))}, {shape}"
    if t is root:
        start = f"Backward starts at the output {what} with {_grad_text(g)} (dL/dL)."
    else:
        start = f"{what}: its gradient is complete, {_grad_text(g)}."
    if t._ctx is None:
        return f"{start} A leaf: backward stops here and leaves the gradient in .grad."
    receivers = [call(p) for p, need in zip(t.parents, _needs(t)) if need]
    sends = f" and passes gradients on to {', '.join(receivers)}" if receivers else ""
    recorded = " (an op recorded by a backward pass)" if _in_backward(t) else ""
    rule = _backward_rule(t._ctx)
    return f"{start} {t.op}'s backward{recorded}{_operands(t, rule, call)}: {rule}{sends}."


def _operands(t: Tensor, rule: str, call) -> str:
    """ ", where a = sigmoid (2, 3) and b = layers.1.W (3, 2)": which tensors the letters
    of the rule stand for (the names its ``vjp`` gives its inputs, where the rule uses
    them), or "" when the rule names none."""
    try:
        params = list(inspect.signature(type(t._ctx).vjp).parameters.values())[3:]  # after self, g, out
    except (TypeError, ValueError):
        return ""
    if len(params) != len(t.parents) or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return ""  # a rule over *inputs: no letter to bind
    pairs = [
        f"{p.name} = {call(x)} {_fmt_shape(x.shape)}"
        for p, x in zip(params, t.parents)
        if re.search(rf"(?<![\w.]){re.escape(p.name)}(?!\w)", rule)
    ]
    if not pairs:
        return ""
    return ", where " + (", ".join(pairs[:-1]) + " and " + pairs[-1] if len(pairs) > 1 else pairs[0])


def _needs(t: Tensor) -> tuple[bool, ...]:
    needs = getattr(t._ctx, "needs_input_grad", ())
    return tuple(needs) if len(needs) == len(t.parents) else tuple(p.requires_grad for p in t.parents)


class _Steps:
    """One backward pass recorded step by step, drawn in one fixed layout: every frame
    is the same SVG (laid out once, with every gradient), restyled: finished nodes
    shaded, the current one outlined, the gradients not yet known left out."""

    def __init__(self, root: Tensor, visited: list[Tensor], known: dict[int, np.ndarray], kwargs: dict):
        self.root, self.visited, self.kwargs = root, visited, kwargs
        self.drawing = _draw(root, grads=known, **kwargs)
        ids = self.drawing.ids
        self.order = [_svg_id(ids[id(t)]) if id(t) in ids else None for t in visited]  # None: cut off
        self.names = {id(t): n for n, t in (kwargs.get("params") or {}).items()}
        self._svg: ET.Element | None = None

    def svg(self, dot_path: str = "backward_steps.dot") -> ET.Element:
        """The laid-out, tidied SVG (rendered once, on first use; without Graphviz,
        ``dot_path`` is written instead and GraphvizMissing raised)."""
        if self._svg is None:
            self._svg = _tidy_svg(_pipe(self.drawing.graph, "svg", dot_path), self.drawing)
        return self._svg

    def frame(self, step: int) -> str:
        """The SVG of step ``step`` (0-based), styled with attributes only (no CSS), so
        that it looks the same in any viewer."""
        root = ET.fromstring(ET.tostring(self.svg()))
        state = {nid: ("done" if k < step else "current" if k == step else "pending")
                 for k, nid in enumerate(self.order) if nid is not None}  # fmt: skip
        for g in root.iter(_S + "g"):
            if g.get("class") != "node" or g.get("id") not in state:
                continue
            st = state[g.get("id")]
            if st == "pending":
                for t in g.findall(_S + "text"):
                    if t.get("class") == "grad":
                        g.remove(t)
                continue
            shape = next((c for c in g if c.tag in (_S + "polygon", _S + "path", _S + "ellipse")), None)
            if shape is not None:
                shape.set("fill", DONE_FILL)
                if st == "current":
                    shape.set("stroke", CURRENT_STROKE)
                    shape.set("stroke-width", "3")
        return _svg_text(root)


class StepFrame:
    """One step of backward as a picture. In Jupyter it shows as SVG; every frame of
    one pass has the same layout. ``.svg`` is that picture, ``.source`` the DOT of
    the step drawn on its own (the node being processed outlined in red, the
    gradients known so far shown), and ``.step`` its index (0-based)."""

    def __init__(self, steps: _Steps, step: int, grads: dict[int, np.ndarray]):
        self._steps, self.step, self._grads = steps, step, grads

    @property
    def svg(self) -> str:
        """The SVG of this step, in the layout shared by all steps."""
        return self._steps.frame(self.step)

    @property
    def source(self) -> str:
        """DOT of this step on its own."""
        s = self._steps
        return draw_graph(s.root, highlight=s.visited[self.step], grads=self._grads, **s.kwargs).source

    def __repr__(self) -> str:
        s = self._steps
        t = s.visited[self.step]
        return f"<backward step {self.step + 1} of {len(s.visited)}: {_title(t, s.names.get(id(t)))}>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"image/svg+xml": self.svg, "text/plain": repr(self)}


def _trace(root: Tensor, grad) -> tuple[list[Tensor], list[dict[int, np.ndarray]]]:
    """Run backward from ``root``; the tensors in the order it visits them, and for each
    step the gradients known so far (tensor id -> gradient)."""
    visited: list[Tensor] = []
    known: dict[int, np.ndarray] = {}
    snapshots: list[dict[int, np.ndarray]] = []

    def on_visit(t: Tensor) -> None:
        visited.append(t)
        known[id(t)] = t.grad.copy()
        snapshots.append(dict(known))

    # the pictures show this pass's gradients, not what an earlier backward() left in .grad;
    # afterwards .grad holds both, as after any second backward()
    earlier = {t: t.grad for t in autograd.toposort(root) if t.grad is not None}
    for t in earlier:
        t.grad = None
    try:
        autograd.backward(root, grad, on_visit=on_visit)
    finally:
        for t, g in earlier.items():
            t.grad = g if t.grad is None else g + t.grad
    return visited, snapshots


def _record(root: Tensor, grad, kwargs: dict) -> tuple[_Steps, list[StepFrame], list[str]]:
    visited, snapshots = _trace(root, grad)
    steps = _Steps(root, visited, snapshots[-1] if snapshots else {}, kwargs)
    names = {id(t): n for n, t in (kwargs.get("params") or {}).items()}
    frames = [StepFrame(steps, k, snap) for k, snap in enumerate(snapshots)]
    captions = [
        f"step {k}/{len(visited)}: {_describe(t, snap[id(t)], names, root)}"
        for k, (t, snap) in enumerate(zip(visited, snapshots), start=1)
    ]
    return steps, frames, captions


def backward_frames(root: Tensor, grad=None, **kwargs) -> tuple[list[StepFrame], list[str]]:
    """Run ``root.backward(grad)`` and return one picture per node that backward
    visits, in that order, with a caption for each saying what that node's backward
    rule did. All pictures share one layout (nodes never move): nodes whose gradient
    is complete are shaded, the one being processed outlined in red, and gradients
    appear as they become known. Gradients left in ``.grad`` by an earlier call are
    not shown as known. ``kwargs`` are :func:`draw_graph`'s."""
    _, frames, captions = _record(root, grad, kwargs)
    return frames, captions


def render_backward_steps(
    root: Tensor,
    folder: str,
    grad=None,
    format: str = "svg",
    title: str = "Backprop, step by step",
    progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> str:
    """Run backward from ``root``; write one SVG per step to ``folder``
    (``step_001.svg`` ...; step files of an earlier run are removed first) and
    ``index.html``, a self-contained page that works offline: the graph laid out once,
    restyled step by step (buttons, arrow keys, Home/End; ``index.html#5`` opens step
    5 and the address follows the step, so back and forward work), zoom and pan, and a
    caption saying what each step's backward rule did. Returns the page's path."""
    if format != "svg":
        raise ValueError(
            f"render_backward_steps: the step pictures are SVG (format='svg'), got {format!r}; "
            f"render_graph(..., highlight=t) draws one step in another format"
        )
    steps, _, captions = _record(root, grad, kwargs)
    dot_path = os.path.join(folder, "steps.dot")
    try:
        svg = steps.svg(dot_path)  # dot runs here, once
    except GraphvizMissing:  # dot on the .dot file would give one picture, not the pages
        raise GraphvizMissing(
            f"Graphviz's dot program was not found, so {dot_path} was written instead; the step-by-step "
            f"pictures and page need dot itself: install Graphviz (apt-get install graphviz, or brew "
            f"install graphviz) and run this again"
        ) from None
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(glob.escape(folder), "step_[0-9][0-9][0-9]*.*")):
        if re.fullmatch(r"step_\d{3,}\.(svg|png|dot)", os.path.basename(old)):
            os.remove(old)
    n = len(steps.order)
    for k in range(n):
        path = os.path.join(folder, f"step_{k + 1:03d}.svg")
        _write_atomic(path, ('<?xml version="1.0" encoding="UTF-8"?>\n' + steps.frame(k) + "\n").encode())
        if progress is not None:
            progress(k + 1, n)
    data = [
        {"node": nid or "", "caption": caption.split(": ", 1)[1]}
        for nid, caption in zip(steps.order, captions)
    ]
    page = (
        _PAGE.replace("{title}", html.escape(title))
        .replace("{svg}", _svg_text(svg))
        .replace("{steps}", json.dumps(data).replace("</", "<\\/"))
        .replace("{done}", DONE_FILL)
        .replace("{current}", CURRENT_STROKE)
    )
    index = os.path.join(folder, "index.html")
    _write_atomic(index, page.encode())
    return index


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
html, body { height: 100%; margin: 0; }
body { font-family: system-ui, sans-serif; display: flex; flex-direction: column; }
header { padding: 0.5em 1em; border-bottom: 1px solid #ccc; }
h1 { font-size: 1.15em; margin: 0 0 0.4em; }
.bar { display: flex; gap: 0.35em; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: 0.15em 0.7em; }
#count { font-family: monospace; min-width: 7em; text-align: center; }
#caption { font-family: monospace; margin: 0.5em 0 0.2em; min-height: 3.9em; }  /* three lines: a long caption at 800 px does not move the graph */
.help { color: #555; font-size: 0.9em; margin: 0.2em 0 0; }
.swatch { display: inline-block; width: 1.2em; height: 0.8em; vertical-align: middle; border: 1px solid #888; }
#view { flex: 1; position: relative; overflow: hidden; background: #fcfcfc; cursor: grab; touch-action: none; }
#view.panning { cursor: grabbing; }
#canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
#canvas svg { display: block; }
g.node.pending text.grad { visibility: hidden; }
g.node.done > polygon, g.node.done > path, g.node.current > polygon, g.node.current > path { fill: {done}; }
g.node.current > polygon, g.node.current > path { stroke: {current}; stroke-width: 3px; }
</style></head><body>
<header>
<h1>{title}</h1>
<div class="bar">
<button id="first" title="first step (Home)">&laquo; first</button>
<button id="prev" title="previous step (left arrow)">&larr; previous</button>
<span id="count" aria-live="polite"></span>
<button id="next" title="next step (right arrow)">next &rarr;</button>
<button id="last" title="last step (End)">last &raquo;</button>
<span style="margin-left: 1.5em">zoom</span>
<button id="zoomout" title="zoom out (-)">&minus;</button>
<button id="zoomin" title="zoom in (+)">+</button>
<button id="fit" title="fit the graph in the window">fit</button>
<button id="actual" title="actual size (0)">1:1</button>
</div>
<p id="caption"></p>
<p class="help">Backward visits the graph from the output back to the inputs, one node per step.
<span class="swatch" style="background: {done}"></span> its gradient is complete,
<span class="swatch" style="border: 3px solid {current}"></span> being processed now;
a grad line appears when it is known. Drag to pan, wheel to zoom; the address (#N) follows the step.</p>
</header>
<div id="view"><div id="canvas">{svg}</div></div>
<script>
"use strict";
const STEPS = {steps};
const view = document.getElementById("view");
const canvas = document.getElementById("canvas");
const svg = canvas.querySelector("svg");
const nodes = new Map();
svg.querySelectorAll("g.node").forEach((g) => nodes.set(g.id, g));
let i = 0, scale = 1, tx = 0, ty = 0;

function place() { canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`; }

function reveal(g) {  // pan so that the current node is in view (only along the axis it left)
  if (!g) return;
  const r = g.getBoundingClientRect(), v = view.getBoundingClientRect(), m = 30;
  if (r.left < v.left + m || r.right > v.right - m) tx += v.left + v.width / 2 - (r.left + r.width / 2);
  if (r.top < v.top + m || r.bottom > v.bottom - m) ty += v.top + v.height / 2 - (r.top + r.height / 2);
  const w = svg.width.baseVal.value * scale, h = svg.height.baseVal.value * scale;
  if (w > v.width) tx = Math.min(m, Math.max(tx, v.width - w - m));  // no empty band past an edge
  if (h > v.height) ty = Math.min(m, Math.max(ty, v.height - h - m));
  place();
}

function show(k, how) {
  i = Math.max(0, Math.min(STEPS.length - 1, k));
  STEPS.forEach((s, j) => {
    const g = nodes.get(s.node);
    if (!g) return;
    g.classList.toggle("done", j < i);
    g.classList.toggle("current", j === i);
    g.classList.toggle("pending", j > i);
  });
  document.getElementById("count").textContent = `step ${i + 1} / ${STEPS.length}`;
  document.getElementById("caption").textContent = STEPS[i].caption;
  const hash = "#" + (i + 1);
  if (location.hash !== hash) {
    if (how === "replace") history.replaceState(null, "", hash);
    else location.hash = hash;  // a new history entry: the back button returns to the last step
  }
  reveal(nodes.get(STEPS[i].node));
}

function fromHash() { return (parseInt(location.hash.slice(1), 10) || 1) - 1; }

function zoom(factor, px, py) {  // zoom about the point (px, py) of the view
  const v = view.getBoundingClientRect();
  if (px === undefined) { px = v.width / 2; py = v.height / 2; }
  const s = Math.max(0.05, Math.min(8, scale * factor));
  tx = px - (px - tx) * (s / scale);
  ty = py - (py - ty) * (s / scale);
  scale = s;
  place();
}

function fit() {
  const v = view.getBoundingClientRect(), w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  scale = Math.min(2, v.width / w, v.height / h);
  tx = (v.width - w * scale) / 2;
  ty = (v.height - h * scale) / 2;
  place();
}

function actual() {
  const v = view.getBoundingClientRect(), w = svg.width.baseVal.value;
  scale = 1;
  tx = Math.max(0, (v.width - w) / 2);
  ty = 0;
  place();
  reveal(nodes.get(STEPS[i].node));
}

document.getElementById("first").onclick = () => show(0);
document.getElementById("prev").onclick = () => show(i - 1);
document.getElementById("next").onclick = () => show(i + 1);
document.getElementById("last").onclick = () => show(STEPS.length - 1);
document.getElementById("zoomin").onclick = () => zoom(1.25);
document.getElementById("zoomout").onclick = () => zoom(0.8);
document.getElementById("fit").onclick = fit;
document.getElementById("actual").onclick = actual;
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const act = {
    ArrowLeft: () => show(i - 1), ArrowRight: () => show(i + 1),
    Home: () => show(0), End: () => show(STEPS.length - 1),
    "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8), "0": actual,
  }[e.key];
  if (act) { act(); e.preventDefault(); }
});
view.addEventListener("wheel", (e) => {
  e.preventDefault();
  const v = view.getBoundingClientRect();
  zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - v.left, e.clientY - v.top);
}, { passive: false });
let drag = null;
view.addEventListener("pointerdown", (e) => {
  drag = { x: e.clientX, y: e.clientY, tx, ty };
  view.setPointerCapture(e.pointerId);
  view.classList.add("panning");
});
view.addEventListener("pointermove", (e) => {
  if (!drag) return;
  tx = drag.tx + e.clientX - drag.x;
  ty = drag.ty + e.clientY - drag.y;
  place();
});
view.addEventListener("pointerup", () => { drag = null; view.classList.remove("panning"); });
window.addEventListener("hashchange", () => show(fromHash(), "replace"));
actual();
show(fromHash(), "replace");
</script></body></html>
"""
