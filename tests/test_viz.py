"""Graph pictures: DOT content, clusters, cuts, determinism, real rendering with dot,
a missing dot, and the step-by-step backward pictures."""

from __future__ import annotations

import html
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn, ops
from tinygrad_mlp.autograd import toposort
from tinygrad_mlp.cli import main
from tinygrad_mlp.viz import (
    CURRENT_STROKE,
    DONE_MARK,
    DONE_STROKE,
    GraphvizMissing,
    backward_frames,
    draw_graph,
    render_backward_steps,
    render_graph,
    to_dot,
)

NODE = re.compile(r"^\s*(n\d+|cut) \[label=", re.M)
EDGE = re.compile(r"^\s*(n\d+|cut) -> (n\d+|cut)", re.M)
SVG = "{http://www.w3.org/2000/svg}"


def small_graph():
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = Tensor([3.0, 4.0], requires_grad=True, name="b")
    c = a * b
    d = c + a
    e = d.sum()
    return a, b, c, d, e


def _labels(dot: str) -> dict[str, str]:
    """node id -> its label's lines, joined by newlines (labels are tables of one row per line)."""
    tables = re.findall(r"^\s*(n\d+) \[label=<(<TABLE.*?</TABLE>)>", dot, re.M)
    return {n: "\n".join(html.unescape(x) for x in re.findall(r"<TD>(.*?)</TD>", t)) for n, t in tables}


def test_one_node_per_tensor_and_the_right_edges():
    a, b, c, d, e = small_graph()
    e.backward()
    dot = to_dot(e)
    labels = _labels(dot)
    assert len(NODE.findall(dot)) == 5
    by_first_line = {v.split("\n")[0]: k for k, v in labels.items()}
    assert set(by_first_line) == {"a", "b", "mul", "add", "sum"}
    want = {("a", "mul"), ("b", "mul"), ("mul", "add"), ("a", "add"), ("add", "sum")}
    got = {(labels[x].split("\n")[0], labels[y].split("\n")[0]) for x, y in EDGE.findall(dot)}
    assert got == want
    # backward direction: the same edges turned around
    back = to_dot(e, direction="backward")
    got_back = {(labels[y].split("\n")[0], labels[x].split("\n")[0]) for x, y in EDGE.findall(back)}
    assert got_back == want


def test_labels_show_names_shapes_dtypes_and_gradients():
    a, b, c, d, e = small_graph()
    before = to_dot(e)
    assert "grad" not in before  # nothing known before backward
    e.backward()
    labels = list(_labels(to_dot(e)).values())
    a_label = next(label for label in labels if label.startswith("a\n"))
    assert a_label.split("\n")[1] == "(2,)" and f"grad |g| = {np.linalg.norm([4.0, 5.0]):.3g}" in a_label
    assert to_dot(e).count("float32") == 1 and 'label="every tensor is float32"' in to_dot(e)  # said once
    assert "grad" not in to_dot(e, show_grad=False)
    shown = to_dot(e, show_data=True)
    assert "value = [1, 2]" in shown and "grad = [4, 5]" in shown  # numbers print like numbers
    named = to_dot(e, params={"weights.first": a})
    assert "weights.first\n(2,)\ngrad |g| = 6.4" in _labels(named).values()


def test_a_named_intermediate_shows_its_name_then_its_op():
    a, b, c, d, e = small_graph()
    e.name, c.name = "e", "c"
    e.backward()
    firsts = {label.split("\n")[0] for label in _labels(to_dot(e)).values()}
    assert firsts == {"a", "b", "c = mul", "add", "e = sum"}


@pytest.mark.parametrize(
    "value, text", [(2.0, "2"), (-0.5, "-0.5"), (1.2e-05, "1.2e-05"), (3.25, "3.25"), (100.0, "100")]
)
def test_scalars_print_like_numbers_and_their_gradient_without_a_norm(value, text):
    x = Tensor(value, requires_grad=True, name="x")
    y = x * 2.0
    y.backward()
    labels = _labels(to_dot(y))
    x_label = next(v for v in labels.values() if v.startswith("x\n")).split("\n")
    assert x_label == ["x", "scalar", f"value = {text}", "grad = 2"]  # no |g| for a scalar
    assert not re.search(r"\d\.(\D|$)", to_dot(y))  # never "2."


def test_kinds_look_different():
    x = Tensor(np.ones((2, 3)), name="x")
    w = Tensor(np.ones((3,)), requires_grad=True)
    y = (x * w + 1.0).sum()
    dot = to_dot(y)
    assert "fillcolor=gray90" in dot  # input
    assert "dashed" in dot  # the constant 1.0
    assert "fillcolor=lightblue" in dot  # parameter
    assert "style=rounded" in dot  # op results
    assert "fillcolor=darkolivegreen1" in dot  # output
    assert "legend" in to_dot(y, legend=True)


def test_backward_pass_ops_are_drawn_apart():
    a, b, c, d, e = small_graph()
    assert "darkorange" not in to_dot(e)
    c._ctx.in_backward = True  # what grad(..., create_graph=True) marks on the ops it records
    styled = [(_labels(line)[n].split("\n")[0], line) for line in to_dot(e).splitlines()
              for n in re.findall(r"^\s*(n\d+) \[label=<", line)]  # fmt: skip
    orange = [first for first, attrs in styled if "darkorange3" in attrs]
    assert orange == ["mul"]
    assert "rounded,dashed" in dict(styled)["mul"]
    assert "op of a backward pass (dashed)" in to_dot(e, legend=True)
    _, captions = backward_frames(e)
    assert any("mul's backward (an op recorded by a backward pass)" in c for c in captions)


def mlp_step(sizes=(784, 128, 64, 32, 10), batch=8):
    model = nn.MLP(sizes, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).random((batch, sizes[0]), dtype=np.float32), name="x")
    loss = nn.sse_loss(model(x), nn.one_hot(np.arange(batch) % sizes[-1], sizes[-1]))
    return model, loss


def test_mlp_graph_has_one_cluster_per_layer():
    model, loss = mlp_step()
    loss.backward()
    dot = to_dot(loss, params=dict(model.named_parameters()))
    clusters = re.findall(r'subgraph "cluster_(layers\.\d)" \{(.*?)\n\t\}', dot, re.S)
    assert [name for name, _ in clusters] == ["layers.0", "layers.1", "layers.2", "layers.3"]
    for name, body in clusters:
        firsts = sorted(label.split("\n")[0] for label in _labels(body).values())
        assert firsts == ["add", f"{name}.W", f"{name}.b", "matmul", "sigmoid"], (name, firsts)
    assert dot.count("[label=") == 4 * 5 + 3  # + x, the target constant, the loss


def test_max_nodes_cuts_and_says_so():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    dot = to_dot(y, max_nodes=50)
    assert len(NODE.findall(dot)) == 51
    assert "9951 more tensors not shown" in dot  # x, 5000 products and 5000 constants, less the 50 shown
    assert "cut ->" in dot
    default = to_dot(y)  # max_nodes=None still stops at 1,000 tensors
    assert len(NODE.findall(default)) == 1001 and "9001 more tensors not shown" in default


def test_same_graph_gives_identical_dot():
    _, loss1 = mlp_step()
    _, loss2 = mlp_step()
    assert to_dot(loss1) == to_dot(loss1)
    assert to_dot(loss1) == to_dot(loss2)  # ids are counters, not memory addresses


def test_agreement_colours_parameters():
    model, loss = mlp_step((784, 4, 10))
    agreement = {"layers.0.W": True, "layers.0.b": True, "layers.1.W": False, "layers.1.b": True}
    dot = to_dot(loss, params=dict(model.named_parameters()), agreement=agreement)
    assert dot.count("fillcolor=palegreen") == 3 and dot.count("fillcolor=salmon") == 1


def test_layout_puts_the_data_path_in_one_column_and_parameters_beside_their_ops():
    model, loss = mlp_step()
    dot = to_dot(loss, params=dict(model.named_parameters()))
    labels = {k: v.split("\n")[0] for k, v in _labels(dot).items()}
    assert "newrank=true" in dot and "rankdir=TB" in dot
    in_spine = re.findall(r"^\s*(n\d+) \[[^\]]*group=spine", dot, re.M)
    spine = [labels[n] for n in sorted(in_spine, key=lambda n: int(n[1:]))]  # ids count from the inputs
    assert spine == ["x"] + ["matmul", "add", "sigmoid"] * 4 + ["half_sse"]  # input to loss, in order
    rows = re.findall(r"\{\s*rank=same\s*(n\d+)\s*(n\d+)\s*\}", dot)
    pairs = sorted((labels[a], labels[b]) for a, b in rows)
    want = [(f"layers.{i}.W", "matmul") for i in range(4)] + [(f"layers.{i}.b", "add") for i in range(4)]
    assert pairs == sorted(want + [("y", "half_sse")])


needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)"
)


@needs_dot
def test_renders_svg_and_png(tmp_path):
    model, loss = mlp_step()
    loss.backward()
    svg = render_graph(loss, str(tmp_path / "g.svg"), params=dict(model.named_parameters()))
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    assert "layers.3.W" in texts and "matmul" in texts
    png = render_graph(loss, str(tmp_path / "g.png"))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_graph(loss, str(tmp_path / "g.dot")).endswith("g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.png", "g.svg"]  # no temporaries
    assert isinstance(draw_graph(loss)._repr_mimebundle_(), dict)  # shows inline in Jupyter


def test_missing_dot_writes_the_dot_file_and_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _, loss = mlp_step((784, 4, 10))
    with pytest.raises(GraphvizMissing, match=r"dot -Tpng .*g\.dot -o .*g\.png"):
        render_graph(loss, str(tmp_path / "g.png"))
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.png").exists()
    code = main(["graph", "--out", str(tmp_path / "c.svg"), "--synthetic", "--hidden", "3"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "apt-get install graphviz" in err
    assert (tmp_path / "c.dot").exists()
    # with --steps, rendering the .dot by hand would give one picture, not the page: say so
    steps = tmp_path / "steps"
    argv = ["graph", "--out", str(tmp_path / "d.svg"), "--synthetic", "--hidden", "3"]
    code = main([*argv, "--steps", str(steps)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"{steps / 'steps.dot'} was written instead" in err and "run this again" in err
    assert "dot -T" not in err and (steps / "steps.dot").exists()


def test_bad_format_is_named(tmp_path, capsys):
    _, loss = mlp_step((784, 4, 10))
    with pytest.raises(ValueError, match="unknown format 'gif'"):
        render_graph(loss, str(tmp_path / "g.gif"))
    assert main(["graph", "--out", str(tmp_path / "g.gif")]) == 2
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------- step by step


def test_one_frame_per_visited_node_in_backward_order():
    a, b, c, d, e = small_graph()
    expected = list(reversed(toposort(e)))
    frames, captions = backward_frames(e)
    assert len(frames) == len(expected) == 5
    for k, (frame, t) in enumerate(zip(frames, expected)):
        highlighted = [line for line in frame.source.splitlines() if "color=red" in line]
        assert len(highlighted) == 1
        assert list(_labels(highlighted[0]).values())[0].split("\n")[0] == (t.op or t.name), k
        assert captions[k].startswith(f"step {k + 1}/5: ")
        # gradients known so far: exactly the nodes visited up to this step
        assert len(re.findall(r"<TD>grad ", frame.source)) == k + 1
    np.testing.assert_array_equal(a.grad, [4.0, 5.0])  # and backward really ran


def test_captions_say_what_each_backward_rule_did():
    a, b, c, d, e = small_graph()
    _, captions = backward_frames(e)
    by_node = dict(zip(("sum", "add", "mul", "b", "a"), captions))
    assert "Backward starts at the output sum" in by_node["sum"] and "grad = 1" in by_node["sum"]
    # each rule as its code states it, the tensors' names in place of its letters, ḡ = dL/d(node)
    assert (
        "(ḡ = dL/dL, the gradient arriving here): d(sum add)/d(add) = ḡ copied along the summed axes"
        in by_node["sum"]
    )
    assert (
        "(ḡ = dL/d(mul), the gradient arriving here): d(a*b)/da = ḡ * b, d(a*b)/db = ḡ * a and passes gradients on to a, b"
        in by_node["mul"]
    )
    assert ": d(mul+a)/d(mul) = ḡ, d(mul+a)/da = ḡ (summed back to each operand's shape)" in by_node["add"]
    assert "a leaf" in by_node["a"].lower() and f"|grad| = {np.linalg.norm([4.0, 5.0]):.3g}" in by_node["a"]


def test_frames_after_an_earlier_backward_show_this_pass_and_still_accumulate():
    # a notebook user calls loss.backward() first, then asks for the pictures
    a, b, c, d, e = small_graph()
    e.backward()
    frames, captions = backward_frames(e)
    assert "grad = 1 (dL/dL)" in captions[0]
    assert f"|grad| = {np.linalg.norm([4.0, 5.0]):.3g}" in captions[-1]  # a's gradient of one pass
    assert f"|g| = {np.linalg.norm([4.0, 5.0]):.3g}" in frames[-1].source  # the picture too
    np.testing.assert_array_equal(a.grad, [8.0, 10.0])  # two passes, as two backward() calls give
    np.testing.assert_array_equal(b.grad, [2.0, 4.0])


def test_captions_name_the_tensors_of_an_mlp_step_and_only_letters_a_rule_uses():
    model, loss = mlp_step((784, 4, 10), batch=3)
    _, captions = backward_frames(loss, params=dict(model.named_parameters()))
    assert (
        "half_sse's backward (ḡ = dL/dL, the gradient arriving here): d(0.5*sum((sigmoid-y)**2))/d(sigmoid) = "
        "ḡ * (sigmoid - y), no gradient needed for y: skipped and passes gradients on to sigmoid."
        in captions[0]
    )
    first = next(c for c in captions if "d(x@layers.0.W)" in c)
    assert ": no gradient needed for x: skipped, d(x@layers.0.W)/d(layers.0.W) = x.T @ ḡ and passes" in first
    second = next(c for c in captions if "d(sigmoid@layers.1.W)" in c)
    assert (
        ": d(sigmoid@layers.1.W)/d(sigmoid) = ḡ @ layers.1.W.T, d(sigmoid@layers.1.W)/d(layers.1.W) = "
        in second
    )

    class Twice(ops.Function):  # a rule over *inputs names no letter: no "where"
        name = "twice"

        def forward(self, a):
            return 2 * a

        def vjp(self, g, out, *inputs):
            # d(2a)/da = 2 g
            return (2 * g,)

    leaf = Tensor([1.0, 2.0], requires_grad=True, name="leaf")
    _, captions = backward_frames(Twice.apply(leaf).sum())
    assert "twice's backward (ḡ = dL/d(twice), the gradient arriving here): d(2a)/da = 2 ḡ" in captions[1]


def _node_boxes(svg: str) -> dict[str, tuple]:
    """tooltip -> the shape's geometry and fill, per node of a step picture."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            shape = next(c for c in g if c.tag in (SVG + "polygon", SVG + "path"))
            texts = [t.text for t in g.findall(SVG + "text")]
            check = [t.text for t in g.iterfind(f"{SVG}g/{SVG}text")]
            out[g.find(SVG + "title").text] = (shape.get("points") or shape.get("d"), shape.get("fill"),
                                               shape.get("stroke"), texts, check)  # fmt: skip
    return out


@needs_dot
def test_frames_share_one_layout_shading_finished_nodes_and_outlining_the_current():
    model, loss = mlp_step((784, 4, 10), batch=3)
    order = list(reversed(toposort(loss)))
    frames, _ = backward_frames(loss, params=dict(model.named_parameters()))
    names = {id(t): name for name, t in model.named_parameters()}
    boxes = [_node_boxes(f.svg) for f in frames]
    geometry = {k: v[0] for k, v in boxes[0].items()}
    assert all({k: v[0] for k, v in b.items()} == geometry for b in boxes)  # nodes never move
    fills = {k: v[1] for k, v in boxes[0].items()}
    assert fills[next(t for t in fills if t.startswith("layers.0.W"))] == "lightblue"  # a parameter
    assert (
        fills[next(t for t in fills if t.startswith("half_sse"))] == "#caff70"
    )  # the loss (darkolivegreen1)
    tips = list(boxes[0])
    assert not [t for t in tips if re.fullmatch(r"n\d+", t)]  # no internal ids as tooltips
    for k, b in enumerate(boxes):
        current = [tip for tip, v in b.items() if v[2] == CURRENT_STROKE]
        assert len(current) == 1 and current[0].split("\n")[0] == names.get(id(order[k]), order[k].op), k
        done = [tip for tip, v in b.items() if v[2] == DONE_STROKE]
        assert len(done) == k, k  # finished so far: a green border and a check mark
        assert [tip for tip, v in b.items() if v[4] == [DONE_MARK]] == done
        assert {tip: v[1] for tip, v in b.items()} == fills  # every node keeps its kind's colour
        with_grad = [tip for tip, v in b.items() if any(t.startswith("grad") for t in v[3])]
        assert len(with_grad) == k + 1  # gradients appear only once known
    assert "|g| = " in frames[-1]._repr_mimebundle_()["image/svg+xml"]  # shows inline in Jupyter
    assert f"{DONE_MARK} green border: gradient complete" in frames[0].svg  # the marks explained
    legend_frames, _ = backward_frames(loss, params=dict(model.named_parameters()), legend=True)
    assert "red border: being processed" in html.unescape(legend_frames[0].svg)  # in the legend


@needs_dot
def test_step_page_is_one_svg_and_reusing_the_folder_removes_old_frames(tmp_path):
    folder = tmp_path / "steps"
    model, loss = mlp_step((784, 4, 10), batch=3)
    n = len(toposort(loss))
    page = render_backward_steps(loss, str(folder), params=dict(model.named_parameters()))
    html = Path(page).read_text()
    assert html.count("<svg") == 1 and "<?xml" not in html  # one layout, restyled by the script
    assert "ArrowRight" in html and 'id="next"' in html and "hashchange" in html
    assert not re.search(r"<title>n\d+", html) and "<!--" not in html  # no internal ids shown
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # works offline: nothing fetched
    steps = re.search(r"const STEPS = (\[.*?\]);\n", html).group(1)
    assert len(json.loads(steps)) == n
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["index.html"] + [f"step_{k:03d}.svg" for k in range(1, n + 1)]
    (folder / "notes.txt").write_text("mine")
    _, small = small_graph()[3:]
    render_backward_steps(small, str(folder))
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["index.html", "notes.txt"] + [f"step_{k:03d}.svg" for k in range(1, 6)]


@needs_dot
def test_graph_command(tmp_path, mnist_dir, capsys):
    out = tmp_path / "step.png"
    argv = [
        "graph",
        "--out",
        str(out),
        "--data",
        mnist_dir,
        "--batch-size",
        "4",
        "--steps",
        str(tmp_path / "s"),
    ]
    assert main(argv) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "s" / "index.html").exists()
    assert "real MNIST" in capsys.readouterr().out


def _curve_points(d: str) -> list[tuple[float, float]]:
    """Points along an SVG path of cubic Bezier pieces, as dot writes edges (M p0 C p1 p2 p3 ...)."""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    pts = list(zip(nums[::2], nums[1::2]))
    out = [pts[0]]
    for i in range(1, len(pts) - 2, 3):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for t in np.linspace(0.1, 1, 10):
            s = 1 - t
            out.append(tuple(s**3 * a + 3 * s * s * t * b + 3 * s * t * t * c + t**3 * e
                             for a, b, c, e in zip(p0, p1, p2, p3)))  # fmt: skip
    return out


def _segments_cross(p, q, r, s) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return orient(p, q, r) * orient(p, q, s) < 0 and orient(r, s, p) * orient(r, s, q) < 0


@needs_dot
def test_the_mlp_graph_reads_at_a_glance(tmp_path, mnist_dir):
    """The issue's acceptance test: `tinygrad-mlp graph --out g.svg` at default options."""
    out = tmp_path / "g.svg"
    assert main(["graph", "--out", str(out), "--data", mnist_dir]) == 0
    root = ET.parse(out).getroot()
    assert float(root.get("width").removesuffix("pt")) <= 900
    sizes = [float(t.get("font-size")) for t in root.iter(SVG + "text")]
    assert len(sizes) > 60 and min(sizes) >= 9
    clusters = [g.find(SVG + "title").text for g in root.iter(SVG + "g") if g.get("class") == "cluster"]
    assert clusters == ["layers.0", "layers.1", "layers.2", "layers.3"]
    tips = [g.find(SVG + "title").text for g in root.iter(SVG + "g") if g.get("class") in ("node", "edge")]
    assert not [t for t in tips if re.search(r"\bn\d+\b", t)]  # no internal ids in tooltips

    # The same layout, with dot's own node names on the edges: straight spine, no crossings.
    model, loss = mlp_step(batch=4)
    loss.backward()
    g = draw_graph(loss, params=dict(model.named_parameters()))
    raw = ET.fromstring(g.pipe(format="svg"))
    centre = {}
    for node in raw.iter(SVG + "g"):
        if node.get("class") == "node":
            texts = node.findall(SVG + "text")
            shape = (
                node.find(SVG + "path") if node.find(SVG + "path") is not None else node.find(SVG + "polygon")
            )
            xs = [
                float(x)
                for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", shape.get("d") or shape.get("points"))
            ]
            centre[node.find(SVG + "title").text] = ((min(xs) + max(xs)) / 2, texts[0].text)
    spine_x = {x for x, first in centre.values() if first in ("x", "matmul", "add", "sigmoid", "half_sse")}
    assert max(spine_x) - min(spine_x) < 1  # one straight column
    params_x = [x for x, first in centre.values() if first.startswith("layers.")]
    assert all(x < min(spine_x) for x in params_x)  # every parameter on the same side of it
    edges = []
    for edge in raw.iter(SVG + "g"):
        if edge.get("class") == "edge":
            ends = set(edge.find(SVG + "title").text.split("->"))
            edges.append((ends, _curve_points(edge.find(SVG + "path").get("d"))))
    crossings = [
        (e1, e2)
        for i, (e1, p1) in enumerate(edges)
        for e2, p2 in edges[i + 1 :]
        if not e1 & e2
        and any(_segments_cross(a, b, c, d) for a, b in zip(p1, p1[1:]) for c, d in zip(p2, p2[1:]))
    ]
    assert crossings == []
    boxes = []
    for cl in raw.iter(SVG + "g"):
        if cl.get("class") == "cluster":
            xs = [float(x) for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", cl.find(SVG + "path").get("d"))]
            boxes.append((min(xs), max(xs)))
    assert len(boxes) == 4 and all(lo < min(spine_x) <= max(spine_x) < hi for lo, hi in boxes)
    assert max(lo for lo, _ in boxes) - min(lo for lo, _ in boxes) < 40  # no staircase


def test_the_legend_lists_only_the_kinds_of_box_drawn():
    import numpy as np

    from tinygrad_mlp import Tensor, grad, nn
    from tinygrad_mlp.viz import to_dot

    model = nn.MLP((4, 3, 2), rng=np.random.default_rng(0))
    loss = nn.sse_loss(model(Tensor(np.ones((2, 4)))), np.zeros((2, 2)))
    dot = to_dot(loss, legend=True)
    assert "parameter" in dot and "output" in dot
    assert "op of a backward pass" not in dot and ">constant" not in dot
    x = Tensor(2.0, requires_grad=True)
    (dy,) = grad(x**3, x, create_graph=True)
    assert "op of a backward pass" in to_dot(dy, legend=True)


# ---------------------------------------------------------------- issue 25: pictures that stay clear


def _edges(dot: str) -> dict[tuple[str, str], str]:
    """(tail first line, head first line) -> the edge's attributes, by the labels' first lines."""
    labels = {k: v.split("\n")[0] for k, v in _labels(dot).items()}
    found = re.findall(r"^\s*(n\d+) -> (n\d+)(?: \[([^\]]*)\])?", dot, re.M)
    return {(labels[a], labels[b]): attrs for a, b, attrs in found}


def test_backward_arrows_only_into_tensors_that_get_a_gradient():
    model, loss = mlp_step((784, 4, 10), batch=3)
    loss.backward()
    dot = to_dot(loss, params=dict(model.named_parameters()), direction="backward")
    edges = _edges(dot)
    assert edges[("matmul", "x")] == "style=invis" and edges[("half_sse", "y")] == "style=invis"
    assert (
        "color=firebrick" in edges[("matmul", "layers.0.W")] and "firebrick" in edges[("half_sse", "sigmoid")]
    )
    assert len(re.findall(r"-> n\d+ \[color=firebrick", dot)) == 12 - 2  # all but the arrows into x and y


def test_cross_entropy_shows_its_target():
    model = nn.MLP((6, 3), rng=np.random.default_rng(0))
    loss = nn.cross_entropy(model(Tensor(np.ones((4, 6)), name="x")), np.array([0, 1, 2, 1]))
    dot = to_dot(loss)
    assert "y (target)\n(4, 3)" in _labels(dot).values() or "y (target)" in dot
    target = re.search(r"^\s*(n\d+_in0) \[label=", dot, re.M).group(1)
    assert re.search(rf"^\s*{target} -> n\d+$", dot, re.M)  # an arrow into the loss
    assert re.search(rf"^\s*n\d+ -> {target} \[style=invis\]", to_dot(loss, direction="backward"), re.M)


@pytest.mark.parametrize(
    "make, first_lines",
    [
        (lambda x: (x * 2.0).mean(), ["x", "mul", "constant 2", "mean"]),
        (lambda x: (x * 2.0).mean(axis=0).sum(), ["x", "mul", "constant 2", "mean", "sum"]),
        (lambda x: x.sum() * 0.5, ["x", "sum", "mul", "constant 0.5"]),  # 0.5 is not 1/6: not a mean
        (lambda x: (x**3).sum(), ["x", "pow (**3)", "sum"]),
    ],
)
def test_mean_is_drawn_as_a_mean_and_pow_shows_its_exponent(make, first_lines):
    x = Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    dot = to_dot(make(x))
    assert sorted(v.split("\n")[0] for v in _labels(dot).values()) == sorted(first_lines)


def test_a_mean_takes_two_steps_on_one_box():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    frames, captions = backward_frames((x * x).mean())
    assert len(captions) == 4  # mean's product, mean's sum, mul, x
    assert "The engine records a mean as a sum times 1/n = 0.1667: its box takes two steps" in captions[0]
    assert captions[1].startswith("step 2/4: the sum inside mean, a scalar: its gradient is complete")
    assert "d(sum mul)/d(mul) = ḡ copied along the summed axes" in captions[1]
    assert frames[0].source.count("color=red") == frames[1].source.count("color=red") == 1
    assert "mean" in frames[1].source


def test_constants_are_named_by_their_value_and_skipped_rules_say_so():
    x = Tensor(3.0, requires_grad=True, name="x")
    y = x * 0.25 + 1.0
    dot = to_dot(y)
    assert {"constant 0.25", "constant 1"} <= {v.split("\n")[0] for v in _labels(dot).values()}
    _, captions = backward_frames(y)
    assert "d(x*0.25)/dx = ḡ * 0.25, no gradient needed for 0.25: skipped" in captions[1]
    assert "d(mul+1)/d(mul) = ḡ, no gradient needed for 1: skipped" in captions[0]


def test_the_gradient_symbol_never_clashes_with_a_tensors_name():
    # micrograd's names: g is a tensor here, and the rules' letters a, b are tensors too
    a, b, d = (Tensor(v, requires_grad=True, name=n) for v, n in ((2.0, "a"), (-3.0, "b"), (-2.0, "d")))
    g = (a * b).tanh()
    g.name = "g"
    L = d * g
    L.name = "L"
    _, captions = backward_frames(L)
    assert "(ḡ = dL/dL, the gradient arriving here): d(d*g)/dd = ḡ * g, d(d*g)/dg = ḡ * d" in captions[0]
    tanh = next(c for c in captions if "tanh's backward" in c)
    assert "(ḡ = dL/dg, the gradient arriving here): d(tanh mul)/d(mul) = ḡ * (1 - tanh(mul)**2)" in tanh
    # two inputs of one name cannot stand in for the letters: they stay, bound to the tensors
    same = Tensor(2.0, requires_grad=True, name="w")
    other = Tensor(3.0, requires_grad=True, name="w")
    _, captions = backward_frames(same * other)
    assert "mul's backward, where a = w (scalar) and b = w (scalar) (ḡ = dL/dL" in captions[0]
    assert ": d(a*b)/da = ḡ * b, d(a*b)/db = ḡ * a and" in captions[0]


def test_the_legend_says_what_frames_norms_arrows_and_the_dtype_mean():
    model, loss = mlp_step((784, 4, 10), batch=3)
    loss.backward()
    params = dict(model.named_parameters())
    dot = to_dot(loss, params=params, legend=True)
    for entry in ("dashed grey frame: one layer", "|g|: size of a gradient, sqrt(sum of its squares)",
                  "arrows: data flows forward", "every tensor is float32"):  # fmt: skip
        assert entry in html.unescape(dot), entry
    assert dot.count("float32") == 1  # said once, not in every box
    back = html.unescape(to_dot(loss, params=params, legend=True, direction="backward"))
    assert "red arrows: gradients flow backward (none into inputs that need none)" in back
    x = Tensor(np.ones(3), requires_grad=True, name="x", dtype=np.float32)
    mixed = to_dot(
        (x.astype(np.float64) * Tensor(np.ones(3), dtype=np.float64)).sum()
    )  # two dtypes: each box says its own
    assert "every tensor" not in mixed and "(3,) float32" in mixed and "(3,) float64" in mixed


@needs_dot
def test_jupyter_svg_tooltips_name_tensors_not_internal_ids():
    model, loss = mlp_step((784, 4, 10), batch=3)
    svg = draw_graph(loss, params=dict(model.named_parameters()))._repr_mimebundle_()["image/svg+xml"]
    titles = [t.text for t in ET.fromstring(svg[svg.index("<svg") :]).iter(SVG + "title")]
    assert "layers.0" in titles and "layers.0.W\n(784, 4) float32" in titles and "x → matmul" in titles
    assert not [t for t in titles if re.search(r"\bn\d+\b|cluster_", t)]


@needs_dot
def test_labels_have_room_and_the_png_is_drawn_at_twice_screen_resolution(tmp_path):
    model, loss = mlp_step((784, 4, 10), batch=3)
    params = dict(model.named_parameters())
    raw = ET.fromstring(draw_graph(loss, params=params).pipe(format="svg"))
    for node in raw.iter(SVG + "g"):
        if node.get("class") != "node":
            continue
        ys = [float(t.get("y")) for t in node.findall(SVG + "text")]
        assert all(b - a >= 12.5 for a, b in zip(ys, ys[1:]))  # 1.25 lines of 10 pt: "_" clear of the next
        xs = (
            [float(x) for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", node.find(SVG + "path").get("d"))]
            if node.find(SVG + "path") is not None
            else [
                float(x)
                for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", node.find(SVG + "polygon").get("points"))
            ]
        )
        assert min(float(t.get("x")) for t in node.findall(SVG + "text")) - min(xs) >= 7  # clear of corners
    svg = ET.parse(render_graph(loss, str(tmp_path / "g.svg"), params=params)).getroot()
    png = Path(render_graph(loss, str(tmp_path / "g.png"), params=params)).read_bytes()
    width_px = int.from_bytes(png[16:20], "big")
    assert width_px == pytest.approx(float(svg.get("width").removesuffix("pt")) * 192 / 72, abs=3)
