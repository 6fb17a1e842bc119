"""Automatic vs hand-written vs numerical gradients, side by side.

    report = compare_gradients(model, x, labels, loss="sse")
    print(report)            # a table in a terminal; in Jupyter, ``report`` shows as HTML

For one batch, the autograd gradient of the chosen loss is compared with the
gradient the original hand-written network computes (``ManualMLP.backward`` with
``dout = y_pred - y``) and with float64 central differences on a sample of entries
of every parameter.

The loss names what autograd differentiates:

- ``sse``: 0.5 * sum((y_pred - y)**2), whose gradient the hand-written backward is.
  Everything agrees.
- ``cross_entropy``: the loss the original notebook *printed*,
  -sum(y * log(y_pred)) / N on its sigmoid outputs. Autograd and numerical
  differences agree with each other and both disagree with the hand-written
  backward, which never was this loss's gradient.
- ``mse``: mean((y_pred - y)**2): the same direction as sse, scaled by 2 / (N * C).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from . import nn
from .autograd import no_grad
from .layercheck import check_backward as check_backward  # re-exported: verify.check_backward
from .manual import ManualMLP
from .tensor import Tensor

LOSSES = ("sse", "cross_entropy", "mse")


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
        return printed_cross_entropy
    raise ValueError(f"verify: unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


@dataclass
class Row:
    """One parameter's line of the report."""

    name: str
    shape: tuple[int, ...]
    max_abs: float  # max |autograd - manual|
    max_rel: float  # max_abs / max(|autograd|, |manual|)
    numerical: float  # max relative error of autograd against finite differences on the sample
    numerical_abs: float  # the same, absolute
    numerical_manual: float  # the same for the hand-written gradient
    weights_rel: float | None = None  # after k SGD steps: relative difference of the weights
    ok: bool = False


@dataclass
class VerifyReport:
    """Per-parameter agreement; ``passed`` only when every row agrees within tolerance."""

    rows: list[Row]
    loss: str
    dtype: str
    batch: int
    steps: int
    tol: float
    num_tol: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every parameter agrees within tolerance."""
        return all(r.ok for r in self.rows)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["param", "shape", "max |auto-manual|", "rel diff", "num vs auto", "num vs manual"]
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
            if self.steps:
                cells.append(f"{r.weights_rel:.2e}")
            cells.append("yes" if r.ok else "NO")
            body.append(cells)
        return head, body

    def summary(self) -> str:
        """The verdict line."""
        verdict = "all gradients agree" if self.passed else "MISMATCH"
        return (
            f"loss {self.loss}, {self.dtype}, batch {self.batch}: {verdict} "
            f"(rel diff tolerance {self.tol:g}, numerical tolerance {self.num_tol:g})"
        )

    def __str__(self) -> str:
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )

        out = [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in body)]
        return "\n".join([*self.notes, *out, self.summary()])

    def _repr_html_(self) -> str:
        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return f"{notes}<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table><p>{html.escape(self.summary())}</p>"

    def agreement(self) -> dict[str, bool]:
        """Parameter name -> agrees (for colouring the graph)."""
        return {r.name: r.ok for r in self.rows}


def _fmt(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2e}"


def _rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-30) if a.size else 1.0
    return diff, diff / scale


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


def _numerical(
    model: nn.MLP,
    x: np.ndarray,
    target: np.ndarray,
    loss: str,
    samples: int,
    eps: float,
    rng: np.random.Generator,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    """Central differences in float64 at ``samples`` random entries of each parameter:
    name -> (flat indices, numerical derivatives); and the resolution of those
    differences (10 |L| eps_machine / eps: round-off in L, divided by the step)."""
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

    out = {}
    with no_grad():
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
                if relu and any(np.any(a != b) for a, b in zip(signs_plus, signs_minus)):
                    values.append(np.nan)  # a ReLU switched within the step: no derivative to compare with
                else:
                    values.append((plus - minus) / (2 * eps))
            out[name] = (idx, np.array(values))
    resolution = 10 * abs(center) * np.finfo(np.float64).eps / eps  # round-off in L over the step
    return out, resolution


def _sample_rel(grad: np.ndarray, idx: np.ndarray, num: np.ndarray, full: np.ndarray) -> tuple[float, float]:
    """Max error of ``grad`` at the sampled entries, relative to the gradient's scale
    and absolute (entries at a ReLU kink, NaN in ``num``, are left out; NaN if all are)."""
    keep = ~np.isnan(num)
    if not keep.any():
        return float("nan"), float("nan")
    idx, num = idx[keep], num[keep]
    got = grad.reshape(-1)[idx].astype(np.float64)
    scale = max(float(np.max(np.abs(full))), float(np.max(np.abs(num))), 1e-30)
    return float(np.max(np.abs(got - num))) / scale, float(np.max(np.abs(got - num)))


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
    num_tol: float = 1e-5,
    manual: ManualMLP | None = None,
) -> VerifyReport:
    """Compare autograd, hand-written and numerical gradients of ``model`` on one batch;
    then, if ``steps``, train copies of both networks ``steps`` SGD steps on that batch
    and compare their weights. ``model`` itself is left unchanged.

    ``manual`` is the hand-written network to check (default: ``ManualMLP.from_mlp(model)``);
    pass your own, holding the same weights, to check a backward you derived.
    Tolerances: ``tol`` on the relative difference autograd vs manual (default 1e-10
    in float64, 1e-4 in float32), ``num_tol`` on autograd vs finite differences.
    """
    loss_fn(loss)  # fail early on an unknown name
    if eps is None:  # small enough to rarely cross a ReLU kink, large enough to beat round-off
        eps = 1e-6 if "relu" in (model.activation, model.output_activation) else 1e-4
    dtype = model.dtype
    tol = tol if tol is not None else (1e-10 if dtype == np.float64 else 1e-4)
    x = np.asarray(x, dtype=dtype)
    target = nn.one_hot(labels, model.sizes[-1], dtype)
    manual = manual if manual is not None else ManualMLP.from_mlp(model)
    auto = _autograd_grads(model, x, target, loss)
    hand = _manual_grads(manual, x, target)
    numeric, resolution = _numerical(model, x, target, loss, samples, eps, np.random.default_rng(seed))
    rows = []
    for name, p in model.named_parameters():
        max_abs, max_rel = _rel(auto[name], hand[name])
        idx, num = numeric[name]
        rows.append(
            Row(
                name,
                p.shape,
                max_abs,
                max_rel,
                *_sample_rel(auto[name], idx, num, auto[name]),
                _sample_rel(hand[name], idx, num, auto[name])[0],
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
        # below the resolution of finite differences, a difference says nothing
        numerical_ok = np.isnan(row.numerical) or row.numerical <= num_tol or row.numerical_abs <= resolution
        row.ok = row.max_rel <= tol and numerical_ok and (row.weights_rel is None or row.weights_rel <= tol)
    report = VerifyReport(rows, loss, dtype.name, len(x), steps, tol, num_tol)
    skipped = sum(int(np.isnan(num).sum()) for _, num in numeric.values())
    if skipped:
        report.notes.append(
            f"{skipped} of {sum(len(n) for _, n in numeric.values())} sampled entries were left out of the "
            f"numerical check: a step of eps={eps:g} switched a ReLU there, so finite differences mean nothing."
        )
    return report


def _manual_params(manual: ManualMLP):
    for layer in manual.layers:
        yield layer.W
        yield layer.b
