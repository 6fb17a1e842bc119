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
ZERO_LEVEL = 1e-10  # a gradient this small next to the check's largest entry is rounding of a true 0
MAX_KINK_ENTRIES = 64  # entries tested one by one for a kink in a row that differs


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
    out_shape: tuple[int, ...] | list[tuple[int, ...]]  # a list for several outputs
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


# ---------------------------------------------------------------- grading


def _vs_numerical(grad: np.ndarray, idx, num) -> tuple[float, float]:
    """(relative, absolute) error of ``grad`` at the sampled entries; relative to the
    largest entry of ``grad`` or of the numerical derivatives."""
    keep = ~np.isnan(num)
    if not keep.any():
        return float("nan"), float("nan")
    diff = float(np.max(np.abs(grad.reshape(-1)[idx[keep]] - num[keep])))
    scale = max(float(np.max(np.abs(grad))) if grad.size else 0.0, float(np.max(np.abs(num[keep]))), 1e-30)
    return diff / scale, diff


def grade(name, auto, hand, idx, num, numerical, ctx: dict) -> GradRow:
    """One row and its verdict (see :mod:`.report`)."""
    tol, num_tol, resolution = ctx["tol"], ctx["num_tol"], numerical.resolution
    shape = auto.shape
    hand = np.asarray(hand, dtype=np.float64)

    def close(rel_abs) -> bool:
        return bool(np.isnan(rel_abs[0]) or rel_abs[0] <= num_tol or rel_abs[1] <= resolution)

    num_rel, num_abs = _vs_numerical(auto, idx, num)
    if hand.shape != shape:
        problem = f"the hand-written gradient has shape {hand.shape}, but {name} has shape {shape}"
        return GradRow(
            name, shape, float("inf"), float("inf"), num_rel, num_abs, float("nan"), False, problem
        )
    delta = np.abs(auto - hand)
    diff = float(np.max(delta)) if auto.size else 0.0
    rel = share(diff, auto)
    hand_num = _vs_numerical(hand, idx, num)
    row = GradRow(name, shape, diff, rel, num_rel, num_abs, hand_num[0], numerical_manual_abs=hand_num[1])
    auto_ok, hand_ok = close((num_rel, num_abs)), np.isnan(hand_num[0]) or close(hand_num)
    peak_auto = float(np.max(np.abs(auto))) if auto.size else 0.0
    peak_hand = float(np.max(np.abs(hand))) if hand.size else 0.0
    zero = ZERO_LEVEL * ctx["scale"]

    def passes(verdict: str, note: str = "") -> GradRow:
        row.ok, row.verdict, row.note = True, verdict, note
        return row

    if rel <= tol and auto_ok:
        return passes("yes")
    if auto.size and ctx["scale"] > 0 and peak_auto <= zero and peak_hand <= zero:
        return passes(
            "zero",
            f"its true gradient is 0: automatic up to {peak_auto:.2g}, hand-written up to {peak_hand:.2g}, both at "
            f"rounding level next to the largest gradient entry of this check ({ctx['scale']:.3g})",
        )
    if rel <= num_tol and auto_ok and hand_ok:
        cause = (
            f"the forward adds a small constant ({', '.join(ctx['constants'])}) that the hand-written backward "
            "leaves out"
            if ctx["constants"]
            else "a small term of the forward (a constant added for stability) that the backward leaves out"
        )
        return passes(
            "close",
            f"the hand-written gradient differs from the exact one by {rel:.2e} of its largest entry, less than "
            f"central differences resolve ({num_tol:g}); likely cause: {cause}",
        )
    if not auto_ok and not np.isnan(hand_num[0]) and close(hand_num):
        row.ok, row.verdict = True, "yes*"
        cut = (
            f" ({'; '.join(ctx['cuts'])})"
            if ctx["cuts"]
            else " (float(), .item() or np.asarray() on a Tensor)"
        )
        row.warning = (
            f"the hand-written gradient agrees with central differences ({hand_num[0]:.2e}), the automatic one "
            f"does not ({num_rel:.2e}): the forward run on Tensors lost part of its graph{cut}, so the automatic "
            "gradient is off, not yours"
        )
        return row
    if auto_ok and auto.size:
        bad = np.flatnonzero(delta.reshape(-1) > tol * max(peak_auto, 1e-300))
        if 0 < bad.size <= MAX_KINK_ENTRIES:
            slack = num_tol * max(peak_auto, peak_hand) + 100 * resolution
            flat = hand.reshape(-1)
            if all(numerical.on_kink(name, int(j), float(flat[j]), slack) for j in bad):
                return passes(
                    "kink",
                    f"{bad.size} {'entry differs' if bad.size == 1 else 'entries differ'}, each sitting exactly on "
                    "a kink (the one-sided slopes differ there, as ReLU's at 0 or |w|'s at 0); the hand-written "
                    "value lies between them: a valid subgradient, not an error",
                )
    problems = []
    if not rel <= tol:
        where = tuple(int(i) for i in np.unravel_index(int(np.argmax(delta)), shape))
        digits = ".6g" if rel >= 1e-4 else ".12g"
        problems.append(
            f"hand-written differs from automatic by up to {diff:.3g} ({share_text(rel)}; worst at "
            f"{name}{list(where)}: hand {hand[where]:{digits}}, auto {auto[where]:{digits}})"
        )
    if not auto_ok:
        why = f" (the forward lost part of its graph: {'; '.join(ctx['cuts'])})" if ctx["cuts"] else ""
        problems.append(f"automatic differs from central differences by {num_rel:.2e} (relative){why}")
    row.problem = "; ".join(problems)
    return row


def missing(name, auto, idx, num, why: str) -> GradRow:
    """The row of an array the output depends on but the backward gave no gradient for."""
    num_rel, num_abs = _vs_numerical(auto, idx, num)
    nan = float("nan")
    problem = (
        f"the hand-written backward gave no gradient for {name} ({why}), but the output depends on it "
        f"(automatic gradient up to {float(np.max(np.abs(auto))):.3g})"
    )
    return GradRow(name, auto.shape, nan, nan, num_rel, num_abs, nan, False, problem)


def resolution_notes(rows: list[GradRow], resolution: float, num_tol: float, eps: float) -> list[str]:
    """A note for each agreeing row whose "num vs" figure is above ``num_tol``: it agrees
    because the absolute difference is within the round-off of central differences."""
    notes = []
    for r in rows:
        over = [
            (f"num vs {side} {rel:.2e}", diff)
            for side, rel, diff in [
                ("auto", r.numerical, r.numerical_abs),
                ("hand", r.numerical_manual, r.numerical_manual_abs),
            ]
            if r.ok and rel > num_tol and diff <= resolution
        ]
        if over:
            shown = " and ".join(text for text, _ in over)
            notes.append(
                f"{r.name}: {shown} {'is' if len(over) == 1 else 'are'} above the numerical tolerance "
                f"{num_tol:g}, yet the row agrees: the difference, {max(d for _, d in over):.2e} absolute, is within "
                f"the round-off of central differences here ({resolution:.2e}: float64 rounding of "
                f"sum(dout * output), over the step {eps:g})"
            )
    return notes
