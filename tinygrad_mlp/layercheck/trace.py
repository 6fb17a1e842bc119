"""Running a learner's forward on Tensors as it is written, and replaying its random draws.

Inside :func:`recording` (the check's own run of the forward on Tensors, nothing else):

- ``np.zeros``, ``np.empty``, ``np.ones``, ``np.full`` and their ``*_like`` give float
  arrays as :class:`Filled` Tensors (no graph yet), so that an array filled in a loop
  (``out[n, f, i, j] = np.sum(...)``, im2col's ``col``, a stable sigmoid's
  ``z = np.zeros_like(x); z[mask] = ...``) records each assignment instead of numpy
  turning the Tensor into numbers and cutting the graph. Integer and bool arrays stay
  numpy arrays (labels, masks, indices).
- ``ndarray op= Tensor`` (``h = np.zeros(3) + 0; h += t``) gives the Tensor ``h + t``:
  Python binds the result of ``+=`` to the name.
- Float inputs without a row (the data ``X``, one-hot targets) are :class:`Filled` Tensors
  too, so that ``X.dot(W)`` records instead of numpy converting ``W``.
- ``float(t)`` and ``t.item()`` of a Tensor in the graph (values autograd cannot follow)
  are recorded as a *cut*, with the learner's ``file:line`` and code, for the report; the
  run goes on. Turning it into a numpy array (``np.asarray(t)``, a write into a numpy
  array) is the engine's own error, naming the line.

Random draws: :class:`RandomReplay` sets numpy's global generator, and every
``Generator`` or ``RandomState`` the learner's module holds, back to the state they
had when the check started, before each run of the forward (hand-written, on Tensors,
and each central difference), so a forward that draws a dropout mask is one fixed
function within the check; afterwards they are left as they were before it.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import os
import random
import site
import sys
import threading
import types
from dataclasses import dataclass, field

import numpy as np

from .. import numpy_api
from ..tensor import Tensor

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))
_LOCK = threading.RLock()  # (re-entered: a run without small constants records too)


def learner_line(skip_frames: int = 1) -> str:
    """``file:line: code`` of the innermost frame outside this package and numpy: the
    learner's line that is running now."""
    frame = inspect.currentframe()
    for _ in range(skip_frames):
        frame = frame.f_back if frame is not None else None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (path.startswith(_PACKAGE + os.sep) or path.startswith(_NUMPY + os.sep)):
            break
        frame = frame.f_back
    if frame is None:
        return "<unknown line>"
    return _where(frame.f_code.co_filename, frame.f_lineno)


def _where(filename: str, lineno: int) -> str:
    code = linecache.getline(filename, lineno).strip()
    return f"{os.path.basename(filename)}:{lineno}" + (f": {code}" if code else "")


def traceback_line(exc: BaseException) -> str:
    """``file:line: code`` of the innermost frame of ``exc``'s traceback in the learner's
    code (outside this package and numpy), or empty."""
    found = ""
    tb = exc.__traceback__
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not (path.startswith(_PACKAGE + os.sep) or path.startswith(_NUMPY + os.sep)):
            found = _where(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


class Filled(Tensor):
    """A float array made by ``np.zeros`` (and the like) inside :func:`recording`: a
    Tensor without a graph until something is assigned into it. Methods numpy arrays
    have and Tensors do not (``fill``, ``argmax``, ``tolist`` ...) run on its values
    while it has no graph."""

    def astype(self, dtype, copy: bool = True):
        """Another float dtype: recorded, as a Tensor's; an integer or bool dtype (labels
        kept as floats, ``t.astype(int)``) gives numpy's array while it has no graph."""
        if np.dtype(dtype).kind != "f" and not self.requires_grad:
            return self.data.astype(dtype, copy=copy)
        return super().astype(dtype, copy=copy)

    def __getattr__(self, name: str):
        if name.startswith("__") or self.requires_grad:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r} (an array from np.zeros or the "
                f"like, once a Tensor is written into it, is a Tensor: numpy's {name} cannot be recorded)"
            )
        return getattr(self.data, name)


def _float64(arr, tensors: bool):
    """A float array made by the learner's code, in float64 (the check runs everything in
    float64: ``np.empty((N, T, H), dtype='f')`` would round each value to float32), and,
    on the Tensor run, as a :class:`Filled` Tensor."""
    if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
        if arr.dtype != np.float64:
            arr = arr.astype(np.float64)
        return Filled(arr) if tensors else arr
    return arr


def _maker(original, tensors: bool):
    def make(*args, **kwargs):
        return _float64(original(*args, **kwargs), tensors)

    make.__wrapped__ = original
    return make


def _like_maker(original, tensors: bool):
    def make(a, *args, **kwargs):
        return _float64(original(a.data if isinstance(a, Tensor) else a, *args, **kwargs), tensors)

    make.__wrapped__ = original
    return make


_MAKERS = ("zeros", "empty", "ones", "full")
_LIKE = ("zeros_like", "empty_like", "ones_like", "full_like")


class _RandomView(types.ModuleType):
    """``np.random`` as the learner's code sees it during a run: a generator made without
    a seed (``np.random.default_rng()``, ``RandomState()``) gets one, the same in every
    run of the check (the n-th such generator of a run, the n-th seed), so its draws
    replay like everything else."""

    def __init__(self) -> None:
        super().__init__("numpy.random")
        self.made = 0  # unseeded generators made in this run
        self.used = False  # ... in any run of this check

    def default_rng(self, seed=None):
        return np.random.default_rng(self._seed() if seed is None else seed)

    def RandomState(self, seed=None):  # noqa: N802 (numpy's name)
        return np.random.RandomState(self._seed() if seed is None else seed)

    def _seed(self) -> list[int]:
        self.made, self.used = self.made + 1, True
        return [20261207, self.made]

    def __getattr__(self, name: str):
        return getattr(np.random, name)


class _NumpyView(types.ModuleType):
    """numpy as the learner's code sees it during a run: the array makers wrapped,
    everything else numpy's own (numpy itself, and the engine, keep the real ones)."""

    def __init__(self, tensors: bool) -> None:
        super().__init__("numpy")
        for name in _MAKERS:
            setattr(self, name, _maker(getattr(np, name), tensors))
        for name in _LIKE:
            setattr(self, name, _like_maker(getattr(np, name), tensors))
        self.random = _RANDOM

    def __getattr__(self, name: str):
        return getattr(np, name)


_RANDOM = _RandomView()
_VIEWS = {True: _NumpyView(True), False: _NumpyView(False)}
_ROOTS = tuple(
    os.path.abspath(p) + os.sep
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), _PACKAGE, _NUMPY}
    if p
)


def learner_namespaces(code: list) -> list[dict]:
    """The globals of the learner's modules: those of ``code`` (the functions checked),
    ``__main__`` (a notebook, a script) and every imported module outside Python,
    site-packages, numpy and this package (a helper such as ``im2col`` in another file)."""
    found: dict[int, dict] = {}
    for fn in code:
        ns = getattr(getattr(fn, "__func__", fn), "__globals__", None)
        if isinstance(ns, dict):
            found[id(ns)] = ns
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or (path and not os.path.abspath(path).startswith(_ROOTS)):
            ns = getattr(module, "__dict__", None)
            if isinstance(ns, dict):
                found[id(ns)] = ns
    return list(found.values())


class NumpySwap:
    """Where the learner's modules name numpy (``np``) or one of its array makers
    (``from numpy import zeros``): swapped for :class:`_NumpyView` during a run."""

    def __init__(self, code: list) -> None:
        makers = {id(getattr(np, n)): n for n in (*_MAKERS, *_LIKE)}
        self.targets: list[tuple[dict, str, object]] = []
        for ns in learner_namespaces(code):
            for key, value in list(ns.items()):
                if value is np or (
                    callable(value) and id(value) in makers and value is getattr(np, makers[id(value)])
                ):
                    self.targets.append((ns, key, value))

    @contextlib.contextmanager
    def applied(self, tensors: bool):
        """Within the block the learner's modules see :class:`_NumpyView`."""
        view = _VIEWS[tensors]
        _RANDOM.made = 0  # each run makes its unseeded generators from the same seeds
        try:
            for ns, key, value in self.targets:
                ns[key] = view if value is np else getattr(view, value.__name__)
            yield
        finally:
            for ns, key, value in self.targets:
                ns[key] = value


@dataclass
class Recording:
    """What :func:`recording` saw: the places where a Tensor was turned into numbers."""

    cuts: list[str] = field(default_factory=list)

    def cut(self, what: str) -> None:
        """Remember one place the graph was cut, with the learner's line."""
        line = f"{what} at {learner_line(3)}"
        if line not in self.cuts:
            self.cuts.append(line)


@contextlib.contextmanager
def recording(swap: NumpySwap, tensors: bool = True):
    """Inside the block, the forward's numpy patterns record on Tensors (module
    docstring); yields a :class:`Recording`. With ``tensors=False`` (the runs on
    arrays), only the arrays ``np.zeros`` and the like make are float64. Restores the
    learner's modules and Tensor on exit."""
    seen = Recording()
    if not tensors:
        with _LOCK, swap.applied(False):
            yield seen
        return
    flt, item = Tensor.__float__, Tensor.item
    ufunc = numpy_api.array_ufunc
    # (a Tensor in a graph turned into a numpy array is the engine's own GraphCutError, naming the line)

    def traced_float(self):
        if self.requires_grad:
            seen.cut("float() of a Tensor")
        return flt(self)

    def traced_item(self):
        if self.requires_grad:
            seen.cut(".item() of a Tensor")
        return item(self)

    def traced_ufunc(uf, method, inputs, kwargs):
        out = kwargs.get("out")
        in_place = method == "__call__" and out is not None and len(out) == 1 and out[0] is inputs[0]
        if in_place and isinstance(out[0], np.ndarray):  # ndarray op= Tensor: the name gets the new Tensor
            return ufunc(uf, method, inputs, {k: v for k, v in kwargs.items() if k != "out"})
        return ufunc(uf, method, inputs, kwargs)

    with _LOCK, swap.applied(True):
        try:
            Tensor.__float__, Tensor.item = traced_float, traced_item
            numpy_api.array_ufunc = traced_ufunc
            yield seen
        finally:
            Tensor.__float__, Tensor.item = flt, item
            numpy_api.array_ufunc = ufunc


SMALL = 1e-3  # a number added in the forward at most this large (and not 0) is a "small constant"


@contextlib.contextmanager
def without_small_constants(active: bool = True):
    """Within the block (when ``active``), a small number added to or subtracted from a
    Tensor (``y + 1e-7``, ``var + eps``) is left out: the forward as a backward that
    ignores such constants differentiates it."""
    if not active:
        yield
        return
    names = ("__add__", "__radd__", "__sub__", "__rsub__")
    saved = {n: getattr(Tensor, n) for n in names}

    def dropping(method):
        def op(self, other):
            if isinstance(other, (int, float, np.number)) and 0 < abs(other) <= SMALL:
                other = 0.0
            return method(self, other)

        return op

    with _LOCK:
        try:
            for n in names:
                setattr(Tensor, n, dropping(saved[n]))
            yield
        finally:
            for n, method in saved.items():
                setattr(Tensor, n, method)


# ---------------------------------------------------------------- random draws


def _generators_in(namespace: dict) -> list:
    return [v for v in namespace.values() if isinstance(v, (np.random.Generator, np.random.RandomState))]


def _state(gen):
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    return gen.getstate() if gen is random else gen.get_state()


def _set_state(gen, state) -> None:
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    elif gen is random:
        random.setstate(state)
    else:
        gen.set_state(state)


def _same_state(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


class RandomReplay:
    """Numpy's global generator and the generators in the learner's modules, set back
    to their starting state before each run of the forward (module docstring)."""

    def __init__(self, code: list) -> None:
        namespaces, seen = [], set()
        for fn in code:
            fn = getattr(fn, "__func__", fn)
            for ns in (getattr(fn, "__globals__", None),):
                if isinstance(ns, dict) and id(ns) not in seen:
                    seen.add(id(ns))
                    namespaces.append(ns)
            for cell in getattr(fn, "__closure__", None) or ():
                try:
                    value = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(value, (np.random.Generator, np.random.RandomState)):
                    namespaces.append({"": value})
        gens = [g for ns in namespaces for g in _generators_in(ns)]
        self.sources = [
            ("numpy's global generator (np.random.rand, randn, ...)", np.random.mtrand._rand),
            ("Python's random module", random),
        ]
        self.sources += [(f"a {type(g).__name__} in the learner's module", g) for g in gens]
        self.start = [_state(g) for _, g in self.sources]
        self.drawn: set[str] = set()
        self.swap = NumpySwap(code)  # (the same learner's code: where it names numpy)
        _RANDOM.used = False

    def reset(self) -> None:
        """Every generator at its starting state."""
        for (_, gen), state in zip(self.sources, self.start):
            _set_state(gen, state)

    def note_draws(self) -> None:
        """After a run: remember which generators it drew from."""
        for (what, gen), state in zip(self.sources, self.start):
            if not _same_state(_state(gen), state):
                self.drawn.add(what)
        if _RANDOM.used:
            self.drawn.add(
                "a Generator made without a seed (np.random.default_rng()), seeded the same in every run"
            )

    @contextlib.contextmanager
    def run(self):
        """One run of the forward from the starting states."""
        self.reset()
        try:
            yield
        finally:
            self.note_draws()

    def restore(self) -> None:
        """The generators as they were before the check."""
        self.reset()


def generators_held(obj, _seen: set | None = None, _depth: int = 0) -> list:
    """The ``Generator``/``RandomState`` objects an object holds (in attributes, lists,
    dicts), each once."""
    from .adapters import children, descend

    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 10:
        return []
    seen.add(id(obj))
    found = []
    for _, value in children(obj):
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            found.append(value)
        elif descend(value):
            found += generators_held(value, seen, _depth + 1)
    return found
