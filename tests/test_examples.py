"""Every example runs as is on small data, and the tutorial notebook executes headlessly."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_draw_graphs(tmp_path):
    out = run_example("draw_graphs.py", "--out", str(tmp_path))
    # L = tanh((a*b + c) / 4) * d at a=2, b=-3, c=10, d=-2
    import math

    t = math.tanh((2 * -3 + 10) * 0.25)
    assert f"L = {t * -2:.6f}" in out
    assert f"dL/dd = {t:+.6f}" in out
    assert f"dL/dc = {-2 * (1 - t * t) * 0.25:+.6f}" in out
    assert "MLP step: loss " in out
    if shutil.which("dot"):
        assert (tmp_path / "scalar.svg").exists() and (tmp_path / "scalar_steps" / "index.html").exists()
        assert "layers.3.W" in (tmp_path / "mlp_step.svg").read_text()
    else:
        assert (tmp_path / "scalar.dot").exists() and (tmp_path / "mlp_step.dot").exists()


def test_train_original(mnist_dir):
    out = run_example("train_original.py", "--subset", "2000", "--epochs", "1", "--data", mnist_dir)
    assert "784-128-64-32-10" in out and "epoch 1/1" in out and "layers.0.W" in out
    assert "final test accuracy" in out


def test_better_mlp(mnist_dir, tmp_path):
    out = run_example(
        "better_mlp.py", "--subset", "5000", "--epochs", "2", "--hidden", "128", "--data", mnist_dir,
        "--save", str(tmp_path / "m.npz"),
    )  # fmt: skip
    accuracy = float(out.split("final test accuracy: ")[1].split("%")[0])
    assert accuracy > 85.0
    assert (tmp_path / "m.npz").exists()


def test_verify_gradients(mnist_dir):
    out = run_example("verify_gradients.py", "--batch", "16", "--data", mnist_dir)
    assert "loss sse, float64, batch 16: all gradients agree" in out
    assert "loss cross_entropy, float64, batch 16: MISMATCH" in out


# notebook -> (its environment, texts its outputs must print); the Korean one retells the same
# cells, so less data is enough to execute every one of them
NOTEBOOKS = {
    "tutorial.ipynb": (
        {"TUTORIAL_SUBSET": "3000", "TUTORIAL_ORIGINAL_EPOCHS": "2", "TUTORIAL_BETTER_EPOCHS": "2"},
        ["gradcheck: True", "dW matches x.T @ dout: True", "better recipe: "],
    ),
    "tutorial.ko.ipynb": (
        {"TUTORIAL_SUBSET": "1000", "TUTORIAL_ORIGINAL_EPOCHS": "1", "TUTORIAL_BETTER_EPOCHS": "1"},
        [
            "gradcheck 결과: True",
            "dW와 x.T @ dout 일치: True",
            "더 나은 방법: 1 에폭 뒤",
            "노트북의 MLP: True",
        ],
    ),
}


def glyph_complaints(outputs: list) -> list[str]:
    """What matplotlib said, in a notebook's outputs, about characters its font lacks (drawn as boxes)."""
    said = ["".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream"]
    return [t for t in said if "missing from font" in t or "does not have a glyph" in t]


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="the notebook draws graphs inline with Graphviz's dot"
)
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_tutorial_notebook_executes(mnist_dir, name):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "examples" / name, as_version=4)
    knobs, texts = NOTEBOOKS[name]
    env = {
        **knobs,
        "TINYGRAD_MLP_DATA": mnist_dir,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # one BLAS thread: on a busy 2-core machine two spinning threads made a step 20x slower
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for expected in texts:
        assert expected in text
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"image/svg+xml", "image/png", "text/html"} <= kinds  # the graph, the plots, the verify table
    html = "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert "MISMATCH" in html and "all gradients agree" in html
    if name.endswith(".ko.ipynb"):
        from tinygrad_mlp.fonts import find_hangul_font

        font = find_hangul_font()
        assert (f"그래프 글꼴: {font}" if font else "한글 글꼴 없음") in text
        if font:  # then no Korean title, label or tick may fall back to a box
            assert glyph_complaints(outputs) == []
    else:
        assert glyph_complaints(outputs) == []


def test_the_korean_notebook_is_committed_with_its_outputs():
    # its readers read it on the web without running it: every code cell keeps its outputs,
    # none an error or a missing glyph, and the plots are there
    nb = json.loads((REPO / "examples" / "tutorial.ko.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] for c in code), "examples/tutorial.ko.ipynb: run it and save it with outputs"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert glyph_complaints(outputs) == []
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # digits, sigmoid, stall, recipes
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "epoch 10/10" in text and "더 나은 방법: 5 에폭 뒤" in text  # the full run, not the test's


def test_higher_order(tmp_path):
    import re

    out = run_example("higher_order.py", "--quick", "--out", str(tmp_path))
    assert "d2y/dx2 = 12 (6x = 12), d3y/dx3 = 6 (6)" in out
    ours, exact = re.search(
        r"= (-?\d\.\d+)  \(-2 tanh\(x\)\(1 - tanh\(x\)\^2\) = (-?\d\.\d+)\)", out
    ).groups()
    assert ours == exact
    last = re.findall(r"step +\d+: p = \(([-\d.]+), ([-\d.]+)\)", out)[-1]
    assert abs(float(last[0]) - 1) < 1e-6 and abs(float(last[1]) - 1) < 1e-6  # Newton converged
    rel = float(re.search(r"finite differences of the gradient: ([\d.e+-]+) of", out).group(1))
    assert rel < 1e-6
    svg = (tmp_path / "double_backward.svg").read_text()
    assert svg.count('<g id="node') >= 4  # x, and the ops backprop recorded (pow, mul ...)


def test_the_korean_notebook_has_the_english_ones_numbered_sections():
    def sections(name: str) -> list[str]:
        nb = json.loads((REPO / "examples" / name).read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        return re.findall(r"^## (\d+)\.", text, re.M)

    english, korean = sections("tutorial.ipynb"), sections("tutorial.ko.ipynb")
    assert korean == english, (
        f"tutorial.ko.ipynb has sections {korean}, tutorial.ipynb {english}: retell the new ones"
    )
