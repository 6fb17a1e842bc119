"""tools/mutation.py: the copy it tests each mutant in holds everything the suite reads, and a
mutation changes exactly the node it names."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

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
