"""docs/numpy.md lists exactly what ``numpy_api.supported()`` returns: its table is
``numpy_api.supported_table()``, so the page cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

from tinygrad_mlp import numpy_api

PAGE = Path(__file__).resolve().parent.parent / "docs" / "numpy.md"


def _table_on_page() -> str:
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(r"<!-- supported: begin[^\n]*-->\n(.*?)\n<!-- supported: end -->", text, re.S)
    assert found, "docs/numpy.md has no generated table between the supported: markers"
    return found.group(1)


def test_the_page_lists_exactly_the_supported_functions():
    table = _table_on_page()
    assert table == numpy_api.supported_table(), (
        "docs/numpy.md is stale: paste the output of "
        'python -c "from tinygrad_mlp import numpy_api; print(numpy_api.supported_table())"'
    )
    assert sorted(re.findall(r"`(np\.[\w.]+)`", table)) == numpy_api.supported()


def test_every_group_is_numpys_and_every_function_is_in_one():
    groups = numpy_api.supported_groups()
    assert tuple(groups) == (
        "elementwise",
        "reductions",
        "shape",
        "products",
        "linalg",
        "sorting",
        "building arrays",
    )
    names = [n for g in groups.values() for n in g]
    assert len(names) == len(set(names)) == len(numpy_api.supported())
    assert "np.linalg.inv" in groups["linalg"] and "np.einsum" in groups["products"]
    assert "np.sort" in groups["sorting"] and "np.array" in groups["building arrays"]
