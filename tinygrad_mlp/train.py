"""Training the MLP on MNIST: the loop behind ``tinygrad-mlp train`` and the examples.

Two recipes are named here. ``ORIGINAL`` is the teaching notebook's: 784-128-64-32-10,
sigmoid on every layer, weights N(0,1)*0.01, the loss 0.5*sum((y_pred - y)**2) that
its hand-written backward differentiates, SGD lr 0.1, batch 125, 2 epochs. Four
sigmoid layers with such small weights pass back tiny gradients, so it stalls near
chance at first (watch it with ``--grad-norms``). ``BETTER`` is a modern MLP: ReLU,
He init, softmax cross-entropy on logits, Adam, the learning rate times 0.8 each epoch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from . import nn, optim
from .autograd import no_grad
from .tensor import Tensor


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (its defaults: the original recipe)."""

    sizes: tuple[int, ...] = (784, 128, 64, 32, 10)
    activation: str = "sigmoid"
    output_activation: str | None = "sigmoid"
    init: str = "original"
    loss: str = "sse"
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    lr_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    epochs: int = 2
    batch_size: int = 125
    seed: int = 0
    dtype: str = "float32"
    subset: int | None = None  # train on the first N training images only
    grad_norms: bool = False


ORIGINAL = TrainConfig()
BETTER = TrainConfig(
    sizes=(784, 512, 256, 10),
    activation="relu",
    output_activation=None,
    init="he",
    loss="cross_entropy",
    optimizer="adam",
    lr=1e-3,
    lr_decay=0.8,
    epochs=10,
    batch_size=128,
)
RECIPES = {"original": ORIGINAL, "better": BETTER}
OPTIMIZERS = ("sgd", "adam")


def check_config(cfg: TrainConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    if not cfg.lr >= 0:
        raise ValueError(f"--lr must be >= 0, got {cfg.lr}")
    if not math.isfinite(cfg.lr):
        raise ValueError(f"--lr must be finite, got {cfg.lr}")
    if not 0 < cfg.lr_decay <= 1:
        raise ValueError(f"--lr-decay must be in (0, 1], got {cfg.lr_decay}")
    if not 0 <= cfg.momentum < math.inf:
        raise ValueError(f"--momentum must be >= 0 and finite, got {cfg.momentum}")
    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    if cfg.epochs < 0:
        raise ValueError(f"--epochs must be >= 0, got {cfg.epochs}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer {cfg.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    if cfg.loss not in nn.LOSSES:
        raise ValueError(f"--loss {cfg.loss!r} is unknown; choose one of {', '.join(nn.LOSSES)}")
    if cfg.activation not in nn.ACTIVATIONS:
        raise ValueError(
            f"--activation {cfg.activation!r} is unknown; choose one of {', '.join(nn.ACTIVATIONS)}"
        )
    if cfg.init not in nn.INITS:
        raise ValueError(f"--init {cfg.init!r} is unknown; choose one of {', '.join(nn.INITS)}")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"--dtype must be float32 or float64, got {cfg.dtype!r}")
    if len(cfg.sizes) < 2 or cfg.sizes[0] != 784 or cfg.sizes[-1] != 10 or min(cfg.sizes) < 1:
        raise ValueError(
            f"--sizes must start at 784 and end at 10 (MNIST), got {','.join(map(str, cfg.sizes))}"
        )
    if cfg.subset is not None and cfg.subset < 1:
        raise ValueError(f"--subset must be at least 1, got {cfg.subset}")


def make_rng(seed: int) -> np.random.RandomState:
    """The random stream for initialisation and shuffling: numpy's legacy generator,
    the one the original notebook used through ``np.random.seed``, ``randn`` and
    ``permutation``, so that seed 0 reproduces its numbers (about 22% test accuracy
    after 2 epochs of the original recipe)."""
    return np.random.RandomState(seed)


def build(cfg: TrainConfig, rng: nn.RNG) -> tuple[nn.MLP, optim.Optimizer]:
    """The MLP of ``cfg``, initialised from ``rng``, and its optimizer."""
    model = nn.MLP(cfg.sizes, cfg.activation, cfg.output_activation, cfg.init, np.dtype(cfg.dtype), rng)
    return model, make_optimizer(cfg, model)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> optim.Optimizer:
    """SGD (with ``cfg.momentum``) or Adam over the model's parameters, at ``cfg.lr``."""
    if cfg.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=cfg.lr)
    return optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)


def loss_of(cfg: TrainConfig, out: Tensor, labels: np.ndarray) -> Tensor:
    """The configured loss of a batch: cross-entropy takes class indices, the others one-hot rows."""
    if cfg.loss == "cross_entropy":
        return nn.cross_entropy(out, labels)
    return nn.LOSSES[cfg.loss](out, Tensor(nn.one_hot(labels, out.shape[-1], out.dtype), name="y"))


def train_step(
    model: nn.Module, opt: optim.Optimizer, cfg: TrainConfig, x: np.ndarray, labels: np.ndarray
) -> float:
    """One step of SGD/Adam on one batch; returns the batch's loss."""
    loss = loss_of(cfg, model(Tensor(x)), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.data)


@no_grad()
def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int = 10000) -> float:
    """Fraction of ``X`` classified as ``y`` (argmax of the output)."""
    if len(X) == 0:
        return float("nan")
    correct = 0
    for i in range(0, len(X), batch):
        out = model(Tensor(X[i : i + batch]))
        correct += int((out.data.argmax(axis=1) == y[i : i + batch]).sum())
    return correct / len(X)


@dataclass
class EpochResult:
    """What one epoch measured."""

    epoch: int
    loss: float
    train_acc: float
    test_acc: float
    seconds: float
    grad_norms: dict[str, float] = field(default_factory=dict)

    def line(self, epochs: int) -> str:
        """The epoch's one-line report (and a second with gradient norms, if measured)."""
        text = (
            f"epoch {self.epoch}/{epochs}  loss {self.loss:.4f}  train acc {self.train_acc:.2%}  "
            f"test acc {self.test_acc:.2%}  {self.seconds:.2f} s"
        )
        if self.grad_norms:
            text += "\n  mean |grad| per step: " + "  ".join(
                f"{k} {v:.2e}" for k, v in self.grad_norms.items()
            )
        return text


def fit(
    model: nn.MLP,
    opt: optim.Optimizer,
    cfg: TrainConfig,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rng: nn.RNG,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    first_epoch: int = 0,
) -> list[EpochResult]:
    """Train for ``cfg.epochs`` epochs, shuffling each epoch with ``rng``; logs one line
    per epoch (and a tqdm bar per epoch when ``progress``, by default on a terminal).
    After each epoch the learning rate is multiplied by ``cfg.lr_decay``. A resumed run
    passes the epochs already done as ``first_epoch``: they are counted on from there."""
    X, y, X_test, y_test = data
    if cfg.subset is not None:
        X, y = X[: cfg.subset], y[: cfg.subset]
    dtype = np.dtype(cfg.dtype)
    X, X_test = X.astype(dtype, copy=False), X_test.astype(dtype, copy=False)
    if progress is None:
        progress = sys.stderr.isatty()
    names = [n for n, _ in model.named_parameters() if n.endswith(".W")]
    weights = [p for n, p in model.named_parameters() if n.endswith(".W")]
    history = []
    last = first_epoch + cfg.epochs
    for epoch in range(first_epoch + 1, last + 1):
        order = rng.permutation(len(X))
        starts = range(0, len(X), cfg.batch_size)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(starts, desc=f"epoch {epoch}/{last}", leave=False, unit="step", file=sys.stderr)
        losses, norms = [], np.zeros(len(weights))
        t0 = time.perf_counter()
        for start in bar if bar is not None else starts:
            idx = order[start : start + cfg.batch_size]
            losses.append(train_step(model, opt, cfg, X[idx], y[idx]))
            if cfg.grad_norms:
                norms += [np.linalg.norm(w.grad) for w in weights]
            if bar is not None and len(losses) % 20 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        result = EpochResult(
            epoch=epoch,
            loss=float(np.mean(losses)),
            train_acc=accuracy(model, X, y),
            test_acc=accuracy(model, X_test, y_test),
            seconds=seconds,
            grad_norms=dict(zip(names, (norms / max(len(losses), 1)).tolist())) if cfg.grad_norms else {},
        )
        history.append(result)
        log(result.line(last))
        opt.lr *= cfg.lr_decay
    return history


def config_from_dict(d: dict) -> TrainConfig:
    """A TrainConfig from :func:`config_to_dict`'s output (unknown keys ignored)."""
    d = dict(d)
    if "sizes" in d:
        d["sizes"] = tuple(d["sizes"])
    return replace(TrainConfig(), **{k: v for k, v in d.items() if k in TrainConfig.__dataclass_fields__})


def config_to_dict(cfg: TrainConfig) -> dict:
    """A TrainConfig as plain JSON-able values (stored in checkpoints)."""
    return asdict(cfg)


def training_state(opt: optim.Optimizer, rng: np.random.RandomState, epoch: int) -> dict:
    """What a run needs to continue exactly, beside the weights and the optimizer's arrays,
    as JSON-able values: the epochs done, the learning rate the schedule has reached, and
    the shuffling generator's state (numpy's MT19937: 624 words, a position, a cached
    Gaussian)."""
    kind, keys, pos, has_gauss, cached = rng.get_state()
    return {
        "epoch": int(epoch),
        "lr": float(opt.lr),
        "rng": {
            "kind": kind,
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }


def restore_training_state(state: dict, opt: optim.Optimizer, rng: np.random.RandomState) -> int:
    """Put :func:`training_state`'s values back into ``opt`` and ``rng``; returns the
    epochs done. A malformed state is a ValueError."""
    try:
        r = state["rng"]
        rng.set_state(
            (r["kind"], np.array(r["keys"], dtype=np.uint32), r["pos"], r["has_gauss"], r["cached_gaussian"])
        )
        opt.lr = float(state["lr"])
        return int(state["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed training state ({exc!r})") from None
