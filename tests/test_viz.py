"""Graph pictures: DOT content, clusters, cuts, determinism, real rendering with dot,
a missing dot, and the step-by-step backward pictures."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn
from tinygrad_mlp.autograd import toposort
from tinygrad_mlp.cli import main
from tinygrad_mlp.viz import (
    GraphvizMissing,
    backward_frames,
    draw_graph,
    render_backward_steps,
    render_graph,
    to_dot,
)

NODE = re.compile(r"^\s*(n\d+|cut) \[label=", re.M)
EDGE = re.compile(r"^\s*(n\d+|cut) -> (n\d+|cut)", re.M)


def small_graph():
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = Tensor([3.0, 4.0], requires_grad=True, name="b")
    c = a * b
    d = c + a
    e = d.sum()
    return a, b, c, d, e


def _labels(dot: str) -> dict[str, str]:
    return dict(re.findall(r'^\s*(n\d+) \[label="([^"]*)"', dot, re.M))


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
    assert "(2,) float32" in a_label and f"grad |g|={np.linalg.norm([4.0, 5.0]):.3g}" in a_label
    assert "grad" not in to_dot(e, show_grad=False)
    shown = to_dot(e, show_data=True)
    assert "[1., 2.]" in shown and "g=[4., 5.]" in shown
    named = to_dot(e, params={"weights.first": a})
    assert "weights.first\n(2,) float32" in named


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
        firsts = sorted(
            label.split("\n")[0] for label in re.findall(r'label="([^"]*)"', body) if "\n" in label
        )
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
    code = main(["graph", "--out", str(tmp_path / "c.svg"), "--data", str(tmp_path), "--hidden", "3"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "apt-get install graphviz" in err
    assert (tmp_path / "c.dot").exists()


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
        highlighted = re.findall(r'^\s*(n\d+) \[label="([^"]*)"[^\]]*color=red', frame.source, re.M)
        assert len(highlighted) == 1
        assert highlighted[0][1].split("\n")[0] == (t.op or t.name), k
        assert captions[k].startswith(f"step {k + 1}/5: ")
        # gradients known so far: exactly the nodes visited up to this step
        assert frame.source.count("grad |g|") == k + 1
    last = frames[-1].source
    assert last.count("grad |g|") == 5  # the last frame shows every gradient
    np.testing.assert_array_equal(a.grad, [4.0, 5.0])  # and backward really ran


@needs_dot
def test_step_pages_embed_every_frame(tmp_path):
    model, loss = mlp_step((784, 4, 10), batch=3)
    n = len(toposort(loss))
    page = render_backward_steps(loss, str(tmp_path / "steps"), params=dict(model.named_parameters()))
    html = Path(page).read_text()
    assert html.count('<div class="frame"') == n and html.count("<svg") == n
    assert "ArrowRight" in html and 'id="next"' in html and "<?xml" not in html
    files = sorted(p.name for p in (tmp_path / "steps").iterdir())
    assert files == ["index.html"] + [f"step_{k:03d}.svg" for k in range(1, n + 1)]


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
