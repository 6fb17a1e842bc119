"""Every example runs as is on small data, and the tutorial notebook executes headlessly."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    # one epoch of the original recipe never leaves the stall, and the example says so
    accuracy = float(out.split("final test accuracy: ")[1].split("%")[0])
    assert accuracy < 50 and "still in the stall" in out


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


# The tutorial is committed executed, so that GitHub shows its graphs, tables and curves.
# The test below re-executes it on a small subset and checks that the committed outputs
# are not stale: cell by cell, the same kinds of output in the same order (text, image/png,
# image/svg+xml, ...) and the same text (stdout, text/plain, and the words and size of each
# SVG picture), with numbers equal within 2% (memory addresses and timings masked, runs of
# whitespace and of dashes collapsed, so a table may change its column widths; numbers
# below 1e-4, such as round-off and finite-difference errors that vary with the CPU, need
# only the same order of magnitude). A cell
# whose output depends on the amount of data or the number of epochs (those that train)
# carries the cell tag "varies-with-data": only its words are compared, line by line as a
# set, not its numbers. After changing the notebook, or anything its outputs show,
# re-execute it on the full data and commit it:
#
#     python tools/run_notebooks.py examples/tutorial.ipynb
#
# (a full run takes a few minutes: 10 epochs of the original recipe, 5 of the better one).
TUTORIAL = REPO / "examples" / "tutorial.ipynb"
VARIES = "varies-with-data"
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
MASKS = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),  # memory addresses in reprs
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s)\b"), "<time>"),  # timings
    (re.compile(r"[-=]{2,}"), "---"),  # table rules, as wide as their columns
)


def _outputs(cell) -> tuple[list[str], str]:
    """A code cell's kinds of output, in order (runs of one kind collapsed), and its text."""
    kinds, text = [], []
    stream_open = False  # the last piece of text is stdout, still growing
    for out in cell.outputs:
        after_stdout, stream_open = stream_open, False
        if out.output_type == "stream":
            new = [f"stream:{out.name}"]
            if out.name == "stdout":  # a stream arrives in chunks split anywhere, mid-line too
                if after_stdout:
                    text[-1] += out.text
                else:
                    text.append(out.text)
                stream_open = True
        elif out.output_type == "error":
            new = ["error"]
        else:
            new = sorted(out.data)
            text.append(out.data.get("text/plain", ""))
            svg = out.data.get("image/svg+xml", "")
            if svg:
                size = re.search(r"<svg[^>]*?width=\"([^\"]*)\"[^>]*?height=\"([^\"]*)\"", svg)
                text.append("svg " + " ".join(size.groups() if size else ()))
                text += [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
        for k in new:
            if not kinds or kinds[-1] != k:
                kinds.append(k)
    return kinds, "\n".join(text)


def _words_and_numbers(text: str) -> tuple[list[str], list[float]]:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    lines = [" ".join(NUMBER.sub("#", line).split()) for line in text.splitlines()]
    return [line for line in lines if line], [float(v) for v in NUMBER.findall(text)]


def _close(a: float, b: float, rtol: float, atol: float, tiny: float = 1e-4) -> bool:
    """Equal within rtol; numbers below ``tiny`` on both sides (round-off, finite-difference
    errors: they change with the CPU's BLAS kernels) only need the same order of magnitude."""
    if abs(a) < tiny and abs(b) < tiny:
        return abs(a - b) <= atol or (a * b > 0 and abs(np.log10(abs(a) / abs(b))) <= 1)
    return bool(np.isclose(a, b, rtol=rtol, atol=atol))


def stale_outputs(committed, fresh, rtol: float = 0.02, atol: float = 1e-9) -> list[str]:
    """How the committed notebook's outputs differ from a fresh execution's, one line per
    cell that differs (empty: not stale)."""
    problems = []
    cells = [(c, f) for c, f in zip(committed.cells, fresh.cells) if c.cell_type == "code"]
    for n, (old, new) in enumerate(cells, start=1):
        where = f"code cell {n} ({old.source.splitlines()[0][:50] if old.source else 'empty'!r})"
        old_kinds, old_text = _outputs(old)
        new_kinds, new_text = _outputs(new)
        if old_kinds != new_kinds:
            problems.append(f"{where}: committed outputs {old_kinds}, a fresh run gives {new_kinds}")
            continue
        old_words, old_numbers = _words_and_numbers(old_text)
        new_words, new_numbers = _words_and_numbers(new_text)
        if VARIES in old.metadata.get("tags", []):
            if set(old_words) != set(new_words):
                problems.append(f"{where}: text {sorted(set(old_words) ^ set(new_words))[:4]} differs")
        elif old_words != new_words:
            diff = next((a, b) for a, b in zip(old_words + [""], new_words + [""]) if a != b)
            problems.append(f"{where}: committed {diff[0]!r}, a fresh run gives {diff[1]!r}")
        elif len(old_numbers) != len(new_numbers):
            problems.append(
                f"{where}: {len(old_numbers)} numbers committed, a fresh run gives {len(new_numbers)}"
            )
        else:
            bad = [(a, b) for a, b in zip(old_numbers, new_numbers) if not _close(a, b, rtol, atol)]
            if bad:
                problems.append(f"{where}: committed number {bad[0][0]:g}, a fresh run gives {bad[0][1]:g}")
    return problems


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

    committed = nbformat.read(REPO / "examples" / name, as_version=4)
    counts = [c.execution_count for c in committed.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"examples/{name} is not committed executed top to bottom: run "
        f"python tools/run_notebooks.py examples/{name} and commit it"
    )
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
    html_out = "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert "MISMATCH" in html_out and "all gradients agree" in html_out
    if name.endswith(".ko.ipynb"):
        from tinygrad_mlp.fonts import find_hangul_font

        font = find_hangul_font()
        assert (f"그래프 글꼴: {font}" if font else "한글 글꼴 없음") in text
        if font:  # then no Korean title, label or tick may fall back to a box
            assert glyph_complaints(outputs) == []
    else:
        assert glyph_complaints(outputs) == []

    if name == "tutorial.ipynb":
        problems = stale_outputs(committed, nb)
        assert not problems, (
            "examples/tutorial.ipynb's committed outputs are stale; re-execute it with "
            "`python tools/run_notebooks.py examples/tutorial.ipynb` and commit it (a cell whose output "
            "depends on the data size may carry the tag 'varies-with-data'):\n" + "\n".join(problems)
        )


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


def test_the_staleness_check_tells_stale_from_noise():
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def notebook(loss: str, table_rule: str, addr: str, picture: bool, acc: str, words: str = "loss"):
        plot = [new_output("display_data", data={"image/png": "iVBOR", "text/plain": f"<Figure at {addr}>"})]
        cells = [
            new_code_cell(
                "print(loss)",
                outputs=[new_output("stream", name="stdout", text=f"{words} {loss} in {loss[-1]} s\n")],
            ),
            new_code_cell(
                "table", outputs=[new_output("stream", name="stdout", text=f"a  b\n{table_rule}\n")]
            ),
            new_code_cell("plot", outputs=plot if picture else []),
            new_code_cell("fit", outputs=[new_output("stream", name="stdout", text=acc)]),
        ]
        cells[-1].metadata["tags"] = [VARIES]
        return nbformat.from_dict(new_notebook(cells=cells))

    committed = notebook("157.7", "--  --", "0x7f00", True, "epoch 1/2 acc 10%\nepoch 2/2 acc 21%\n")
    same = notebook("157.71", "---  ---", "0x7fff", True, "epoch 1/1 acc 9%\n")  # rounding, widths, addresses
    assert stale_outputs(committed, same) == []

    def first_problem(loss="157.7", picture=True, acc="epoch 1/1 acc 9%\n", words="loss") -> str:
        return stale_outputs(committed, notebook(loss, "--  --", "0x1", picture, acc, words))[0]

    assert "committed number 157.7, a fresh run gives 170.2" in first_problem(loss="170.2")
    assert _close(5.4e-06, 1.6e-06, 0.02, 1e-9) and _close(1e-20, -3e-20, 0.02, 1e-9)  # noise
    assert not _close(5.4e-06, 2e-07, 0.02, 1e-9) and not _close(3e-05, -3e-05, 0.02, 1e-9)
    assert "image/png" in first_problem(picture=False)
    assert "committed 'loss # in <time>', a fresh run gives 'cost # in <time>'" in first_problem(words="cost")
    assert first_problem(acc="accuracy 9%\n").startswith("code cell 4")  # tagged: its words still count


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
    # a legend says what dashed orange is; pow shows its exponent; the seed 1 is named
    assert "op of a backward pass (dashed)" in svg and "pow (**2)" in svg and ">seed<" in svg
    assert "drawn apart" not in out and "seed = dy/dy = 1" in out


def test_the_korean_notebook_has_the_english_ones_numbered_sections():
    def sections(name: str) -> list[str]:
        nb = json.loads((REPO / "examples" / name).read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        return re.findall(r"^## (\d+)\.", text, re.M)

    english, korean = sections("tutorial.ipynb"), sections("tutorial.ko.ipynb")
    assert korean == english, (
        f"tutorial.ko.ipynb has sections {korean}, tutorial.ipynb {english}: retell the new ones"
    )
