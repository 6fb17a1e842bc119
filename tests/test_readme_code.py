"""README.md's Python blocks run as a reader runs them: in order, in one session (a later block
may use what an earlier one defined), in an empty folder, on real MNIST. Each prints what the
README shows:

- a Python block followed directly by a plain ``` block: that block is its output;
- otherwise, every ``print(...)`` line ends in a comment that starts with what it prints
  (``print(a.grad)  # [4. 5.]  = b``: the words after the output explain it).

Words must match exactly; numbers within 0.1% (entries below 1e-6, round-off that changes
with the BLAS library, only to the same order of magnitude). After changing a block, run it
and paste its real output. README.ko.md has the same blocks (tests/test_readme_ko.py).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shutil
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
PRINT_COMMENT = re.compile(r"^\s*print\(.*\)\s+# ?(.*)$", re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
NEEDS_DOT = ("render_graph", "draw_graph")  # blocks that draw: skipped without Graphviz


def python_blocks(text: str) -> list[tuple[str, str | None]]:
    """(code, the output shown right after it or None) for each ```python block."""
    fences = list(FENCE.finditer(text))
    found = []
    for here, after in zip(fences, [*fences[1:], None]):
        if here.group(1).strip() != "python":
            continue
        follows = (
            after is not None and not after.group(1).strip() and not text[here.end() : after.start()].strip()
        )
        found.append((here.group(2), after.group(2) if follows else None))
    return found


def same_text(shown: str, printed: str) -> bool:
    """The same words, and numbers equal within 0.1% (tiny ones within a decade)."""
    if NUMBER.sub("#", shown).split() != NUMBER.sub("#", printed).split():
        return False
    for a, b in zip(map(float, NUMBER.findall(shown)), map(float, NUMBER.findall(printed))):
        if abs(a) < 1e-6 and abs(b) < 1e-6:
            if (a == 0) != (b == 0) or (a and abs(math.log10(abs(a) / abs(b))) > 1):
                return False
        elif not math.isclose(a, b, rel_tol=1e-3):
            return False
    return True


def problems_with(code: str, shown: str | None, printed: str) -> list[str]:
    first = code.strip().splitlines()[0]
    if shown is not None:
        if same_text(shown, printed):
            return []
        return [f"block {first!r} prints\n{printed}\nbut README.md shows\n{shown}"]
    comments, lines = PRINT_COMMENT.findall(code), printed.splitlines()
    if len(comments) != len(lines):
        return [f"block {first!r}: {len(lines)} lines printed, {len(comments)} print comments:\n{printed}"]
    return [
        f"block {first!r}: prints {line!r}, the comment says {comment!r}"
        for line, comment in zip(lines, comments)
        if not same_text(comment[: len(line)], line) and not comment.startswith(line)
    ]


def test_the_checker_tells_a_stale_block_from_noise():
    assert same_text("loss 0.3491  acc 94.70%", "loss 0.34912  acc 94.70%")
    assert same_text("num 5.13e-12", "num 7.97e-12")  # round-off
    assert not same_text("loss 0.3491", "loss 0.3591")
    assert not same_text("acc 94.70%", "accuracy 94.70%")
    assert not same_text("num 5.13e-12", "num 5.13e-09")
    code = 'print(1 + 1)  # 2  (one plus one)\nprint("b")  # c'
    assert problems_with(code, None, "2\nb\n") == [
        "block 'print(1 + 1)  # 2  (one plus one)': prints 'b', the comment says 'c'"
    ]
    blocks = python_blocks(
        "```python\nprint(1)\n```\n\n```\n1\n```\n\ntext\n\n```python\nx = 1\n```\ntext\n```\n2\n```\n"
    )
    assert blocks == [("print(1)\n", "1\n"), ("x = 1\n", None)]


def test_every_python_block_prints_what_the_readme_shows(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYGRAD_MLP_DATA", mnist_dir)
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5, "README.md's Python blocks were not found"
    namespace: dict = {"__name__": "__readme__"}
    problems, skipped = [], []
    for code, shown in blocks:
        if shutil.which("dot") is None and any(name in code for name in NEEDS_DOT):
            skipped.append(code.splitlines()[0])
            continue
        out = io.StringIO()
        # one BLAS thread: on a busy 2-core machine two threads made the training block 10x slower
        with contextlib.redirect_stdout(out), threadpool_limits(limits=1):
            exec(compile(code, str(README), "exec"), namespace)
        problems += problems_with(code, shown, out.getvalue())
    assert not problems, "README.md's blocks print something else than it shows:\n\n" + "\n\n".join(problems)
    if skipped:
        pytest.skip(f"Graphviz's dot is missing: blocks not run: {skipped}")
