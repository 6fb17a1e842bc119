"""Automatic vs hand-written vs numerical gradients, side by side.

    report = compare_gradients(model, x, labels, loss="sse")
    print(report)            # a table in a terminal; in Jupyter, ``report`` shows as HTML

For one batch, the autograd gradient of the chosen loss is compared with the
gradient the original hand-written network computes (``ManualMLP.backward`` with
``dout = y_pred - y``) and with float64 central differences on a sample of entries
of every parameter.

The loss names what autograd differentiates; each name means the same loss as in
``train`` and ``graph``:

- ``sse``: 0.5 * sum((y_pred - y)**2), whose gradient the hand-written backward is.
  Everything agrees.
- ``mse``: mean((y_pred - y)**2): the hand-written gradient times 2 / (N * C), so the
  two differ by that scale (a note says so).
- ``cross_entropy``: softmax cross-entropy of the outputs taken as logits, mean over
  the batch (``nn.cross_entropy``); its gradient at the logits is (softmax(z) - y) / N,
  not the hand-written y_pred - y.
- ``printed_ce``: the loss the original notebook *printed*, -sum(y * log(y_pred)) / N
  on its sigmoid outputs (defined only for a sigmoid output layer). Autograd and
  numerical differences agree with each other and both disagree with the hand-written
  backward, which never was this loss's gradient.

The report's verdict (``passed``) is True exactly when every row agrees; a mismatch
with a known cause (another loss than ``sse``, float32 rounding, the round-off of
finite differences on a large loss, a ReLU switched by the finite-difference step)
carries a note saying so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from . import nn
from ._table import text_table
from .autograd import no_grad
from .layercheck import check_backward as check_backward  # re-exported: verify.check_backward
from .layercheck.report import share
from .manual import ManualMLP
from .tensor import Tensor

LOSSES = ("sse", "mse", "cross_entropy", "printed_ce")
LOSS_TEXT = {
    "sse": "0.5*sum((y_pred-y)**2)",
    "mse": "mean((y_pred-y)**2)",
    "cross_entropy": "softmax cross-entropy of the outputs as logits, mean over the batch",
    "printed_ce": "-sum(y*log(y_pred))/N, the loss the original notebook printed",
}


def printed_cross_entropy(pred: Tensor, target) -> Tensor:
    """-sum(y * log(y_pred)) / N: the cross-entropy the original notebook printed,
    taken on its sigmoid outputs (not a softmax)."""
    return -(pred.log() * target).sum() * (1.0 / pred.shape[0])


def loss_fn(name: str):
    """The loss function verify differentiates, by name (see the module docstring)."""
    if name == "sse":
        return nn.sse_loss
    if name == "mse":
        return nn.mse_loss
    if name == "cross_entropy":
        return nn.cross_entropy
    if name == "printed_ce":
        return printed_cross_entropy
    raise ValueError(f"verify: unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def check_loss(name: str, output_activation: str | None) -> None:
    """Raise ValueError when ``name`` is unknown or undefined on this output layer:
    ``printed_ce`` takes the log of the outputs, defined only when they are sigmoids
    (raw, ReLU or tanh outputs can be zero or negative)."""
    loss_fn(name)
    if name == "printed_ce" and output_activation != "sigmoid":
        raise ValueError(
            f"--loss printed_ce takes log(y_pred), undefined on {output_activation or 'raw'} outputs "
            f"that can be <= 0; use --output-activation sigmoid (the notebook's)"
        )


@dataclass
class Row:
    """One parameter's line of the report."""

    name: str
    shape: tuple[int, ...]
    max_abs: float  # max |autograd - manual|
    max_rel: float  # rel diff: max_abs as a share of autograd's largest entry
    numerical: float  # max relative error of autograd against finite differences on the sample
    numerical_abs: float  # the same, absolute
    numerical_manual: float  # the same for the hand-written gradient
    num_tol: float = 0.0  # the tolerance applied to ``numerical`` for this parameter
    weights_rel: float | None = None  # after k SGD steps: relative difference of the weights
    ok: bool = False


@dataclass
class VerifyReport:
    """Per-parameter agreement; ``passed`` only when every row agrees within tolerance.

    ``tol`` is applied to the rel diff (autograd vs hand-written, and the weights after
    ``steps``); each row's ``num_tol`` to its numerical error, which is ``num_tol`` here
    unless the finite differences' own round-off is larger (then the table shows a
    ``num tol`` column and a note says why)."""

    rows: list[Row]
    loss: str
    dtype: str
    batch: int
    steps: int
    tol: float
    num_tol: float
    notes: list[str] = field(default_factory=list)
    expected_mismatch: bool = False  # another loss than the hand-written one, autograd right about it

    @property
    def passed(self) -> bool:
        """True when every parameter agrees within tolerance."""
        return all(r.ok for r in self.rows)

    def _raised(self) -> bool:
        return any(r.num_tol != self.num_tol for r in self.rows)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["param", "shape", "max |auto-manual|", "rel diff", "num vs auto", "num vs manual"]
        if self._raised():
            head.append("num tol")
        if self.steps:
            head.append(f"weights after {self.steps} steps")
        head.append("agree")
        body = []
        for r in self.rows:
            cells = [
                r.name,
                "x".join(map(str, r.shape)),
                f"{r.max_abs:.2e}",
                f"{r.max_rel:.2e}",
                _fmt(r.numerical),
                _fmt(r.numerical_manual),
            ]
            if self._raised():
                cells.append(f"{r.num_tol:.1e}")
            if self.steps:
                cells.append(f"{r.weights_rel:.2e}")
            cells.append(self._verdict(r))
            body.append(cells)
        return head, body

    def _verdict(self, r: Row) -> str:
        """``yes``, or ``NO`` and which comparison failed: ``manual`` (autograd against the
        hand-written gradient), ``num`` (against finite differences), ``weights``."""
        if r.ok:
            return "yes"
        failed = [
            name
            for name, bad in (
                ("manual", not r.max_rel <= self.tol),
                ("num", not (np.isnan(r.numerical) or r.numerical <= r.num_tol)),
                ("weights", r.weights_rel is not None and not r.weights_rel <= self.tol),
            )
            if bad
        ]
        return "NO: " + ", ".join(failed)

    def summary(self) -> str:
        """The verdict line: "all gradients agree" exactly when :attr:`passed`."""
        if self.passed:
            verdict = "all gradients agree"
        elif self.expected_mismatch:
            verdict = "MISMATCH, expected for this loss (see the note above)"
        else:
            verdict = "MISMATCH"
        num = f"numerical tolerance {self.num_tol:g}"
        if self._raised():
            num += " or the finite-difference resolution where larger (column num tol)"
        return f"loss {self.loss}, {self.dtype}, batch {self.batch}: {verdict} (rel diff tolerance {self.tol:g}, {num})"

    def __str__(self) -> str:
        out = text_table(*self._cells())
        notes = [f"note: {n}" for n in self.notes]
        return "\n".join([*notes, *out, self.summary()])

    def _repr_html_(self) -> str:
        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body
        )
        notes = "".join(f"<p>note: {html.escape(n)}</p>" for n in self.notes)
        return f"{notes}<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table><p>{html.escape(self.summary())}</p>"

    def agreement(self) -> dict[str, bool]:
        """Parameter name -> agrees (for colouring the graph)."""
        return {r.name: r.ok for r in self.rows}


def _fmt(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2e}"


def _rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """max |a - b| and the rel diff: that as a share of the largest entry of ``a``, the
    automatic side (the one definition of rel diff, as in ``check_backward``)."""
    diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    return diff, share(diff, np.asarray(a, dtype=np.float64))


def _autograd_grads(model: nn.MLP, x: np.ndarray, target: np.ndarray, loss: str) -> dict[str, np.ndarray]:
    model.zero_grad()
    loss_fn(loss)(model(Tensor(x)), Tensor(target)).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def _manual_grads(manual: ManualMLP, x: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    y_pred = manual.predict(x)
    manual.backward(y_pred - target)  # the original's dout
    grads = {}
    for i, layer in enumerate(manual.layers):
        grads[f"layers.{i}.W"], grads[f"layers.{i}.b"] = layer.dW, layer.db
    return grads


# why a sampled entry has no finite difference (NaN in its place)
KINK, NONFINITE = "kink", "nonfinite"


def _numerical(
    model: nn.MLP,
    x: np.ndarray,
    target: np.ndarray,
    loss: str,
    samples: int,
    eps: float,
    rng: np.random.Generator,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float, float, dict[str, int]]:
    """Central differences in float64 at ``samples`` random entries of each parameter:
    name -> (flat indices, numerical derivatives); the loss at the centre; the
    resolution of those differences (10 |L| eps_machine / eps: round-off in L, divided
    by the step); and how many entries were left out (NaN), by reason."""
    m64 = nn.MLP(model.sizes, model.activation, model.output_activation, dtype=np.float64)
    m64.load_state_dict(model.state_dict())
    x64, t64 = Tensor(x.astype(np.float64)), Tensor(target.astype(np.float64))
    f = loss_fn(loss)
    relu = "relu" in (model.activation, model.output_activation)

    def evaluate() -> tuple[float, list[np.ndarray]]:
        """The loss, and where each ReLU is on (to see whether a step crossed a kink)."""
        h, signs = x64, []
        last = len(m64.layers) - 1
        for i, layer in enumerate(m64.layers):
            z = layer(h)
            act = m64.activation if i < last else m64.output_activation
            if act == "relu":
                signs.append(z.data > 0)
            h = nn.activate(z, act)
        return float(f(h, t64).data), signs

    out, skipped = {}, {KINK: 0, NONFINITE: 0}
    with no_grad(), np.errstate(all="ignore"):
        center = evaluate()[0]
        for name, p in m64.named_parameters():
            flat = p.data.reshape(-1)
            idx = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
            values = []
            for j in idx:
                orig = flat[j]
                flat[j] = orig + eps
                plus, signs_plus = evaluate()
                flat[j] = orig - eps
                minus, signs_minus = evaluate()
                flat[j] = orig
                if not (np.isfinite(plus) and np.isfinite(minus)):
                    values.append(np.nan)
                    skipped[NONFINITE] += 1
                elif relu and any(np.any(a != b) for a, b in zip(signs_plus, signs_minus)):
                    values.append(np.nan)  # a ReLU switched within the step: no derivative to compare with
                    skipped[KINK] += 1
                else:
                    values.append((plus - minus) / (2 * eps))
            out[name] = (idx, np.array(values))
    resolution = 10 * abs(center) * np.finfo(np.float64).eps / eps  # round-off in L over the step
    return out, center, resolution, skipped


def _sample_rel(
    grad: np.ndarray, idx: np.ndarray, num: np.ndarray, full: np.ndarray
) -> tuple[float, float, float]:
    """Max error of ``grad`` at the sampled entries, relative to the gradient's scale,
    and absolute, and that scale (entries left out, NaN in ``num``, are skipped; the
    errors are NaN if all are)."""
    keep = ~np.isnan(num)
    scale = max(float(np.max(np.abs(full))), float(np.max(np.abs(num[keep]), initial=0.0)), 1e-30)
    if not keep.any():
        return float("nan"), float("nan"), scale
    idx, num = idx[keep], num[keep]
    got = grad.reshape(-1)[idx].astype(np.float64)
    return float(np.max(np.abs(got - num))) / scale, float(np.max(np.abs(got - num))), scale


def default_tolerances(dtype) -> tuple[float, float]:
    """(rel diff tolerance, numerical tolerance) for gradients computed in ``dtype``.

    float64: 1e-10 and 1e-5 (central differences with a step of 1e-4 are good to about
    1e-8 relative on these networks). float32: 1e-4 and 1e-3: each gradient is a float32
    sum over the batch, rounded at about 6e-8 relative per operation, and finite
    differences are taken in float64, so a float32 gradient differs from them by
    float32 rounding, which grows with the batch."""
    if np.dtype(dtype) == np.float64:
        return 1e-10, 1e-5
    return 1e-4, 1e-3


def compare_gradients(
    model: nn.MLP,
    x: np.ndarray,
    labels: np.ndarray,
    loss: str = "sse",
    steps: int = 0,
    lr: float = 0.1,
    samples: int = 5,
    eps: float | None = None,
    seed: int = 0,
    tol: float | None = None,
    num_tol: float | None = None,
    manual: ManualMLP | None = None,
) -> VerifyReport:
    """Compare autograd, hand-written and numerical gradients of ``model`` on one batch;
    then, if ``steps``, train copies of both networks ``steps`` SGD steps on that batch
    and compare their weights. ``model`` itself is left unchanged.

    ``loss`` is one of :data:`LOSSES` (see the module docstring); ``printed_ce`` needs a
    sigmoid output layer (ValueError otherwise). ``manual`` is the hand-written network
    to check (default: ``ManualMLP.from_mlp(model)``); pass your own, holding the same
    weights, to check a backward you derived. Tolerances: ``tol`` on the relative
    difference autograd vs manual, ``num_tol`` on autograd vs finite differences
    (defaults: :func:`default_tolerances`). Where the finite differences' own round-off,
    relative to a parameter's gradient, is larger than ``num_tol``, that round-off is the
    parameter's tolerance (shown in the report, with a note).
    """
    check_loss(loss, model.output_activation)
    relu = "relu" in (model.activation, model.output_activation)
    if eps is None:  # small enough to rarely cross a ReLU kink, large enough to beat round-off
        eps = 1e-6 if relu else 1e-4
    dtype = model.dtype
    default_tol, default_num_tol = default_tolerances(dtype)
    tol = tol if tol is not None else default_tol
    num_tol = num_tol if num_tol is not None else default_num_tol
    x = np.asarray(x, dtype=dtype)
    target = nn.one_hot(labels, model.sizes[-1], dtype)
    manual = manual if manual is not None else ManualMLP.from_mlp(model)
    auto = _autograd_grads(model, x, target, loss)
    hand = _manual_grads(manual, x, target)
    rng = np.random.default_rng(seed)
    numeric, center, resolution, skipped = _numerical(model, x, target, loss, samples, eps, rng)
    rows = []
    for name, p in model.named_parameters():
        max_abs, max_rel = _rel(auto[name], hand[name])
        idx, num = numeric[name]
        rel, abs_err, scale = _sample_rel(auto[name], idx, num, auto[name])
        rows.append(
            Row(
                name,
                p.shape,
                max_abs,
                max_rel,
                rel,
                abs_err,
                _sample_rel(hand[name], idx, num, auto[name])[0],
                num_tol=max(num_tol, float(f"{resolution / scale:.1e}")),  # as shown, so as applied
            )
        )
    model.zero_grad()

    if steps:
        from .optim import SGD

        twin = nn.MLP(model.sizes, model.activation, model.output_activation, dtype=dtype)
        twin.load_state_dict(model.state_dict())
        opt = SGD(twin.parameters(), lr=lr)
        f = loss_fn(loss)
        for _ in range(steps):
            opt.zero_grad()
            f(twin(Tensor(x)), Tensor(target)).backward()
            opt.step()
            manual.backward(manual.predict(x) - target)
            manual.update(lr)
        for row, p, layer_param in zip(rows, twin.parameters(), _manual_params(manual)):
            row.weights_rel = _rel(p.data, layer_param)[1]
    for row in rows:
        numerical_ok = np.isnan(row.numerical) or row.numerical <= row.num_tol
        row.ok = row.max_rel <= tol and numerical_ok and (row.weights_rel is None or row.weights_rel <= tol)
    numerical_agrees = _numerical_agrees(rows)
    # another loss than the hand-written network's cannot agree with it; that is no fault as long as
    # autograd agrees with finite differences of that loss
    expected = loss != "sse" and numerical_agrees
    report = VerifyReport(rows, loss, dtype.name, len(x), steps, tol, num_tol, expected_mismatch=expected)
    report.notes.extend(_notes(report, auto, hand, target, center, resolution, eps, skipped))
    return report


def _numerical_agrees(rows: list[Row]) -> bool:
    """Autograd agrees with finite differences wherever they were taken, and they were taken
    somewhere (when every sampled entry was left out, nothing was compared)."""
    checked = [r for r in rows if not np.isnan(r.numerical)]
    return bool(checked) and all(r.numerical <= r.num_tol for r in checked)


def _notes(report, auto, hand, target, center, resolution, eps, skipped) -> list[str]:
    """The known explanations of what the table shows."""
    notes = []
    rows = report.rows
    if report.loss != "sse":
        numerical_agrees = _numerical_agrees(rows)
        why = (
            "the hand-written backward always differentiates 0.5*sum((y_pred-y)**2) (its dout = y_pred - y), "
            f"not {report.loss} = {LOSS_TEXT[report.loss]}, so autograd and hand-written gradients differ"
        )
        if report.loss == "mse":
            n, c = target.shape
            scale = 2.0 / (n * c)
            worst = max(_rel(auto[k], scale * hand[k])[1] for k in auto)
            if worst <= report.tol:
                why += (
                    f"; here by a scale only: autograd's gradient is 2/(N*C) = 2/({n}*{c}) = {scale:.3g} "
                    f"times the hand-written one for every parameter (to a relative {worst:.1e})"
                )
        elif report.loss == "cross_entropy":
            why += ": at the logits its gradient is (softmax(z) - y)/N"
        elif report.loss == "printed_ce":
            why = (
                "the original notebook printed -sum(y*log(y_pred))/N but backpropagated dout = y_pred - y, "
                "the gradient of 0.5*sum((y_pred-y)**2): the hand-written gradient never was the printed loss's"
            )
        if numerical_agrees:
            why += "; autograd agrees with finite differences of this loss (num vs auto)"
        notes.append(why + ". --loss sse is the loss both networks share.")
    raised = [r for r in rows if r.num_tol != report.num_tol]
    if raised:
        notes.append(
            f"finite differences of a loss of |L| = {abs(center):.3g} with step {eps:g} resolve a derivative "
            f"only to about 10*|L|*2.2e-16/{eps:g} = {resolution:.1e}"
            + (" (|L| sums over the batch, so it grows with it)" if report.loss == "sse" else "")
            + f"; for {', '.join(r.name for r in raised)}, whose gradients are small, that is more than "
            f"{report.num_tol:g} of the gradient, so their numerical tolerance is that resolution (column num tol)"
        )
    if report.dtype == "float32":
        notes.append(
            "float32: each gradient is rounded to float32 (about 6e-8 per operation, summed over the "
            f"batch) while finite differences are float64: tolerances {report.tol:g} (rel diff) and "
            f"{report.num_tol:g} (numerical); --dtype float64 checks to 1e-10 and 1e-5"
        )
    left_out = skipped[KINK] + skipped[NONFINITE]
    if skipped[KINK]:
        notes.append(
            f"{skipped[KINK]} sampled entries were left out of the numerical check: a step of eps={eps:g} "
            "switched a ReLU there, so finite differences mean nothing"
        )
    if skipped[NONFINITE]:
        notes.append(
            f"{skipped[NONFINITE]} sampled entries were left out of the numerical check: the loss was not "
            f"finite a step of eps={eps:g} away"
        )
    if left_out and any(np.isnan(r.numerical) for r in rows):
        notes.append('"-": every sampled entry of that parameter was left out; only rel diff checks it')
    return notes


def _manual_params(manual: ManualMLP):
    for layer in manual.layers:
        yield layer.W
        yield layer.b
