"""Function transforms in the style of ``torch.func``: grad, vjp, jvp, jacrev, jacfwd,
hessian, hvp.

    from tinygrad_mlp import func
    d2 = func.grad(func.grad(lambda x: (x ** 3).sum()))   # 6x, as a function
    out, tangent = func.jvp(f, (x,), (v,))                # forward mode: one pass

Two ways to differentiate, both built on the ops' rules in ``ops.py``:

- Reverse mode (``grad``, ``vjp``, ``jacrev``) runs the function, then walks its
  graph backwards with each op's vector-Jacobian product (``autograd.grad`` with
  ``create_graph=True``, so the result can be differentiated again). One backward
  pass gives the gradient of one output with respect to every input.
- Forward mode (``jvp``, ``jacfwd``) carries a tangent beside every value while the
  function runs, through each op's tangent rule (``Function.jvp``); there is no
  backward pass. One forward pass gives the derivative of every output along one
  input direction.

A full Jacobian of an n-input, m-output function takes m backward passes or n
forward passes, which is why backprop (one output: the loss) is reverse mode.

The transforms nest (``jacfwd(jacrev(f))`` is the Hessian, forward over reverse),
because the rules are recorded as ops like any other computation. Arguments and
results are Tensors (arrays and numbers are accepted as arguments); float32 stays
float32.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np

from . import autograd, ops
from .autograd import MODE
from .tensor import Tensor


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _constant_output(out):
    """An output that is a plain array or number (``np.sum(x < y) + 0.0``, a function that
    ignores its argument) as a constant Tensor: its derivatives are zero, as in HIPS
    autograd and JAX. Anything else is left for the caller's error."""
    if isinstance(out, (np.ndarray, np.generic, int, float)) and not isinstance(out, bool):
        return Tensor(np.asarray(out))
    return out


def _argnums(argnums, n: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"func.{name}: argnums must not be empty")
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"func.{name}: argnums {argnums!r} is out of range for {n} argument(s)")
    return tuple(i % n for i in nums)


def _with_tangents(new: Tensor, old: Tensor) -> Tensor:
    """Give ``new`` the forward-mode tangents ``old`` has (every jvp level under way)."""
    for level in MODE.get().fw:
        if id(old) in level:
            level[id(new)] = (new, level[id(old)][1])
    return new


class _Scope:
    """The leaves one transform call made; ``done`` once the call has returned."""

    __slots__ = ("done", "__weakref__")

    def __init__(self) -> None:
        self.done = False


# The leaves the transforms made: id -> (weak reference, the call's scope). No code
# outside a finished call can hold them, so a result whose graph starts only at leaves
# of finished calls can be cut from that graph.
_LEAVES: dict[int, tuple] = {}


def _dead(t: Tensor) -> bool:
    entry = _LEAVES.get(id(t))
    return entry is not None and entry[0]() is t and entry[1].done


def _new_leaf(x: Tensor, scope: _Scope) -> Tensor:
    leaf = _with_tangents(Tensor(x.data, requires_grad=True), x)
    key = id(leaf)
    _LEAVES[key] = (weakref.ref(leaf, lambda _, key=key: _LEAVES.pop(key, None)), scope)
    return leaf


def _watch(x: Tensor, scope: _Scope) -> Tensor:
    """``x`` as a variable of its own for this transform: a new node, so that an outer
    transform's variable with the same value is not confused with it (``grad`` of
    ``lambda x: grad(lambda y: x * y)(x)`` is 1, not 2). When ``x`` is part of a graph
    already, the node is a copy op on it (an outer transform differentiates through
    it); else a new leaf sharing its data, with its forward-mode tangents."""
    if x.requires_grad:
        return ops.Copy.apply(x)
    return _new_leaf(x, scope)


def _release(t, scope: _Scope | None = None):
    """A result handed back to the caller (``scope``: the call's, now finished): cut from
    the graph made inside when that graph starts only at leaves of finished transform
    calls, so that nobody outside could differentiate through it; its forward-mode
    tangents are kept. A result that depends on anything else (an enclosing
    transform's variable, a closure over a tensor that requires grad) keeps its graph,
    so transforms nest."""
    if scope is not None:
        scope.done = True
    if t is None or not isinstance(t, Tensor) or not t.requires_grad:
        return t
    if all(_dead(n) for n in autograd.toposort(t) if n._ctx is None):
        return _with_tangents(Tensor(t.data), t)
    return t


def _prepare(args: Sequence, nums: tuple[int, ...]) -> tuple[list, _Scope]:
    args = [_as_tensor(a) for a in args]
    scope = _Scope()
    for i in nums:
        args[i] = _watch(args[i], scope)
    return args, scope


def grad(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``grad(f)(*args)``: the gradient of the one-element output of ``f`` with respect to
    argument ``argnums`` (a tuple of them gives a tuple). Nestable:
    ``grad(grad(f))`` is the second derivative."""

    def grad_f(*args):
        nums = _argnums(argnums, len(args), "grad")
        args, fresh = _prepare(args, nums)
        out = _constant_output(f(*args))
        if not isinstance(out, Tensor) or out.size != 1:
            shape = getattr(out, "shape", type(out).__name__)
            raise RuntimeError(f"func.grad: f must return a one-element Tensor, got {shape}")
        if not out.requires_grad:  # f does not depend on the arguments: zero gradients
            gs = [Tensor(np.zeros_like(args[i].data)) for i in nums]
        else:
            gs = autograd.grad(out, [args[i] for i in nums], create_graph=True, allow_unused=True)
            gs = [Tensor(np.zeros_like(args[i].data)) if g is None else g for i, g in zip(nums, gs)]
        gs = [_release(g, fresh) for g in gs]
        return gs[0] if isinstance(argnums, int) else tuple(gs)

    return grad_f


def vjp(f: Callable, *primals) -> tuple[Tensor, Callable]:
    """``out, vjp_fn = vjp(f, *primals)``; ``vjp_fn(cotangent)`` returns a tuple with one
    vector-Jacobian product per primal (cotangent^T @ d out / d primal)."""
    args, fresh = _prepare(primals, tuple(range(len(primals))))
    out = _constant_output(f(*args))
    if not isinstance(out, Tensor):
        raise RuntimeError(f"func.vjp: f must return a Tensor, got {type(out).__name__}")

    def vjp_fn(cotangent) -> tuple:
        ct = _as_tensor(cotangent)
        if ct.shape != out.shape:
            raise RuntimeError(f"func.vjp: the cotangent has shape {ct.shape} but f's output has {out.shape}")
        if not out.requires_grad:
            return tuple(Tensor(np.zeros_like(a.data)) for a in args)
        gs = autograd.grad(out, args, ct, create_graph=True, allow_unused=True)
        return tuple(
            _release(Tensor(np.zeros_like(a.data)) if g is None else g, fresh) for a, g in zip(args, gs)
        )

    return _release(out, fresh), vjp_fn


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """``out, tangent_out = jvp(f, primals, tangents)``: forward mode. Each primal gets
    its tangent; one pass through ``f`` carries them through every op's tangent rule,
    and ``tangent_out`` is the directional derivative of ``f`` along the tangents.
    ``f`` may return a Tensor or a tuple of Tensors (then ``tangent_out`` is a tuple)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "func.jvp: primals and tangents must be tuples (or lists), one entry per argument of f: "
            "func.jvp(f, (x,), (v,))"
        )
    if len(primals) != len(tangents):
        raise ValueError(f"func.jvp: {len(primals)} primals but {len(tangents)} tangents")
    level: dict = {}
    args = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p = _as_tensor(p)
        t = t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=p.dtype))
        if t.shape != p.shape:
            raise ValueError(f"func.jvp: tangent {i} has shape {t.shape} but primal {i} has {p.shape}")
        x = ops.Copy.apply(p)  # a node of its own: two primals may be one tensor
        args.append(x)
        level[id(x)] = (x, t)
    with autograd.using(fw=(*MODE.get().fw, level)):
        out = f(*args)
    out = tuple(_constant_output(o) for o in out) if isinstance(out, tuple) else _constant_output(out)
    outs = out if isinstance(out, tuple) else (out,)
    # nothing outside depends on a graph made inside (only leaves of nested transforms):
    # hand back plain tensors (keeping the tangents of outer jvp levels)
    fresh = None  # jvp makes no leaves: only graphs of finished nested transforms' leaves are cut
    tans = []
    for o in outs:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"func.jvp: f must return Tensors, got {type(o).__name__}")
        found = level.get(id(o))
        tans.append(_release(found[1] if found is not None else Tensor(np.zeros_like(o.data)), fresh))
    outs = tuple(_release(o, fresh) for o in outs)
    return (outs, tuple(tans)) if isinstance(out, tuple) else (outs[0], tans[0])


def _stack_rows(rows: list[Tensor]) -> Tensor:
    return ops.Stack.apply(*rows)


def jacrev(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``jacrev(f)(*args)``: the Jacobian by reverse mode, one backward pass per output
    element; shape ``out.shape + arg.shape`` (a tuple of them for a tuple argnums)."""

    def jac_f(*args):
        nums = _argnums(argnums, len(args), "jacrev")
        args, fresh = _prepare(args, nums)
        out = _constant_output(f(*args))
        if not isinstance(out, Tensor):
            raise TypeError(f"func.jacrev: f must return one Tensor, got {type(out).__name__}")
        wrt = [args[i] for i in nums]
        rows: list[list[Tensor]] = [[] for _ in nums]
        for k in range(max(out.size, 0)):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.reshape(-1)[k] = 1
            if out.requires_grad:
                gs = autograd.grad(out, wrt, seed, create_graph=True, allow_unused=True)
            else:
                gs = (None,) * len(wrt)
            for j, (x, g) in enumerate(zip(wrt, gs)):
                rows[j].append(Tensor(np.zeros_like(x.data)) if g is None else g)
        jacs = []
        for x, r in zip(wrt, rows):
            if not r:
                jac = Tensor(np.zeros(out.shape + x.shape, dtype=x.dtype))
            else:
                jac = _stack_rows(r).reshape(out.shape + x.shape)
            jacs.append(_release(jac, fresh))
        return jacs[0] if isinstance(argnums, int) else tuple(jacs)

    return jac_f


def jacfwd(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``jacfwd(f)(*args)``: the Jacobian by forward mode, one jvp per input element;
    shape ``out.shape + arg.shape``. A tuple ``argnums`` gives a tuple (one per
    argument); a tuple of outputs gives a tuple (one per output) of those."""

    def jac_f(*args):
        nums = _argnums(argnums, len(args), "jacfwd")
        args = [_as_tensor(a) for a in args]
        per_arg = []  # per argument: one Jacobian per output
        multi = False
        for i in nums:
            x = args[i]

            def f_i(xi, _i=i):
                return f(*args[:_i], xi, *args[_i + 1 :])

            cols = []  # per input element: the tangents of the outputs
            outs = None
            for k in range(x.size):
                e = np.zeros(x.shape, dtype=x.dtype)
                e.reshape(-1)[k] = 1
                out, tangent = jvp(f_i, (x,), (Tensor(e),))
                multi = isinstance(out, tuple)
                outs = out if multi else (out,)
                cols.append(tangent if multi else (tangent,))
            if outs is None:  # an empty argument: evaluate f once for the outputs' shapes
                out = f(*args)
                multi = isinstance(out, tuple)
                outs = out if multi else (out,)
            jacs = []
            for j, o in enumerate(outs):
                if not cols:
                    jacs.append(Tensor(np.zeros(o.shape + x.shape, dtype=o.dtype)))
                    continue
                stacked = _stack_rows([c[j] for c in cols]).reshape(x.shape + o.shape)  # (in..., out...)
                perm = tuple(range(x.ndim, x.ndim + o.ndim)) + tuple(range(x.ndim))
                jacs.append(stacked.transpose(*perm) if perm else stacked)
            per_arg.append(jacs)
        n_out = len(per_arg[0])
        by_output = [tuple(per_arg[a][j] for a in range(len(nums))) for j in range(n_out)]
        if isinstance(argnums, int):
            by_output = [j[0] for j in by_output]
        return tuple(by_output) if multi else by_output[0]

    return jac_f


def hessian(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``hessian(f)(*args)``: ``jacfwd(jacrev(f))``, forward over reverse, as torch.func;
    shape ``arg.shape + arg.shape`` for a one-element output."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Tensor, tuple]:
    """``out, hvps = hvp(f, primals, tangents)``: the Hessian of the one-element output of
    ``f`` times the tangents, without forming the Hessian: forward mode over the
    gradient (one backward pass recorded, then one jvp through it)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("func.hvp: primals and tangents must be tuples (or lists): func.hvp(f, (x,), (v,))")
    primals = tuple(_as_tensor(p) for p in primals)
    n = len(primals)
    results: dict = {}

    def gradient(*xs):
        args, scope = _prepare(xs, tuple(range(n)))
        out = f(*args)
        if not isinstance(out, Tensor) or out.size != 1:
            raise RuntimeError("func.hvp: f must return a one-element Tensor")
        results["out"] = out
        gs = autograd.grad(out, args, create_graph=True, allow_unused=True)
        scope.done = True
        return tuple(Tensor(np.zeros_like(a.data)) if g is None else g for a, g in zip(args, gs))

    _, hv = jvp(gradient, primals, tangents)
    out = results["out"]
    return Tensor(out.data) if not any(p.requires_grad for p in primals) else out, hv
