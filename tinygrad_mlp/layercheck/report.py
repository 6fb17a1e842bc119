"""The report of ``check_backward``: one row per input and parameter, graded.

Verdicts (the ``agree`` column):

- ``yes``: the hand-written gradient equals the automatic one within ``tol`` (rel diff),
  and the automatic one agrees with central differences.
- ``close``: they differ by more than ``tol`` but by less than a numerical check resolves
  (``num_tol``), and the hand-written one agrees with central differences too: it
  passes, and a note names the likely cause (a small constant inside a log ...).
- ``zero``: the true gradient is zero, and both are at rounding level next to the
  layer's largest gradient entry (a bias before batch-norm): passes.
- ``kink``: every entry where they differ sits exactly on a kink (ReLU at 0, |w| at 0),
  where the one-sided slopes differ, and the hand-written value lies between them: a
  valid subgradient, passes, with a note counting the entries.
- ``yes*``: the automatic gradient is off (the forward turned a Tensor into numbers)
  and the hand-written one agrees with central differences: passes, with a warning.
- ``NO``: wrong; the summary names the entry, both values and the share.

``rel diff`` is everywhere the same figure: max |automatic - hand-written| as a share of
the automatic gradient's largest entry (inf where that entry is 0 and they differ).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .._table import text_table

PASSING = ("yes", "close", "zero", "kink", "yes*")


@dataclass
class GradRow:
    """One input's or parameter's line of the report."""

    name: str
    shape: tuple[int, ...]
    max_abs: float  # max |automatic - hand-written| (NaN when backward gave no gradient)
    max_rel: float  # max_abs as a share of the automatic gradient's largest entry
    numerical: float  # max error of automatic vs central differences on the sample, relative
    numerical_abs: float  # the same, absolute
    numerical_manual: float  # relative error of hand-written vs central differences
    ok: bool = False
    problem: str = ""  # why the row disagrees, in words (empty when it agrees)
    warning: str = ""  # the row agrees, but the automatic gradient is off (a cut trace)
    numerical_manual_abs: float = float("nan")  # hand-written vs central differences, absolute
    verdict: str = "NO"  # one of PASSING, or "NO"
    note: str = ""  # why a passing row is close, zero or on a kink


class _Names(list):
    """Row names, a list; calling it, ``report.failed()``, gives the same list (the
    spelling of an earlier version, kept working)."""

    def __call__(self) -> list[str]:
        return list(self)


@dataclass
class LayerReport:
    """Per-input and per-parameter agreement; ``passed`` only when every row passes."""

    layer: str
    rows: list[GradRow]
    out_shape: tuple[int, ...]
    dout: str  # how dout was chosen, for the summary line
    tol: float
    num_tol: float
    notes: list[str] = field(default_factory=list)
    random: bool = False  # the forward drew random numbers (replayed within the check)

    @property
    def passed(self) -> bool:
        """True when every row passes (and there is at least one row)."""
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def failed(self) -> list[str]:
        """The names of the rows that disagree (``report.failed()`` works too)."""
        return _Names(r.name for r in self.rows if not r.ok)

    @property
    def warned(self) -> list[str]:
        """The names of the rows that agree only with central differences: the
        hand-written gradient is right and the automatic one is off."""
        return [r.name for r in self.rows if r.ok and r.warning]

    def __getitem__(self, name: str) -> GradRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def agreement(self) -> dict[str, bool]:
        """Row name -> agrees (for colouring a graph's parameters)."""
        return {r.name: r.ok for r in self.rows}

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["grad of", "shape", "max |auto-hand|", "rel diff", "num vs auto", "num vs hand", "agree"]
        body = [
            [
                r.name,
                "x".join(map(str, r.shape)) or "()",
                _fmt(r.max_abs),
                _fmt(r.max_rel),
                _fmt(r.numerical),
                _fmt(r.numerical_manual),
                r.verdict,
            ]
            for r in self.rows
        ]
        return head, body

    def summary(self) -> list[str]:
        """The verdict line, and one line per disagreeing (or warned, close, zero, kink) row."""
        if not self.rows:
            verdict = "nothing to check: no input or parameter got a gradient"
        elif not self.passed:
            verdict = "MISMATCH"
        elif self.warned:
            verdict = (
                "your backward is right (it agrees with central differences), "
                f"but the automatic gradient is off for {', '.join(self.warned)}"
            )
        else:
            verdict = "all gradients agree"
        shape = " and ".join("x".join(map(str, s)) or "scalar" for s in self.out_shapes)
        outputs = "outputs" if len(self.out_shapes) > 1 else "output"
        lines = [
            f"{self.layer}: {outputs} {shape}, dout {self.dout}: {verdict} "
            f"(rel diff tolerance {self.tol:g}, numerical tolerance {self.num_tol:g})"
        ]
        lines += [f"  {r.name}: {r.problem}" for r in self.rows if not r.ok]
        lines += [f"  {r.name} ({r.verdict}): {r.note}" for r in self.rows if r.ok and r.note]
        lines += [f"  {r.name} (yes*): {r.warning}" for r in self.rows if r.ok and r.warning]
        return lines

    @property
    def out_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each output (one for most layers)."""
        return self.out_shape if isinstance(self.out_shape, list) else [self.out_shape]

    def __str__(self) -> str:
        table = text_table(*self._cells(), strip=True)
        return "\n".join([*self.notes, *table, *self.summary()])

    def _repr_html_(self) -> str:
        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        colour = {"yes": "inherit", "close": "inherit", "zero": "inherit", "kink": "inherit"}
        colour |= {"yes*": "darkorange", "NO": "crimson"}
        trs = "".join(
            "<tr>"
            + "".join(f"<td style='color:{colour[cells[-1]]}'>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
            for cells in body
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        summary = "<br>".join(html.escape(s) for s in self.summary())
        return f"{notes}<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table><p>{summary}</p>"


def _fmt(value: float) -> str:
    if np.isnan(value):
        return "-"
    return "inf" if np.isinf(value) else f"{value:.2e}"


def share(diff: float, auto: np.ndarray) -> float:
    """``diff`` as a share of the automatic gradient's largest entry: the one definition
    of ``rel diff`` (0 when both are 0, inf when only the gradient's entries are)."""
    peak = float(np.max(np.abs(auto))) if auto.size else 0.0
    if diff == 0:
        return 0.0
    return diff / peak if peak > 0 else float("inf")


def share_text(of: float) -> str:
    """A :func:`share` in words."""
    if np.isinf(of):
        return "the automatic gradient is 0 there"
    return (
        f"{of:.1%} of the automatic gradient's largest entry"
        if of >= 0.01
        else (f"{of:.2e} of the automatic gradient's largest entry")
    )
