"""One picture of a computation graph, with Graphviz: what backprop walks.

    draw_graph(loss, params=dict(model.named_parameters()))   # a graphviz.Digraph: shows inline in Jupyter
    to_dot(loss)                                              # its DOT source
    render_graph(loss, "step.svg")                            # a file (svg, png at 2x, pdf or dot)

The layout reads top to bottom (``rankdir="TB"``, the default; ``"LR"`` turns it on its
side): the data path from the input to the output runs down one straight column, and
each parameter or input that feeds a single op sits on the same row as that op, beside
it. With ``params``, each layer's matmul, bias add and activation sit in one dashed box
named after the layer (``layers.0``); the boxes line up under each other.

Legend (one box per tensor, monospace text: its name when it has one, then the op that
made it; its shape, and its dtype unless every tensor has the same one (then the
picture says it once, at the bottom); the value of a one-element tensor, and of any
tensor of up to 16 elements with ``show_data``; its gradient once backward has run:
``grad = 1`` for one element, else ``grad |g| = norm``, the gradient's Euclidean norm):

- light blue box: a parameter (a leaf that requires grad), named from ``params``;
- grey box: an input (a leaf that does not require grad); dashed: a constant, named by its
  value (``constant 0.25``);
- white rounded box: the result of an op (add, matmul, sigmoid, ...; ``pow (**3)`` shows its
  exponent, and ``x.mean()``, which the engine records as a sum times 1/n, is drawn as one
  ``mean`` box);
- orange dashed rounded box: an op recorded by a backward pass (``grad(...,
  create_graph=True)``): its Function carries ``in_backward = True``;
- green box: the output the graph was drawn from;
- dashed grey frame: a layer (with ``params``): its parameters and the ops they feed;
- red border: the node ``highlight`` names (the step viewer: the node backward is processing);
- with ``agreement``, a parameter is green-filled when its gradient was verified, red when not.

Edges follow the forward data flow (``direction="backward"`` turns them around, the
way gradients flow, and leaves out the arrows into tensors that get no gradient). A fused
loss that takes its target as an option (``cross_entropy``) shows the target as an input
box all the same. Node ids are counters in a deterministic walk, so one graph always gives
the same DOT text; the SVG tooltips name tensors, never those ids. Graphs larger than
``max_nodes`` (default: 1,000, so that rendering never runs away) are cut, the nodes
nearest the output kept, with a node that says how many were left out.

Rendering needs Graphviz's ``dot`` program (Debian/Ubuntu: ``apt-get install
graphviz``; macOS: ``brew install graphviz``). Without it, ``render_graph`` still
writes the .dot file and raises :class:`GraphvizMissing`, saying how to render it.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import graphviz
import numpy as np

from .._files import atomic_write
from ..tensor import Tensor

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI = 192  # twice the 96 dpi of a plain screen: sharp on high-density screens
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
    ("backward", "op of a backward pass"),
    ("output", "output"),
)
FONT = {"fontname": "monospace", "fontsize": "10"}  # 10 pt: readable when the picture is shown 1:1
# room around the text: rounded corners clear of it (0.11 in ~ 8 pt across, 0.07 in ~ 5 pt down)
NODE_MARGIN = "0.11,0.07"
LINE_PAD = "1"  # pt above and below each line of a label


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


def _needs(t: Tensor) -> tuple[bool, ...]:
    """Which of the op's inputs get a gradient from its backward rule."""
    needs = getattr(t._ctx, "needs_input_grad", ())
    return tuple(needs) if len(needs) == len(t.parents) else tuple(p.requires_grad for p in t.parents)


def _means(nodes: list[Tensor]) -> dict[int, Tensor]:
    """id(product) -> the sum it scales, for each ``x.mean()`` among ``nodes``: the engine
    records a mean as ``x.sum(axis) * (1/n)`` (one sum rule to trust, and the numpy API's
    np.mean uses it too), and the picture draws the pair as the one ``mean`` the user wrote.
    A sum counts only when nothing else uses it or the constant, and the constant is
    exactly 1/n for the number of elements summed into each output."""
    users: dict[int, int] = {}
    for t in nodes:
        for p in {id(p): p for p in t.parents}.values():
            users[id(p)] = users.get(id(p), 0) + 1
    found = {}
    for t in nodes:
        if t.op != "mul" or len(t.parents) != 2:
            continue
        s, c = t.parents
        if (s.op != "sum" or s.name is not None or users.get(id(s)) != 1 or _in_backward(s) != _in_backward(t)
                or c._ctx is not None or c.requires_grad or c.name is not None or c.data.size != 1
                or users.get(id(c)) != 1):  # fmt: skip
            continue
        n = s.parents[0].data.size // max(s.data.size, 1)
        if n > 0 and c.data.item() == np.asarray(1.0 / n, dtype=c.dtype).item():
            found[id(t)] = s
    return found


class _View:
    """The graph as the picture shows it: each mean's sum and constant folded into its box."""

    def __init__(self, nodes: list[Tensor]):
        self.means = _means(nodes)
        self.hidden = {id(x) for t in nodes if id(t) in self.means for x in t.parents}

    def parents(self, t: Tensor) -> tuple[Tensor, ...]:
        s = self.means.get(id(t))
        return s.parents if s is not None else t.parents

    def needs(self, t: Tensor) -> tuple[bool, ...]:
        s = self.means.get(id(t))
        return _needs(s if s is not None else t)

    def op(self, t: Tensor) -> str:
        """The op a box shows: ``mean`` for a folded mean, the exponent of a power."""
        if id(t) in self.means:
            return "mean"
        if t.op == "pow" and isinstance(getattr(t._ctx, "p", None), (int, float)):
            return f"pow (**{_num(t._ctx.p)})"
        return t.op


def _spine(root: Tensor, drawn: dict[int, Tensor], parents: Callable) -> list[Tensor]:
    """The data path: from ``root`` up the parent with the longest chain of ops above it
    (ties: op results, then inputs, then parameters, then the first), to a leaf."""
    depth: dict[int, int] = {}
    stack = [(root, False)]
    while stack:  # iterative post-order: parents get their depth before their children
        t, ready = stack.pop()
        if id(t) in depth:
            continue
        ps = [p for p in parents(t) if id(p) in drawn]
        if ready or not ps:
            depth[id(t)] = 1 + max((depth[id(p)] for p in ps), default=-1)
        else:
            stack.append((t, True))
            stack.extend((p, False) for p in ps if id(p) not in depth)
    preference = {"op": 0, "backward": 0, "input": 1, "param": 2, "constant": 3}
    path = [root]
    while True:  # (Tensors compare elementwise, so they are told apart by id, never by ==)
        ps = [(i, p) for i, p in enumerate(parents(path[-1])) if id(p) in drawn]
        if not ps:
            return path
        _, p = min(ps, key=lambda ip: (-depth[id(ip[1])], preference.get(_kind(ip[1], root), 4), ip[0]))
        path.append(p)


def _clusters(nodes: list[Tensor], names: dict[int, str], parents: Callable) -> dict[int, str]:
    """id -> layer name for the ops that belong to a layer: those that take one of the
    layer's parameters, and an activation right after one of those."""
    layer_of: dict[int, str] = {}
    for t in reversed(nodes):  # parents before children
        if t._ctx is None:
            continue
        ps = parents(t)
        owners = [names[id(p)].rsplit(".", 1)[0] for p in ps if id(p) in names and "." in names[id(p)]]
        if owners:
            layer_of[id(t)] = owners[-1]
        elif t.op in _FOLLOWS_LAYER and id(ps[0]) in layer_of:
            layer_of[id(t)] = layer_of[id(ps[0])]
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


def _is_constant(t: Tensor) -> bool:
    """An unnamed one-element leaf that needs no gradient: a number in the user's code."""
    return t._ctx is None and not t.requires_grad and t.name is None and t.data.size == 1


def _title(t: Tensor, name: str | None, op: str | None = None) -> str:
    """The first line of a node: the tensor's name, then the op that made it; a
    constant says its value."""
    name = name or t.name
    op = op or t.op
    if op:
        return f"{name} = {op}" if name else op
    if name:
        return name
    if t.requires_grad:
        return "parameter"
    return f"constant {_num(t.data.item())}" if _is_constant(t) else "input"


def _label_lines(
    t: Tensor, title: str, show_data: bool, grad: np.ndarray | None, dtype: bool
) -> tuple[list[str], int]:
    """The lines of a node's label, and how many of them (at the end) show the gradient.
    ``dtype``: whether to say the tensor's dtype (not when every tensor has the same)."""
    lines = [title, f"{_fmt_shape(t.shape)} {t.dtype}" if dtype else _fmt_shape(t.shape)]
    if _is_constant(t):
        lines = lines[:1] + lines[1:] * dtype  # "constant 0.25" says the value; the shape is scalar
    elif t.data.size == 1:
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


def _dot_label(lines: list[str]) -> str:
    """A label of several lines, each centred: an HTML-like table of one row per line, so
    that the lines get room between them (dot packs plain lines at 1.1 times the font
    size, so that an underscore runs into the line below and vanishes at 1x)."""
    rows = "".join(f"<TR><TD>{_html(line)}</TD></TR>" for line in lines)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="{LINE_PAD}">{rows}</TABLE>>'


# ---------------------------------------------------------------- the picture


class Picture(graphviz.Digraph):
    """What :func:`draw_graph` returns: a ``graphviz.Digraph`` (``.source``, ``.render``,
    ``.pipe``) that shows in Jupyter with tooltips naming its tensors (dot's own SVG
    would show its internal node ids, ``n3``, ``cluster_layers.0``)."""

    _drawing: _Drawing | None = None

    def _repr_image_svg_xml(self) -> str:
        svg = self.pipe(format="svg")
        if self._drawing is None:
            return svg.decode()
        return _svg_text(_tidy_svg(svg, self._drawing))


@dataclass
class _Drawing:
    """A Digraph and what the SVG post-processing and the step pictures need to know."""

    graph: Picture
    ids: dict[int, str]  # id(tensor) -> node id ("n3"); a mean's hidden sum -> its box
    titles: dict[str, str] = field(default_factory=dict)  # node id -> tooltip
    grad_lines: dict[str, int] = field(default_factory=dict)  # node id -> trailing gradient lines
    view: _View | None = None


def _extra_inputs(t: Tensor) -> list[tuple[str, np.ndarray]]:
    """Inputs an op took as an option rather than as a Tensor, so that the graph has no
    edge for them: the target of the fused cross-entropy (its one-hot rows)."""
    if t.op == "cross_entropy" and isinstance(getattr(t._ctx, "onehot", None), np.ndarray):
        return [("y (target)", t._ctx.onehot)]
    return []


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
    notes: tuple[str, ...] = (),
) -> _Drawing:
    """The picture and what the SVG post-processing needs; ``notes``: lines said under the
    picture (in the legend when there is one)."""
    if direction not in ("forward", "backward"):
        raise ValueError(f"draw_graph: direction must be 'forward' or 'backward', got {direction!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    max_nodes = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    walked, left_out = _walk(root, max_nodes)
    view = _View(walked)
    nodes = [t for t in walked if id(t) not in view.hidden]
    drawn = {id(t): t for t in nodes}
    names = {id(t): n for n, t in (params or {}).items()}
    ids = {id(t): f"n{i}" for i, t in enumerate(reversed(nodes))}  # inputs get the small numbers
    layer_of = _clusters(nodes, names, view.parents) if names else {}
    path = _spine(root, drawn, view.parents)
    spine = {id(t) for t in path}
    consumers: dict[int, list[Tensor]] = {}
    for t in nodes:
        for p in {id(p): p for p in view.parents(t)}.values():  # a tensor used twice by one op: one consumer
            consumers.setdefault(id(p), []).append(t)
    extras = {id(t): _extra_inputs(t) for t in nodes if t._ctx is not None}
    dtypes = {str(t.dtype) for t in nodes} | {str(a.dtype) for e in extras.values() for _, a in e}
    one_dtype = dtypes.pop() if len(dtypes) == 1 else None

    g = Picture(
        "graph",
        graph_attr={"rankdir": rankdir, "newrank": "true", "nodesep": "0.18", "ranksep": "0.2", **FONT},
        node_attr={**FONT, "margin": NODE_MARGIN, "height": "0.3"},
        edge_attr={"arrowsize": "0.6"},
    )
    drawing = _Drawing(g, ids, view=view)
    g._drawing = drawing
    clusters: dict[str, graphviz.Digraph] = {}
    beside: list[tuple[str, str]] = []  # (leaf, the op it feeds): drawn on one row
    kinds: set[str] = set()  # the kinds of box drawn: the legend shows only these
    norms = False  # whether a label shows a gradient's norm, |g| (the legend says what it is)
    for t in reversed(nodes):
        nid = ids[id(t)]
        kind = _kind(t, root)
        kinds.add(kind)
        grad = grads.get(id(t)) if grads is not None else t.grad
        attrs = dict(STYLE[kind])
        name = names.get(id(t))
        if agreement is not None and name in agreement:
            attrs["fillcolor"] = "palegreen" if agreement[name] else "salmon"
        if highlight is not None and (t is highlight or view.means.get(id(t)) is highlight):
            attrs.update(color="red", penwidth="3")
        if id(t) in spine:
            attrs["group"] = "spine"  # dot keeps the edges between one group's nodes straight
        title = _title(t, name, view.op(t))
        lines, n_grad = _label_lines(t, title, show_data, grad if show_grad else None, one_dtype is None)
        norms = norms or any("|g|" in line for line in lines)
        drawing.titles[nid] = f"{lines[0]}\n{_fmt_shape(t.shape)} {t.dtype}"
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
            clusters[layer].node(nid, _dot_label(lines), **attrs)
        else:
            g.node(nid, _dot_label(lines), **attrs)
        for k, (label, array) in enumerate(extras.get(id(t), [])):
            xid = f"{nid}_in{k}"
            shape = _fmt_shape(array.shape) + ("" if one_dtype else f" {array.dtype}")
            g.node(xid, _dot_label([label, shape]), **STYLE["input"])
            drawing.titles[xid] = f"{label}\n{_fmt_shape(array.shape)} {array.dtype}"
            kinds.add("input")
            beside.append((xid, nid))
            if direction == "forward":
                g.edge(xid, nid)
            else:  # no gradient flows into a target: keep the layout, draw no arrow
                g.edge(nid, xid, style="invis")
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
        for p, need in zip(view.parents(t), view.needs(t)):
            if id(p) in ids:
                a, b = ids[id(p)], ids[id(t)]
                if direction == "forward":
                    g.edge(a, b)
                elif need:
                    g.edge(b, a, color="firebrick", fontcolor="firebrick")
                else:  # the rule sends this input no gradient: no arrow, the same layout
                    g.edge(b, a, style="invis")
    if left_out:
        g.node(
            "cut",
            f"... {left_out} more tensors not shown\n(max_nodes={max_nodes})",
            shape="note",
            color="gray40",
        )
        drawing.titles["cut"] = f"{left_out} more tensors not shown"
        frontier = [t for t in nodes if any(id(p) not in ids for p in view.parents(t))]
        for t in frontier:
            ends = ("cut", ids[id(t)]) if direction == "forward" else (ids[id(t)], "cut")
            g.edge(*ends, style="dashed")
    notes = [f"every tensor is {one_dtype}"] * (one_dtype is not None) + list(notes)
    if legend:
        bottom = root if direction == "forward" else path[-1]  # the lowest node of the spine
        _add_legend(g, ids[id(bottom)], kinds, bool(clusters), norms, direction, notes)
        drawing.titles["legend"] = "legend"
    elif notes:
        g.attr(label="\n".join(notes), labelloc="b", labeljust="c", fontcolor="gray30")
    for t in walked:  # a mean's sum is drawn as its box (the step pictures mark it there)
        if id(t) in view.means:
            ids[id(view.means[id(t)])] = ids[id(t)]
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
) -> Picture:
    """The graph that made ``root`` as a ``graphviz.Digraph`` (see the module docstring).

    ``params`` maps names to parameter tensors (``dict(model.named_parameters())``);
    ``grads`` (tensor id -> gradient) overrides the gradients shown (the step pictures
    use it); ``highlight`` gets a red border; ``agreement`` (name -> bool, e.g.
    ``VerifyReport.agreement()``) colours parameters by verified agreement; ``legend``
    adds a table saying what the colours, the dashed layer frames, ``|g|`` and the
    arrows mean. Save it with :func:`render_graph`, or ``.render()`` as any Digraph.
    """
    return _draw(
        root, show_data, show_grad, rankdir, max_nodes, params, direction, highlight, grads, agreement, legend
    ).graph


def _add_legend(
    g: graphviz.Digraph,
    below: str,
    kinds: set[str] | None = None,
    layers: bool = False,
    norms: bool = False,
    direction: str = "forward",
    notes: list[str] | None = None,
) -> None:
    """One compact node under the picture (below the node ``below``): a row of cells, one
    per kind of box drawn (``kinds``; None: every kind), then a line for each other mark
    the picture uses (the dashed layer frames, ``|g|``, the arrows) and ``notes``."""
    cells = []
    for kind, text in LEGEND:
        if kinds is not None and kind not in kinds:
            continue
        style = STYLE[kind]
        rounded = ' STYLE="ROUNDED"' if "rounded" in style["style"] else ""
        dashed = " (dashed)" if "dashed" in style["style"] else ""
        cells.append(
            f'<TD BGCOLOR="{style.get("fillcolor", "white")}" COLOR="{style.get("color", "black")}"{rounded}>'
            f'<FONT COLOR="{style.get("fontcolor", "black")}">{text}{dashed}</FONT></TD>'
        )
    half = (len(cells) + 1) // 2 if len(cells) > 4 else len(cells)  # one row of up to four
    rows = [  # each row a table of its own, so that cells take their own widths
        f'<TR><TD BORDER="0" ALIGN="LEFT"><TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2">'
        f"<TR>{''.join(cells[i : i + half])}</TR></TABLE></TD></TR>"
        for i in range(0, len(cells), half)
    ]
    lines = []
    if layers:
        lines.append("dashed grey frame: one layer (its W, b and the ops they feed)")
    if norms:
        lines.append("|g|: size of a gradient, sqrt(sum of its squares)")
    if direction == "forward":
        lines.append("arrows: data flows forward; backward runs them in reverse")
    else:
        lines.append("red arrows: gradients flow backward (none into inputs that need none)")
    lines += notes or []
    rows += [f'<TR><TD ALIGN="LEFT" CELLPADDING="2">{_html(line)}</TD></TR>' for line in lines]
    table = f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">{"".join(rows)}</TABLE>>'
    g.node("legend", table, shape="plaintext", margin="0")
    g.edge(below, "legend", style="invis")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


def _box(g: ET.Element) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of a node's shape in dot's SVG."""
    shape = next((c for c in g if c.tag in (_S + "polygon", _S + "path")), None)
    if shape is None:
        return None
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d") or "")]
    xs, ys = nums[0::2], nums[1::2]
    return (min(xs), min(ys), max(xs), max(ys)) if xs and ys else None


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
            box = _box(g)
            if nid not in ("legend", "cut") and box is not None:  # lines centred by the viewer's font
                for t in texts:  # (dot places table text from its own guess of the font's widths)
                    t.set("text-anchor", "middle")
                    t.set("x", f"{(box[0] + box[2]) / 2:g}")
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
    file's suffix: svg, png, pdf or dot), atomically; returns the path. A PNG is drawn
    at 192 dpi, twice a plain screen's, so that it stays sharp on high-density screens
    (show it at half its pixel width)."""
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
        if fmt == "png":
            g = g.copy()
            g.attr(dpi=str(PNG_DPI))
        data = _pipe(g, fmt, os.path.splitext(path)[0] + ".dot")
        if fmt == "svg":
            svg = _svg_text(_tidy_svg(data, drawing))
            data = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + svg + "\n").encode()
    _write_atomic(path, data)
    return path
