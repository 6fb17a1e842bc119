"""Floating-point traps: run one numpy call with one IEEE exception raising.

A rule whose fast form is wrong only where a floating-point exception happens (the
sigmoid's ``exp(-a)`` overflowing) runs that one call with the exception trapped instead of
first scanning its input (``min(a) > limit``, a pass over the array): the CPU's status flag,
which numpy reads after every call anyway, is the test, at no cost when nothing happens::

    if trapped("over", np.exp, e, out=e) is not None:   # no element overflowed
        ... the fast form ...
    else:
        ... the careful form ...

The compiled step (:mod:`tinygrad_mlp.jit`) keeps the trap as the guard of the branch the
rule took, so it costs there no pass either.
"""

from __future__ import annotations

import numpy as np

try:  # numpy >= 2: errstate is a context variable; setting it directly costs ~0.3 us, not 1.5
    from numpy._core._ufunc_config import _extobj_contextvar as STATE
except ImportError:  # pragma: no cover (numpy 1.x: the public errstate, slower)
    STATE = None

KINDS = ("over", "invalid", "divide", "under")
_raising_cache: dict = {kind: {} for kind in KINDS}  # the caller's error state -> with `kind` raising
TRACED: list = []  # the traced array type (set by tinygrad_mlp.jit.trace): its calls are recorded


_last: dict = {}  # kind -> (the caller's state, that state with kind raising): the common case


def raising(kind: str):
    """The caller's floating-point error state with ``kind`` raising (made once per state)."""
    current = STATE.get()
    last = _last.get(kind)
    if last is not None and last[0] is current:
        return last[1]
    state = _raising(kind, current)
    _last[kind] = (current, state)
    return state


def _raising(kind: str, current):
    cache = _raising_cache.get(kind)
    if cache is None:
        raise ValueError(f"trapped: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    state = cache.get(current)
    if state is None:
        with np.errstate(**{kind: "raise"}):  # the caller's settings, with `kind` raising
            state = STATE.get()
        if len(cache) > 64:
            cache.clear()
        cache[current] = state
    return state


_strict_cache: dict = {}  # (error state, the warnings filters' list and length) -> strict?


def strict() -> bool:
    """Would numpy stop a step at a floating-point exception now? True where numpy's error
    state raises or calls a function for one, or warns and the warnings filters turn a
    RuntimeWarning into an error. (A compiled step's fused kernels report an exception after
    their loops ran, where numpy would have stopped at the call: such a call runs numpy's.)"""
    import warnings

    current = STATE.get() if STATE is not None else None
    key = (current, id(warnings.filters), len(warnings.filters))
    found = _strict_cache.get(key)
    if found is None or STATE is None:
        settings = np.geterr()
        actions = {settings[kind] for kind in ("divide", "over", "under", "invalid")}
        found = bool(actions & {"raise", "call", "log"})
        if not found and "warn" in actions:
            found = any(
                action == "error" and issubclass(RuntimeWarning, category)
                for action, _, category, _, _ in warnings.filters
            )
        if len(_strict_cache) > 64:
            _strict_cache.clear()
        _strict_cache[key] = found
    return found


def trapped(kind: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the floating-point exception ``kind`` ("over",
    "invalid", "divide" or "under") raising, the caller's other settings kept: its result,
    or None where an exception raised (an ``out=`` array then holds what numpy wrote: inf or
    NaN where the exception was).
    Traced arrays (inside :func:`tinygrad_mlp.jit`) record the call with its trap."""
    if TRACED:
        for a in args:
            if type(a) is TRACED[0]:
                return TRACED[0].trapped(kind, fn, args, kwargs)
    return run(kind, fn, args, kwargs)


def run(kind: str, fn, args: tuple, kwargs: dict):
    """The trapped call on real arrays: its result, or None if ``kind`` happened."""
    if STATE is None:  # pragma: no cover
        try:
            with np.errstate(**{kind: "raise"}):
                return fn(*args, **kwargs)
        except FloatingPointError:
            return None
    token = STATE.set(raising(kind))
    try:
        return fn(*args, **kwargs)
    except FloatingPointError:
        return None
    finally:
        STATE.reset(token)


def clean(kind: str, fn, *args, **kwargs) -> bool:
    """True where ``fn(*args, **kwargs)`` ran without the exception ``kind``: in a compiled
    step, the guard of a branch the rule took because the exception happened."""
    return run(kind, fn, args, kwargs) is not None


class Tripped(Exception):
    """A trapped call met its exception in a compiled step (a guard that failed)."""
