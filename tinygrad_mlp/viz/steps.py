"""Backprop, step by step: one picture per node backward visits, in one fixed layout, with a
caption saying what that node's backward rule did; and a page that steps through them.

    frames, captions = backward_frames(loss)       # pictures that show inline in Jupyter
    render_backward_steps(loss, "steps/")          # steps/index.html: the step viewer

Captions quote each op's rule as its code states it (``# d(a*b)/da = g * b``), written
with the tensors' own names in place of the rule's letters and ``ḡ`` for the gradient
arriving at the node (``dL/d(node)``: a symbol no tensor name can take), constants by
their value, and each input the rule skips because it needs no gradient said to be
skipped. In the pictures a finished node keeps its colour and gets a green border and a
check mark; the node being processed has a red border.
"""

from __future__ import annotations

import glob
import html
import inspect
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .graph import (
    _S,
    GraphvizMissing,
    _box,
    _draw,
    _fmt_shape,
    _in_backward,
    _is_constant,
    _needs,
    _num,
    _pipe,
    _svg_id,
    _svg_text,
    _tidy_svg,
    _title,
    _View,
    _write_atomic,
    draw_graph,
)
from .page import PAGE

DONE_STROKE = "#2e7d32"  # the border and check mark of a node whose gradient is complete
DONE_MARK = "\u2713"  # the check mark
CURRENT_STROKE = "#d62728"  # the node backward is processing
STEP_KEY = (f"{DONE_MARK} green border: gradient complete", "red border: being processed")  # under each step
GRAD = "\u1e21"  # ḡ: the gradient arriving at a node, dL/d(node); no tensor name can be it


# ---------------------------------------------------------------- captions


def _backward_rule(ctx) -> str:
    """What an op's backward does, in its own words: the math comments of its ``vjp``
    (or ``backward``) method (``# d(a@b)/da = g @ b.T, ...``, continued on the next
    comment lines that start with ``d``), else the "Backward: ..." sentence of its
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
    math = re.search(r"#\s*((?:d\(|d/|d\||d |dL/)[^\n]*)((?:\n\s*#\s*d[(/| ][^\n]*)*)", source)
    if math:
        more = re.findall(r"#\s*([^\n]*)", math.group(2))
        return ", ".join(_collapse(part) for part in [math.group(1), *more])
    doc = inspect.getdoc(cls) or ""
    said = re.search(r"Backward:\s*(.+?)(?:\.(?:\s|$)|$)", doc, re.S)
    if said:
        return re.sub(r"\s+", " ", said.group(1)).strip()
    return doc.split("\n")[0] if doc else f"{getattr(ctx, 'name', cls.__name__)}'s backward"


def _collapse(text: str) -> str:
    """Runs of spaces made one, except the two that set off a note: "g  (summed back ...)"."""
    formula, *note = re.split(r"\s{2,}(?=\()", text.strip(), maxsplit=1)
    return "  ".join([re.sub(r"\s+", " ", formula), *(re.sub(r"\s+", " ", n) for n in note)])


def _grad_text(g: np.ndarray) -> str:
    return f"grad = {_num(g.item())}" if g.size == 1 else f"|grad| = {_num(np.linalg.norm(g), 3)}"


def _vjp_letters(ctx) -> tuple[str, list[str]] | None:
    """The names ``vjp`` gives the incoming gradient and each input (``g``, [``a``, ``b``]),
    or None for a rule over ``*inputs``."""
    try:
        ps = list(inspect.signature(type(ctx).vjp).parameters.values())[1:]  # after self
    except (TypeError, ValueError):
        return None
    if len(ps) < 2 or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in ps):
        return None
    return ps[0].name, [p.name for p in ps[2:]]  # (g, out, a, b)


def _token(x: str) -> re.Pattern:
    return re.compile(rf"(?<![\w.]){re.escape(x)}(?![\w])")


def _in_formula(name: str) -> str:
    """A name as the variable of a derivative: dx, d(layers.0.W)."""
    return name if re.fullmatch(r"[A-Za-z]\w?", name) else f"({name})"


def _rule_text(t: Tensor, rule: str, short: Callable, needs: tuple[bool, ...]) -> tuple[str, str]:
    """The rule with the tensors' names in place of its letters, ``ḡ`` for the gradient,
    and each part for an input that needs no gradient replaced by "no gradient needed
    for y: skipped". Returns it and a "where ..." clause when names could not stand in
    for the letters (two inputs of one name, a name the rule uses for something else):
    then the letters stay, bound to the tensors."""
    letters = _vjp_letters(t._ctx)
    if letters is None or len(letters[1]) != len(t.parents):
        return _token("g").sub(GRAD, rule), ""
    g, inputs = letters
    if t.op == "pow" and isinstance(getattr(t._ctx, "p", None), (int, float)):
        rule = _token("p").sub(_num(t._ctx.p), rule)  # the exponent, a number
    shown = [short(x) for x in t.parents]
    parts = re.split(r",\s+(?=d[(/| ]|dL/)", rule)
    used_elsewhere = {w for w in re.findall(r"[A-Za-z_][\w.]*", rule) if w not in (g, "d", *inputs)}
    substitute = len(set(shown)) == len(shown) and not used_elsewhere & set(shown)
    # one pass, so that a name put in is never read as a letter: "/da" -> "/d(name)", "a" -> name, g -> ḡ
    to = {g: GRAD, **(dict(zip(inputs, shown)) if substitute else {})}
    alternatives = "|".join(map(re.escape, [x for x in to if x != g]))
    letters_to = re.compile(
        rf"/d({alternatives})(?!\w)|(?<![\w.])({'|'.join(map(re.escape, to))})(?!\w)"
        if alternatives
        else rf"()(?<![\w.])({re.escape(g)})(?!\w)"
    )
    out = []
    for part in parts:
        part, _, note = part.partition("  (")  # "(summed back to each operand's shape)"
        if note and not any(_token(x).search(note) for x in (g, *inputs)):
            part = f"{part} ({note}"  # (a note on how the code computes it, in the rule's letters, goes)
        wrt = re.search(r"/d(\w+)\s*=", part) or re.match(r"d(\w+)/", part)
        if wrt and wrt.group(1) in inputs and not needs[inputs.index(wrt.group(1))]:
            out.append(f"no gradient needed for {shown[inputs.index(wrt.group(1))]}: skipped")
            continue
        out.append(letters_to.sub(lambda m: "/d" + _in_formula(to[m[1]]) if m[1] else to[m[2]], part))
    if substitute:
        return ", ".join(out), ""
    pairs = [
        f"{letter} = {s} ({_fmt_shape(x.shape).strip('()') or 'scalar'})"
        for letter, s, x in zip(inputs, shown, t.parents)
        if _token(letter).search(rule)
    ]
    where = (
        ", where " + (", ".join(pairs[:-1]) + " and " + pairs[-1] if len(pairs) > 1 else pairs[0])
        if pairs
        else ""
    )
    return ", ".join(out), where


def _describe(t: Tensor, g: np.ndarray, names: dict[int, str], root: Tensor, view: _View) -> str:
    """What happens when backward reaches ``t``, in one or two sentences."""

    def short(x: Tensor) -> str:  # a tensor in a formula: its name, its value, or its op
        if names.get(id(x)) or x.name:
            return names.get(id(x)) or x.name
        if _is_constant(x):
            return _num(x.data.item())
        return x.op or ("parameter" if x.requires_grad else "input")

    mean = next((m for m, s in view.means.items() if s is t), None)  # t: the sum inside a mean
    shape = "a scalar" if t.ndim == 0 else f"of shape {_fmt_shape(t.shape)}"
    what = f"{_title(t, names.get(id(t)), view.op(t))}, {shape}"
    if mean is not None:
        what = f"the sum inside mean, {shape}"
    if t is root:
        start = f"Backward starts at the output {what} with {_grad_text(g)} (dL/dL)."
    else:
        start = f"{what}: its gradient is complete, {_grad_text(g)}."
    if t._ctx is None:
        return f"{start} A leaf: backward stops here and leaves the gradient in .grad."
    receivers = [short(p) for p, need in zip(t.parents, _needs(t)) if need]
    sends = f" and passes gradients on to {', '.join(receivers)}" if receivers else ""
    recorded = " (an op recorded by a backward pass)" if _in_backward(t) else ""
    rule, where = _rule_text(t, _backward_rule(t._ctx), short, _needs(t))
    here = "L" if t is root else "sum" if mean is not None else short(t)
    arriving = f"{GRAD} = dL/d{_in_formula(here)}, the gradient arriving here"
    folded = ""
    if id(t) in view.means:
        n = t.parents[1].data.item()
        folded = (
            f" The engine records a mean as a sum times 1/n = {_num(n)}: its box takes two steps, "
            f"this one first."
        )
    return f"{start}{folded} {t.op}'s backward{recorded}{where} ({arriving}): {rule}{sends}."


# ---------------------------------------------------------------- the pictures


def _add_checks(svg: ET.Element, nids: set[str]) -> None:
    """A check mark in a small green disc on the top-right corner of each node in ``nids``
    (``class="check"``): the step pictures show it on the nodes whose gradient is complete.
    The picture grows by the disc's size on the top and the right, so no disc is cut off."""
    grow = 8.0
    w, h = (float(svg.get(k, "0").removesuffix("pt")) for k in ("width", "height"))
    x0, y0, vw, vh = (float(v) for v in svg.get("viewBox", f"0 0 {w} {h}").split())
    svg.set("width", f"{w + grow:g}pt")
    svg.set("height", f"{h + grow:g}pt")
    svg.set("viewBox", f"{x0:g} {y0 - grow:g} {vw + grow:g} {vh + grow:g}")
    for g in svg.iter(_S + "g"):
        if g.get("class") != "node" or g.get("id") not in nids:
            continue
        box = _box(g)
        if box is None:
            continue
        x, y = box[2] - 1, box[1] + 1
        mark = ET.SubElement(g, _S + "g", {"class": "check"})
        ET.SubElement(mark, _S + "circle", {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": "6.5",
                                            "fill": DONE_STROKE, "stroke": "white"})  # fmt: skip
        text = ET.SubElement(mark, _S + "text", {
            "x": f"{x:.1f}", "y": f"{y + 3.5:.1f}", "text-anchor": "middle", "font-family": "sans-serif",
            "font-size": "10", "font-weight": "bold", "fill": "white"})  # fmt: skip
        text.text = DONE_MARK


def _states(order: list[str | None], step: int) -> dict[str, str]:
    """node -> "done", "current", "known" (some of its steps are done: a mean's box) or
    "pending" at step ``step`` (0-based); a node may take several steps (a mean's two)."""
    spans: dict[str, list[int]] = {}
    for k, nid in enumerate(order):
        if nid is not None:
            spans.setdefault(nid, []).append(k)
    out = {}
    for nid, ks in spans.items():
        if step in ks:
            out[nid] = "current"
        elif ks[-1] < step:
            out[nid] = "done"
        else:
            out[nid] = "known" if ks[0] < step else "pending"
    return out


class _Steps:
    """One backward pass recorded step by step, drawn in one fixed layout: every frame
    is the same SVG (laid out once, with every gradient), restyled: finished nodes
    marked, the current one outlined, the gradients not yet known left out."""

    def __init__(self, root: Tensor, visited: list[Tensor], known: dict[int, np.ndarray], kwargs: dict):
        self.root, self.visited, self.kwargs = root, visited, kwargs
        self.drawing = _draw(root, grads=known, notes=STEP_KEY, **kwargs)
        ids = self.drawing.ids
        self.order = [_svg_id(ids[id(t)]) if id(t) in ids else None for t in visited]  # None: cut off
        self.names = {id(t): n for n, t in (kwargs.get("params") or {}).items()}
        self._svg: ET.Element | None = None

    def svg(self, dot_path: str = "backward_steps.dot") -> ET.Element:
        """The laid-out, tidied SVG with a check mark on every stepped node (rendered
        once, on first use; without Graphviz, ``dot_path`` is written instead and
        GraphvizMissing raised)."""
        if self._svg is None:
            self._svg = _tidy_svg(_pipe(self.drawing.graph, "svg", dot_path), self.drawing)
            _add_checks(self._svg, {nid for nid in self.order if nid is not None})
        return self._svg

    def frame(self, step: int) -> str:
        """The SVG of step ``step`` (0-based), styled with attributes only (no CSS), so
        that it looks the same in any viewer."""
        root = ET.fromstring(ET.tostring(self.svg()))
        state = _states(self.order, step)
        for g in root.iter(_S + "g"):
            if g.get("class") != "node" or g.get("id") not in state:
                continue
            st = state[g.get("id")]
            if st != "done":
                for mark in g.findall(_S + "g"):
                    g.remove(mark)
            if st == "pending":
                for t in g.findall(_S + "text"):
                    if t.get("class") == "grad":
                        g.remove(t)
                continue
            shape = next((c for c in g if c.tag in (_S + "polygon", _S + "path", _S + "ellipse")), None)
            if shape is not None and st in ("done", "current"):
                shape.set("stroke", DONE_STROKE if st == "done" else CURRENT_STROKE)
                shape.set("stroke-width", "2.5" if st == "done" else "3")
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
        title = _title(t, s.names.get(id(t)), s.drawing.view.op(t))
        return f"<backward step {self.step + 1} of {len(s.visited)}: {title}>"

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
    view = steps.drawing.view
    frames = [StepFrame(steps, k, snap) for k, snap in enumerate(snapshots)]
    captions = [
        f"step {k}/{len(visited)}: {_describe(t, snap[id(t)], names, root, view)}"
        for k, (t, snap) in enumerate(zip(visited, snapshots), start=1)
    ]
    return steps, frames, captions


def backward_frames(root: Tensor, grad=None, **kwargs) -> tuple[list[StepFrame], list[str]]:
    """Run ``root.backward(grad)`` and return one picture per node that backward
    visits, in that order, with a caption for each saying what that node's backward
    rule did. All pictures share one layout (nodes never move): nodes whose gradient
    is complete keep their colour and get a green border and a check mark, the one
    being processed a red border, and gradients appear as they become known. Gradients
    left in ``.grad`` by an earlier call are not shown as known. ``kwargs`` are
    :func:`draw_graph`'s."""
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
    caption saying what each step's backward rule did. The picture holds still while
    the node of the step is in view, and pans the least that brings it in when it is
    not. Returns the page's path."""
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
        PAGE.replace("{title}", html.escape(title))
        .replace("{svg}", _svg_text(svg))
        .replace("{steps}", json.dumps(data).replace("</", "<\\/"))
        .replace("{done}", DONE_STROKE)
        .replace("{mark}", DONE_MARK)
        .replace("{current}", CURRENT_STROKE)
    )
    index = os.path.join(folder, "index.html")
    _write_atomic(index, page.encode())
    return index
