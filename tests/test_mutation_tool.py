"""tools/mutation.py: the copy it tests each mutant in holds everything the suite reads, and a
mutation changes exactly the node it names."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mutation", REPO / "tools" / "mutation.py")
mutation = importlib.util.module_from_spec(spec)
sys.modules["mutation"] = mutation  # its dataclasses look their module up
spec.loader.exec_module(mutation)


def test_the_copy_holds_what_the_suite_reads(tmp_path):
    mutation._copy_repo(tmp_path)
    for rel in ["README.md", "README.ko.md", "examples/tutorial.ipynb", "examples/tutorial.ko.ipynb",
                "tinygrad_mlp/ops/core.py", "tests/numpy_check.py", "pyproject.toml"]:  # fmt: skip
        assert (tmp_path / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    assert not (tmp_path / ".git").exists()


def test_modules_below_the_package_and_one_change_each():
    source = (REPO / "tinygrad_mlp" / "ops" / "core.py").read_text()
    muts = mutation.mutations_of("ops/core.py", source)
    assert len(muts) > 20
    m = next(m for m in muts if "->" in m.description and "constant" not in m.description)
    changed = mutation.mutated_source(source, m)
    assert changed != source
    assert ast.dump(ast.parse(changed)) != ast.dump(ast.parse(source))


@pytest.mark.parametrize(
    "subset, whole, expected, confirmed",
    [
        ("fail", None, "killed", False),  # killed by the subset: the whole suite is never run
        ("timeout", None, "timeout", False),
        ("pass", "fail", "killed", True),  # a survivor of the subset, killed by the whole suite
        ("pass", "timeout", "timeout", True),
        ("pass", "pass", "survived", True),
    ],
)
def test_confirm_reruns_only_survivors_against_the_whole_suite(
    monkeypatch, subset, whole, expected, confirmed
):
    calls = []

    def fake_pytest(workdir, tests, deselect, timeout, stop_first):
        calls.append((tests, deselect, timeout))
        return (subset if len(calls) == 1 else whole), ""

    monkeypatch.setattr(mutation, "_pytest", fake_pytest)
    monkeypatch.setattr(mutation, "_copy_repo", lambda dest: (dest / "tinygrad_mlp").mkdir())
    m = mutation.mutations_of("func.py", (REPO / "tinygrad_mlp" / "func.py").read_text())[0]
    result = mutation.run_mutant(m, ["tests/fast.py"], ["a"], 30, ["tests"], ["b"], 600)
    assert result == expected
    assert calls[0] == (["tests/fast.py"], ["a"], 30)
    assert calls[1:] == ([(["tests"], ["b"], 600)] if confirmed else [])


def test_modules_take_a_package_and_per_file_counts():
    files = sorted(
        str(p.relative_to(REPO / "tinygrad_mlp")) for p in (REPO / "tinygrad_mlp" / "ops").glob("*.py")
    )
    got = dict(mutation.expand_modules(["ops", "ops/core.py:7", "func.py"], 3))
    assert sorted(got) == sorted([*files, "func.py"])
    assert got["ops/core.py"] == 7 and got["func.py"] == 3
    assert all(n == 3 for f, n in got.items() if f != "ops/core.py")
    assert dict(mutation.expand_modules(["ops/core.py:7", "ops"], 3))["ops/core.py"] == 7  # order-free
    for bad in ["nothing.py", "ops:x", "README.md"]:
        with pytest.raises(ValueError, match="--modules"):
            mutation.expand_modules([bad], 3)


def test_match_keeps_only_the_named_mutation(capsys):
    lines = (REPO / "tinygrad_mlp" / "func.py").read_text().splitlines()
    a = next(k for k, line in enumerate(lines, 1) if "if not -n <= i < n:" in line)
    b = next(k for k, line in enumerate(lines, 1) if "i % n for i in nums" in line)
    argv = [
        "--modules",
        "func.py",
        "--all",
        "--match",
        f"func.py:{a}: not -n",
        f"func.py:{b}: i % n",
        "--list",
    ]
    assert mutation.main(argv) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tinygrad_mlp/")]
    assert listed == [
        f"tinygrad_mlp/func.py:{a}: not -n <= i < n: drop not",
        f"tinygrad_mlp/func.py:{b}: i % n: % -> //",
    ]
