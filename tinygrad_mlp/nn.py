"""Layers, the MLP and the losses, built on Tensor; checkpoints as .npz files.

    model = nn.MLP((784, 128, 64, 32, 10))      # the original network
    loss = nn.cross_entropy(model(Tensor(x)), y)

``Linear`` keeps the hand-written layer's layout, ``W`` of shape (in, out) and ``b`` of
shape (out,), forward ``x @ W + b``, so weights copy across one to one.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

from . import ops
from ._files import atomic_write
from .tensor import Tensor

ACTIVATIONS = ("sigmoid", "relu", "tanh")
RNG = np.random.Generator | np.random.RandomState  # either kind of numpy random stream
INITS = ("original", "xavier", "he")


class Module:
    """Base class: ``model(x)`` runs ``forward(x)``.

    Parameters are the tensors that require grad found in the attributes, in the
    sub-modules and in lists or tuples of those, in the order they were assigned.
    """

    def __call__(self, *args, **kwargs):
        """Run :meth:`forward`."""
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        """The module's computation; subclasses define it."""
        raise NotImplementedError

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``("layers.0.W", tensor)`` pairs, each parameter once."""
        seen: set[int] = set()
        for name, t in _walk(self, prefix):
            if id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def parameters(self) -> list[Tensor]:
        """The tensors that require grad, in the order they were assigned, each once."""
        return [t for _, t in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget the gradients (set them to None, as PyTorch does by default)."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameter name -> a copy of its array."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy arrays into the parameters, in place. Strict: a missing or extra name,
        or a different shape, is an error that names it (and nothing is changed)."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        extra = [n for n in state if n not in params]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise KeyError(f"load_state_dict: {'; '.join(parts)}")
        for name, p in params.items():
            if np.shape(state[name]) != p.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {np.shape(state[name])} in the state, "
                    f"{p.shape} in the model"
                )
        for name, p in params.items():
            p.data[...] = state[name]


def _walk(obj, prefix: str) -> Iterator[tuple[str, Tensor]]:
    items = vars(obj).items() if isinstance(obj, Module) else enumerate(obj)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, Tensor):
            if value.requires_grad:
                yield name, value
        elif isinstance(value, Module) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, (Module, Tensor)) for v in value)
        ):
            yield from _walk(value, name + ".")


def init_weights(
    fan_in: int, fan_out: int, init: str, dtype=np.float32, rng: RNG | None = None
) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix: "original" N(0, 1) * 0.01 (the hand-written
    network's), "xavier" (Glorot uniform, for sigmoid and tanh), "he" (N(0, 2/fan_in),
    for ReLU). Draws from ``rng`` (a Generator or a legacy RandomState), else numpy's
    global random state."""
    normal = rng.standard_normal if rng is not None else np.random.standard_normal
    uniform = rng.uniform if rng is not None else np.random.uniform
    if init == "original":
        w = normal((fan_in, fan_out)) * 0.01
    elif init == "xavier":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        w = uniform(-bound, bound, (fan_in, fan_out))
    elif init == "he":
        w = normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
    else:
        raise ValueError(f"init: unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    return np.asarray(w, dtype=dtype)


class Linear(Module):
    """``x @ W + b`` with W of shape (in_features, out_features), b of shape (out_features,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "original",
        dtype=np.float32,
        rng: RNG | None = None,
    ) -> None:
        self.in_features, self.out_features = in_features, out_features
        self.W = Tensor(
            init_weights(in_features, out_features, init, dtype, rng), requires_grad=True, name="W"
        )
        self.b = Tensor(np.zeros(out_features, dtype=dtype), requires_grad=True, name="b") if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x @ W + b."""
        out = x @ self.W
        return out + self.b if self.b is not None else out

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.b is not None})"


def activate(x: Tensor, activation: str | None) -> Tensor:
    """Apply an activation by name ("sigmoid", "relu", "tanh"; None: identity)."""
    if activation is None:
        return x
    if activation == "sigmoid":
        return x.sigmoid()
    if activation == "relu":
        return x.relu()
    if activation == "tanh":
        return x.tanh()
    raise ValueError(f"activation: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


class MLP(Module):
    """Fully connected layers of the given sizes, each followed by ``activation``,
    the last by ``output_activation`` (None: return logits). The default is the
    original network: 784-128-64-32-10, sigmoid everywhere, weights N(0,1)*0.01."""

    def __init__(
        self,
        sizes: tuple[int, ...] = (784, 128, 64, 32, 10),
        activation: str = "sigmoid",
        output_activation: str | None = "sigmoid",
        init: str = "original",
        dtype=np.float32,
        rng: RNG | None = None,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must be two or more positive layer widths, got {sizes}")
        for name in (activation, output_activation):
            if name is not None and name not in ACTIVATIONS:
                raise ValueError(f"MLP: unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.sizes, self.activation, self.output_activation = sizes, activation, output_activation
        self.dtype = np.dtype(dtype)
        self.layers = [Linear(i, o, init=init, dtype=dtype, rng=rng) for i, o in zip(sizes[:-1], sizes[1:])]

    def forward(self, x: Tensor) -> Tensor:
        """Each layer, then its activation (the last one's: ``output_activation``)."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = activate(layer(x), self.activation if i < last else self.output_activation)
        return x

    def config(self) -> dict:
        """What it takes to build this network again (stored in checkpoints)."""
        return {
            "sizes": list(self.sizes),
            "activation": self.activation,
            "output_activation": self.output_activation,
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        return (
            f"MLP({'-'.join(map(str, self.sizes))}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r}, dtype={self.dtype.name})"
        )


# ---------------------------------------------------------------- losses


def cross_entropy(logits: Tensor, target) -> Tensor:
    """Mean softmax cross-entropy of ``logits`` (N, C) against class indices (N,) or
    one-hot / probability rows (N, C). Stable for any logits; fused backward
    (softmax - target) / N.

    Class indices of shape (N,) may be ints or whole-number floats: a Tensor always holds
    floats, so labels wrapped in a Tensor (``Tensor(labels)``) arrive as floats. (PyTorch
    refuses float class indices because its tensors keep integer dtypes; this engine's
    cannot.) A fractional index is refused; a float target of shape (N, C) is rows of
    probabilities."""
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.ndim == 1 and t.dtype.kind not in "iu":
        if t.dtype.kind != "f" or not np.all(t == np.round(t)):
            raise ValueError(
                f"cross_entropy: class indices of shape (N,) must be whole numbers, got {t.dtype} "
                f"values such as {t[t != np.round(t)][:1].tolist() if t.dtype.kind == 'f' else t[:1].tolist()}"
            )
        t = t.astype(np.int64)
    return ops.CrossEntropy.apply(logits, target=t)


def log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)), stable for every x, as torch's
    ``nn.functional.logsigmoid``: its gradient sigmoid(-x) stays finite and right in float32
    below -88, where ``x.sigmoid().log()`` has an infinite one."""
    return x.log_sigmoid()


def mse_loss(pred: Tensor, target) -> Tensor:
    """Mean of (pred - target)**2 over every element."""
    return ((pred - target) ** 2).mean()


def sse_loss(pred: Tensor, target) -> Tensor:
    """0.5 * sum((pred - target)**2) over the batch: the loss whose gradient the
    original hand-written network uses (its ``dout = y_pred - y``). A target given as
    an array becomes a Tensor named ``y``, as the graph pictures label it."""
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=pred.dtype), name="y")
    return ops.HalfSSE.apply(pred, target)


LOSSES = {"sse": sse_loss, "cross_entropy": cross_entropy, "mse": mse_loss}


def one_hot(labels: np.ndarray, classes: int = 10, dtype=np.float32) -> np.ndarray:
    """(N,) class indices -> (N, classes) rows of 0 and 1."""
    out = np.zeros((len(labels), classes), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: str, model: MLP, extra: Mapping[str, np.ndarray] | None = None, meta: dict | None = None
) -> str:
    """Write the model's parameters (and ``extra`` arrays, e.g. optimizer state) to an
    .npz file, with the model's config and ``meta`` as JSON text; written to a
    temporary name and renamed, so a crash never leaves half a checkpoint."""
    arrays = {f"param/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    arrays["meta"] = np.array(json.dumps({"model": model.config(), **(meta or {})}))
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_checkpoint(path: str) -> tuple[MLP, dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint` (``allow_pickle=False``):
    returns the rebuilt model, the extra arrays and the meta dict.

    Anything else is a ValueError (OSError when the file cannot be opened) that says
    the file is not a checkpoint, or which entry is missing or malformed."""
    with open(path, "rb") as f:  # OSError (missing, a folder, no permission) names the file itself
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ValueError(f"{path}: not a checkpoint (a checkpoint is an .npz archive, this file is not one)")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            files = {}
            for k in names:
                try:
                    files[k] = f[k]
                except ValueError:  # an object array: only pickle could read it, and no checkpoint holds one
                    raise ValueError(
                        f"{path}: not a checkpoint: entry {k!r} holds Python objects, which a checkpoint "
                        f"never does (they are not read)"
                    ) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable checkpoint: a damaged .npz archive ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith(path):
            raise
        raise ValueError(f"{path}: not a readable checkpoint: a damaged .npz archive ({exc})") from None
    if "meta" not in files:
        raise ValueError(f"{path}: not a tinygrad_mlp checkpoint: the entry 'meta' is missing")
    try:
        meta = json.loads(str(files.pop("meta")))
        cfg = meta["model"]
        model = MLP(cfg["sizes"], cfg["activation"], cfg["output_activation"], dtype=cfg["dtype"])
    except json.JSONDecodeError:
        raise ValueError(f"{path}: the checkpoint's 'meta' entry is not JSON") from None
    except KeyError as exc:
        raise ValueError(f"{path}: the checkpoint's 'meta' entry lacks the key {exc}") from None
    except TypeError:
        raise ValueError(
            f"{path}: the checkpoint's 'meta' entry is malformed (not a model description)"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{path}: the checkpoint's 'meta' entry describes no valid model ({exc})") from None
    try:
        model.load_state_dict({k[len("param/") :]: v for k, v in files.items() if k.startswith("param/")})
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: the checkpoint's parameters do not fit its model: {exc.args[0]}") from None
    extra = {k[len("extra/") :]: v for k, v in files.items() if k.startswith("extra/")}
    return model, extra, meta
