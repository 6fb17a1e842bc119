"""Every example runs as is on small data, and the tutorial notebook executes headlessly."""

from __future__ import annotations

import os
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
    assert "loss printed_ce, float64, batch 16: MISMATCH" in out


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="the notebook draws graphs inline with Graphviz's dot"
)
def test_tutorial_notebook_executes(mnist_dir):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "examples" / "tutorial.ipynb", as_version=4)
    env = {
        "TUTORIAL_SUBSET": "3000",
        "TUTORIAL_ORIGINAL_EPOCHS": "2",
        "TUTORIAL_BETTER_EPOCHS": "2",
        "TINYGRAD_MLP_DATA": mnist_dir,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
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
    assert "gradcheck: True" in text and "dW matches x.T @ dout: True" in text
    assert "better recipe: " in text
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"image/svg+xml", "image/png", "text/html"} <= kinds  # the graph, the plots, the verify table
    html = "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert "MISMATCH" in html and "all gradients agree" in html
