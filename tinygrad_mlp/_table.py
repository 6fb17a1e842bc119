"""The plain-text table of the gradient reports (``verify`` and ``check_backward``)."""

from __future__ import annotations


def text_table(head: list[str], body: list[list[str]], strip: bool = False) -> list[str]:
    """Lines of a table: the first two columns left-aligned, the others right-aligned,
    a rule of dashes under the header. ``strip`` drops trailing spaces."""
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        text = "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return text.rstrip() if strip else text

    return [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in body)]
