"""The English and the Korean tutorial tell the same story: the same sections (markdown
headings, at the same levels and with the same numbers), and in each section the same code
(compared as Python syntax trees, so comments, strings and labels may be translated), the
same number of plotting calls and the same number of pictures in the committed outputs.

Adding a section, a plot or a picture to one notebook: add its twin to the other at the same
place and re-execute both (``python tools/run_notebooks.py``). Markdown cells without a heading
(the Korean notebook's notes on the English program output) may differ freely.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENGLISH, KOREAN = "tutorial.ipynb", "tutorial.ko.ipynb"

# Code only the Korean notebook has, and why: its plots need a font with Hangul glyphs.
KOREAN_ONLY = (
    "from tinygrad_mlp.fonts import use_hangul_font",
    "font = use_hangul_font()",
    'print("그래프 글꼴:"',
)
HEADING = re.compile(r"^(#{1,6})\s+(\d+\.)?", re.M)
PLOTTING = re.compile(r"\.(?:plot|semilogy|loglog|imshow|axhline|axvline|bar|scatter|hist|fill_between)\(")
PICTURES = ("image/png", "image/svg+xml", "image/jpeg")


class _Blank(ast.NodeTransformer):
    """Every string literal, f-strings included, becomes the same constant."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.Constant("")


def code_shape(source: str, skip: tuple[str, ...] = ()) -> str:
    """A code cell with its comments and the text of its strings left out (and the lines
    starting with ``skip``): what the cell does, not how it words it. IPython magics are
    kept as they are, without their comments."""
    kept, magics = [], []
    for line in source.splitlines():
        if skip and line.strip().startswith(skip):
            continue
        if line.lstrip().startswith(("%", "!")):
            magics.append(line.split("#")[0].strip())
            line = line[: len(line) - len(line.lstrip())] + "pass"
        kept.append(line)
    return "\n".join([*magics, ast.dump(_Blank().visit(ast.parse("\n".join(kept))))])


def sections(path: Path, skip: tuple[str, ...] = ()) -> list[dict]:
    """The notebook cut at its markdown headings: each section's heading (level and number),
    the shape of each code cell, its plotting calls and the pictures in its outputs."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found: list[dict] = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            for level, number in HEADING.findall(source):
                title = re.search(rf"^{level}\s+(.*)$", source, re.M).group(1)
                found.append(
                    {"heading": (level, number), "title": title, "code": [], "plots": 0, "pictures": 0}
                )
            continue
        if cell["cell_type"] != "code":
            continue
        assert found, f"{path.name}: a code cell comes before the first heading"
        section = found[-1]
        section["code"].append(code_shape(source, skip))
        section["plots"] += len(PLOTTING.findall(re.sub(r"#.*", "", source)))
        section["pictures"] += sum(
            any(kind in out.get("data", {}) for kind in PICTURES) for out in cell.get("outputs", [])
        )
    return found


@pytest.fixture(scope="module")
def pair() -> tuple[list[dict], list[dict]]:
    return sections(EXAMPLES / ENGLISH), sections(EXAMPLES / KOREAN, skip=KOREAN_ONLY)


def _label(section: dict) -> str:
    return f"{section['heading'][0]} {section['title']}"


def test_the_same_sections_in_the_same_order(pair):
    english, korean = pair
    assert [s["heading"] for s in korean] == [s["heading"] for s in english], (
        f"{ENGLISH} has sections {[_label(s) for s in english]},\n"
        f"{KOREAN} has {[_label(s) for s in korean]}: give each its twin, same level and number"
    )


@pytest.mark.parametrize("what", ["code", "plots", "pictures"])
def test_each_section_has_the_same_code_plots_and_pictures(pair, what):
    english, korean = pair
    differ = [
        f"{_label(en)} / {_label(ko)}: {_describe(what, en[what])} in English, {_describe(what, ko[what])} in Korean"
        for en, ko in zip(english, korean)
        if en[what] != ko[what]
    ]
    assert not differ, "the notebooks differ section by section:\n" + "\n".join(differ)


def _describe(what: str, value) -> str:
    if what != "code":
        return f"{value} {what}"
    return f"{len(value)} code cells (first lines of their shapes: {[v.splitlines()[0][:60] for v in value]})"


@pytest.mark.parametrize(
    "a, b, same",
    [
        ('plt.title("loss")  # English', 'plt.title("손실")  # 한국어', True),
        ('print(f"acc {x:.2%}")', 'print(f"정확도 {x:.2%} 뒤")', True),
        ('ax.plot(x, y, label="a")', 'ax.plot(x, y, label="b", marker="o")', False),
        ("fig = plt.figure(figsize=(5, 3))", "fig = plt.figure(figsize=(5, 3.4))", False),
        (
            '%config InlineBackend.figure_format = "retina"  # 2x',
            '%config InlineBackend.figure_format = "retina"',
            True,
        ),
        ('%config InlineBackend.figure_format = "retina"', "x = 1", False),
        ("x = 1\ny = 2", "x = 1", False),
    ],
)
def test_code_shape_ignores_wording_only(a, b, same):
    assert (code_shape(a) == code_shape(b)) is same


def test_sections_count_plots_and_pictures(tmp_path):
    def cell(kind, source, outputs=()):
        return {
            "cell_type": kind,
            "source": source,
            "metadata": {},
            **({"outputs": list(outputs)} if kind == "code" else {}),
        }

    png = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}
    nb = {
        "cells": [
            cell("markdown", "# Title"),
            cell("code", "import x"),
            cell("markdown", "## 1. Data\n\ntext"),
            cell("code", "plt.plot(a)  # .plot( in a comment is no call\nplt.axhline(0.25)", [png]),
            cell("markdown", "a note, not a section"),
            cell("markdown", "## Summary"),
        ]
    }
    (tmp_path / "t.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    found = sections(tmp_path / "t.ipynb")
    assert [(s["heading"], len(s["code"]), s["plots"], s["pictures"]) for s in found] == [
        (("#", ""), 1, 0, 0),
        (("##", "1."), 1, 2, 1),
        (("##", ""), 0, 0, 0),
    ]
