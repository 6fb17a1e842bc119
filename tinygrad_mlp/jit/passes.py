"""The compiler's passes: each a small function over the recorded program.

A pass takes a :class:`Plan` (the program plus where each value is stored) and changes it
in place; :func:`measure` counts what a pass bought (numpy calls, arrays allocated per
call and their bytes, preallocated buffers, peak live bytes). In order:

- ``dce``: dead-code elimination. A value no output needs is not computed: gradients of
  tensors nobody reads after the step (an input batch that requires grad, the ``.grad``
  the backward pass keeps for every intermediate tensor), unused forward values.
- ``fold``: constant folding. A call whose inputs are all known when compiling runs then
  (``zeros_like`` of a traced array is a constant of its shape); a constant array holding
  one value repeated (the broadcast gradient of a sum) becomes that one number.
- ``simplify``: peephole rewrites that give the same numbers with less work: ``(x + x) * c``
  is ``x * (2 c)`` (and ``x * 1`` is ``x``: the ``(d + d) * 0.5`` of a squared loss's
  derivative is gone); ``a.sum(axis)`` is ``np.add.reduce(a, axis)`` (what the method calls,
  without its Python wrapper; ``max``/``min`` likewise); a Python or numpy scalar in an
  elementwise call is a 0-d array of the result's dtype, made once (numpy converts the
  scalar to that dtype at every call otherwise).
- ``optimizer``: the optimizer's scratch arrays (``opt._scratch``) become temporaries of
  the program, so ``np.multiply(g, lr, out=tmp); np.subtract(W, tmp, out=W)`` shares one
  ``tmp`` across parameters (buffer planning then places it) instead of one per parameter.
- ``inplace``: an elementwise call whose input dies at that call writes its result into
  that input (``np.negative(h, out=h)``): chains of elementwise calls run in place.
- ``tile``: loop tiling. A large temporary (1 MiB or more) made by one elementwise call and
  read only by the next, which writes in place (the update ``tmp = g * lr; W -= tmp`` of a
  large weight), is made a tile of rows at a time in a loop, so the temporary is 256 KiB that
  stay in the cache instead of an array the size of the weight: a 4096x4096 float32 layer's
  update needs 256 KiB, not 64 MiB.
- ``buffers``: buffer planning (as XLA's buffer assignment): every remaining new array a
  ufunc, matmul or reduction makes is written with ``out=`` into a preallocated buffer;
  a buffer is reused once the value in it is dead (liveness over the straight-line
  program); values that leave the step (gradients) are new arrays at every call.
- ``fuse`` (``fuse.py``): each run of elementwise calls becomes one generated C loop, whose
  values stay in registers unless read later (numpy makes one pass over memory per call,
  and each call costs about a microsecond before it starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .capture import Program
from .trace import Instr, Var

PASSES = ("dce", "fold", "simplify", "optimizer", "inplace", "tile", "buffers", "fuse")
_ELEMENTWISE_OUT = ("__call__",)


@dataclass
class Plan:
    """A program and its storage: ``into[v]`` is the Var whose array ``v`` is written into
    (in-place rewrites), ``buffers[v]`` the name of the buffer view a new value goes to,
    ``arrays[name]`` that view's (flat buffer, shape, dtype)."""

    program: Program
    into: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)  # Var -> buffer name
    arrays: dict = field(default_factory=dict)  # buffer name -> preallocated array
    removed: dict = field(default_factory=dict)  # pass -> what it removed or changed (for reports)
    sizes: list = field(default_factory=list)  # bytes of each flat buffer (allocated at the first run)
    tiles: dict = field(default_factory=dict)  # first instruction index -> (rows per tile, all rows)
    names_into: dict = field(default_factory=dict)  # Var -> the input it is written into (its name)
    view_of: dict = field(default_factory=dict)  # Var -> the Var it is a numpy view of
    fused: dict = field(default_factory=dict)  # first instruction index -> fuse.Group (a C kernel)
    kernel_source: str = ""  # the fused kernels' C
    kernel_notes: dict = field(default_factory=dict)  # comment marker -> text (codegen fills it)
    untrimmed: tuple = ()  # buffers, sizes, arrays before fuse gave some back (for a failed build)
    kernel_lib: object = None  # the loaded library (kept alive while the program is)

    @property
    def instrs(self) -> list[Instr]:
        """The program's instructions."""
        return self.program.instrs


def _base(instrs: list[Instr]) -> dict:
    """Var -> the Var owning its memory (a view's base, followed to the end)."""
    base: dict = {}
    for ins in instrs:
        if ins.out is not None and not ins.inplace and ins.views:
            base[ins.out] = base.get(ins.views[0], ins.views[0])
    return base


def storage(plan: Plan, v: Var, base: dict | None = None) -> Var:
    """The Var whose memory ``v`` lives in (through views and in-place rewrites)."""
    base = _base(plan.instrs) if base is None else base
    seen = 0
    while seen < 64:
        nxt = plan.into.get(v)
        if nxt is None:
            nxt = base.get(v)
        if nxt is None:
            return v
        v, seen = nxt, seen + 1
    return v


def last_uses(plan: Plan) -> dict:
    """Storage -> index of the last instruction touching it (outputs: past the end)."""
    base = _base(plan.instrs)
    last: dict = {}
    for i, ins in enumerate(plan.instrs):
        for v in ins.inputs() + ([ins.out] if ins.out is not None else []):
            last[storage(plan, v, base)] = i
    end = len(plan.instrs)
    for v in plan.program.outputs():
        last[storage(plan, v, base)] = end
    for v in plan.program.external():
        last[storage(plan, v, base)] = end
    return last


def _effect(plan: Plan, ins: Instr, base: dict, external: set) -> bool:
    """A guard (a trapped call too), or a write into the user's arrays (a parameter, the
    optimizer's state)."""
    if ins.kind == "guard" or ins.trap:
        return True
    if ins.out is None or not ins.inplace:
        return False
    root = storage(plan, ins.out, base)
    return root in external and root not in plan.program.private


# ---------------------------------------------------------------- dce


def dce(plan: Plan) -> None:
    """Drop every instruction whose result no output, later instruction or effect needs."""
    plan.removed["dce"] = _sweep(plan)


def _sweep(plan: Plan) -> list[str]:
    """Dead-code elimination proper: drop the dead instructions; what was dropped."""
    instrs = plan.instrs
    base = _base(instrs)
    external = plan.program.external()
    live = {storage(plan, v, base) for v in plan.program.outputs()}  # memory read later
    wanted = set(plan.program.outputs())  # values read later
    keep = []
    dropped = []
    for ins in reversed(instrs):
        root = storage(plan, ins.out, base) if ins.out is not None else None
        view = ins.out is not None and not ins.inplace and ins.views
        needed = ins.out in wanted if view else root is not None and root in live
        if _effect(plan, ins, base, external) or needed:
            keep.append(ins)
            if ins.out is not None and not ins.inplace and not ins.views:
                live.discard(root)  # made here: nothing before needs it
            wanted.update(ins.inputs())
            live.update(storage(plan, v, base) for v in ins.inputs())
        else:
            dropped.append(ins)
    plan.program.instrs = keep[::-1]
    gone = [f"{i.name} ({i.op} {i.phase})" for i in reversed(dropped)]
    used = set()
    for ins in plan.program.instrs:
        used.update(ins.inputs())
        if ins.out is not None:
            used.add(ins.out)
    used.update(plan.program.outputs())
    plan.program.reads = [r for r in plan.program.reads if r[0] in used or r[2] is None or r[2].lifted]
    return gone


# ---------------------------------------------------------------- fold

_LIKE = {np.zeros_like, np.ones_like, np.full_like}


def _written_later(instrs: list[Instr], k: int, v: Var) -> bool:
    return any(ins.inplace and ins.out is v for ins in instrs[k + 1 :]) or any(
        any(x is v for x in ins.views) for ins in instrs[k + 1 :]
    )


def _substitute(obj, table: dict):
    if isinstance(obj, Var):
        return table.get(obj, obj)
    if isinstance(obj, tuple):
        return tuple(_substitute(x, table) for x in obj)
    if isinstance(obj, list):
        return [_substitute(x, table) for x in obj]
    if isinstance(obj, dict):
        return {k: _substitute(x, table) for k, x in obj.items()}
    return obj


def _has_var(obj) -> bool:
    found: list = []
    from .trace import _collect

    _collect(obj, found)
    return bool(found)


def fold(plan: Plan) -> None:
    """Constant folding: evaluate what is known when compiling; one repeated value as a number."""
    instrs = plan.instrs
    outputs = set(plan.program.outputs())
    table: dict = {}
    keep, notes = [], []
    for k, ins in enumerate(instrs):
        ins.args, ins.kwargs = _substitute(ins.args, table), _substitute(ins.kwargs, table)
        out = ins.out
        foldable = (
            ins.kind == "call"
            and not ins.inplace
            and not ins.trap
            and out not in outputs
            and not _written_later(instrs, k, out)
            and (ins.fn in _LIKE or not _has_var((ins.args, ins.kwargs)))
        )
        if foldable:
            value = out.value.copy()
            value.flags.writeable = False
            table[out] = value
            notes.append(f"{ins.name} -> constant {value.shape}")
            continue
        if (
            ins.kind == "call"
            and isinstance(ins.fn, np.ufunc)
            and ins.name.count(".") == 1
            and ins.fn is not np.matmul
        ):
            args = list(ins.args)
            for j, a in enumerate(args):
                if isinstance(a, np.ndarray) and a.size >= 1 and np.all(a == a.flat[0]):
                    rest = [
                        np.shape(x.value if isinstance(x, Var) else x) for i, x in enumerate(args) if i != j
                    ]
                    if np.broadcast_shapes(*rest, ()) == out.shape:
                        args[j] = a.dtype.type(a.flat[0])
                        if a.ndim:
                            notes.append(f"{ins.name}: constant {a.shape} of {a.flat[0]!r} -> the number")
            ins.args = tuple(args)
        keep.append(ins)
    plan.program.instrs = keep
    plan.removed["fold"] = notes


# ---------------------------------------------------------------- simplify

_REDUCERS = {"sum": np.add.reduce, "max": np.maximum.reduce, "min": np.minimum.reduce}


def _uses(instrs: list[Instr]) -> dict:
    count: dict = {}
    for ins in instrs:
        for v in ins.inputs():
            count[v] = count.get(v, 0) + 1
    return count


def _scalar(x) -> bool:
    return type(x) in (int, float) or (isinstance(x, np.generic) and x.dtype.kind == "f")


def simplify(plan: Plan) -> None:
    """Peephole rewrites giving the same numbers with less work (see the module docstring)."""
    instrs = plan.instrs
    outputs = set(plan.program.outputs())
    uses = _uses(instrs)
    made = {ins.out: ins for ins in instrs if ins.out is not None and not ins.inplace}
    table: dict = {}  # Var -> the Var it equals
    keep, notes = [], []
    typed = 0
    for k, ins in enumerate(instrs):
        ins.args, ins.kwargs = _substitute(ins.args, table), _substitute(ins.kwargs, table)
        out = ins.out
        # (x + x) * c  ->  x * (2c);  x * 1  ->  x
        if (
            ins.kind == "call"
            and ins.fn is np.multiply
            and not ins.inplace
            and not ins.trap
            and not ins.kwargs
            and len(ins.args) == 2
        ):
            j = 0 if _scalar(ins.args[0]) else 1 if _scalar(ins.args[1]) else None
            other = ins.args[1 - j] if j is not None else None
            twice = made.get(other) if isinstance(other, Var) else None
            if (
                twice is not None
                and twice.kind == "call"
                and twice.fn is np.add
                and not twice.kwargs
                and not twice.trap
                and len(twice.args) == 2
                and twice.args[0] is twice.args[1]
                and isinstance(twice.args[0], Var)
                and twice.args[0].value.dtype == out.value.dtype
                and twice.args[0].value.shape == out.value.shape
                and uses.get(other) == 1
                and not _written_later(instrs, k, twice.args[0])
            ):
                x, c = twice.args[0], ins.args[j]
                c2 = (c * 2) if type(c) in (int, float) else c.dtype.type(c * 2)
                notes.append(
                    f"{ins.name}: ({x.label or 'x'} + {x.label or 'x'}) * {c!r} -> {x.label or 'x'} * {c2!r}"
                )
                ins.args = (x, c2)
                uses[x] = uses.get(x, 0) + 1
                if c2 == 1 and out not in outputs and not _written_later(instrs, k, out):
                    table[out] = x
                    notes.append(f"{ins.name}: * 1 -> {x.label or 'x'} itself")
                    continue
        # a.sum(axis) -> np.add.reduce(a, axis)
        if (
            ins.kind == "method"
            and ins.name in _REDUCERS
            and isinstance(ins.args[0], Var)
            and ins.args[0].value.dtype.kind == "f"
            and len(ins.args) <= 2
            and set(ins.kwargs) <= {"axis", "keepdims"}
        ):
            method, fn = ins.name, _REDUCERS[ins.name]
            ins.kind, ins.fn, ins.name = "call", fn, f"np.{fn.__self__.__name__}.reduce"
            if len(ins.args) == 1 and "axis" not in ins.kwargs:  # (the method's default: every axis;
                ins.kwargs = {"axis": None, **ins.kwargs}  # the ufunc's is the first)
            notes.append(f"{ins.op} {ins.phase}: .{method}() -> {ins.name}")
        # a scalar operand -> a 0-d array of the result's dtype, made once
        if (
            ins.kind == "call"
            and isinstance(ins.fn, np.ufunc)
            and ins.name.count(".") == 1
            and ins.fn is not np.matmul
            and out is not None
            and out.value.dtype.kind == "f"
        ):
            args = list(ins.args)
            # (a numpy scalar of another dtype is not weak: np.float64(0.1) with float32 arrays
            # computes in float64 even into a float32 out=, so it stays as it is)
            scalars = [
                j
                for j, a in enumerate(args)
                if _scalar(a) and np.isfinite(a) and (type(a) in (int, float) or a.dtype == out.value.dtype)
            ]
            for j in scalars:
                args[j] = _constant0d(args[j], out.value.dtype)
            if scalars:
                ins.args = tuple(args)
                typed += len(scalars)
        keep.append(ins)
    plan.program.instrs = keep
    if table:  # a value now computed by nothing: what reads it reads its equal
        for ins in plan.program.instrs:
            ins.args, ins.kwargs = _substitute(ins.args, table), _substitute(ins.kwargs, table)
    notes += [f"{gone}: no longer read" for gone in _sweep(plan)]
    if typed:
        notes.append(f"{typed} Python or numpy numbers -> 0-d constants of their call's dtype, made once")
    plan.removed["simplify"] = notes


def _constant0d(value, dtype) -> np.ndarray:
    array = np.array(value, dtype=dtype)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------- optimizer


def optimizer(plan: Plan) -> None:
    """The optimizer's private scratch arrays become the program's own temporaries: each
    full overwrite of a scratch array starts a new value, which buffer planning places."""
    private = plan.program.private
    if not private:
        plan.removed["optimizer"] = []
        return
    current: dict = {}
    notes = []
    for ins in plan.instrs:
        ins.args, ins.kwargs = _substitute(ins.args, current), _substitute(ins.kwargs, current)
        out = ins.out
        if (
            ins.kind == "call"
            and ins.inplace
            and out in private
            and isinstance(ins.fn, np.ufunc)
            and not any(x is out for x in ins.inputs()[:-1])
            and np.broadcast_shapes(*[np.shape(_val(a)) for a in ins.args]) == out.shape
            and _result_dtype(ins) == out.value.dtype  # (else out= was also a cast: keep it)
        ):
            fresh = Var(np.empty_like(out.value), "tmp")
            current[out] = fresh
            ins.out, ins.inplace, ins.views = fresh, False, ()
            notes.append(f"{ins.name} ({ins.op} {ins.phase}) into a temporary, not the optimizer's scratch")
        elif ins.inplace and out in current:
            ins.out = current[out]
    # scratch the optimizer made inside the step (np.empty_like) and no longer used: gone
    plan.program.instrs = [
        ins for ins in plan.instrs if not (ins.out in current and not ins.inplace and ins.fn is np.empty_like)
    ]
    plan.program.reads = [r for r in plan.program.reads if r[0] not in private or r[0] not in current]
    plan.program.private = {v for v in private if v not in current}
    plan.removed["optimizer"] = notes


def _val(x):
    return x.value if isinstance(x, Var) else x


def _result_dtype(ins: Instr):
    """The dtype ``ins``'s ufunc gives without ``out=`` (run on one element of each array)."""
    small = [a.value.reshape(-1)[:1] if isinstance(a, Var) and a.value.ndim else _val(a) for a in ins.args]
    with np.errstate(all="ignore"):
        return np.asarray(ins.fn(*small)).dtype


# ---------------------------------------------------------------- inplace


def _owned(plan: Plan, v: Var, base: dict, made: set) -> bool:
    """A value the step itself made (not a view, not the user's array)."""
    return v in made and storage(plan, v, base) is v


def inplace(plan: Plan) -> None:
    """Elementwise chains in place: a ufunc whose same-shaped input dies here writes into it."""
    instrs = plan.instrs
    base = _base(instrs)
    last = last_uses(plan)
    made = {ins.out for ins in instrs if ins.out is not None and not ins.inplace and not ins.views}
    notes = []
    for i, ins in enumerate(instrs):
        out = ins.out
        if not (
            ins.kind == "call"
            and not ins.inplace
            and isinstance(ins.fn, np.ufunc)
            and ins.name.count(".") == 1
            and ins.fn is not np.matmul
            and out in made
            and not ins.scalar
        ):
            continue
        for a in ins.inputs():
            root = storage(plan, a, base)
            if (
                _owned(plan, root, base, made)
                and root.value.shape == out.shape
                and root.value.dtype == out.dtype
                and a.value.shape == out.shape
                and last.get(root) == i
            ):
                plan.into[out] = root
                plan.names_into[out] = a
                last[root] = last.get(out, i)
                what = a.label or "(a temporary of the rule)"
                notes.append(f"{ins.name} ({ins.op} {ins.phase}) writes into its input {what}")
                break
    plan.removed["inplace"] = notes


# ---------------------------------------------------------------- tile

TILE = 256 << 10  # bytes of a tile's temporary: well inside a core's L2 cache


def _elementwise(ins: Instr) -> bool:
    return (
        ins.kind == "call"
        and isinstance(ins.fn, np.ufunc)
        and ins.name.count(".") == 1
        and ins.fn is not np.matmul
        and not ins.trap
        and not ins.kwargs
    )


def _tile_rows(rows: int, nbytes: int) -> int | None:
    """Rows per tile: a divisor of ``rows`` giving tiles of at most about TILE bytes."""
    want = -(-nbytes // TILE)  # tiles needed
    for count in range(want, min(rows, 4 * want) + 1):
        if rows % count == 0:
            return rows // count
    return None


def tile(plan: Plan) -> None:
    """Loop tiling of a large temporary between two elementwise calls (see the module docstring)."""
    instrs = plan.instrs
    base = _base(instrs)
    last = last_uses(plan)
    uses = _uses(instrs)
    outputs = {storage(plan, v, base) for v in plan.program.outputs()}
    notes = []
    i = 0
    while i + 1 < len(instrs):
        make, use = instrs[i], instrs[i + 1]
        tmp = make.out
        full = tmp.value.shape if tmp is not None else ()
        ok = (
            _elementwise(make)
            and _elementwise(use)
            and not make.inplace
            and tmp not in plan.into
            and storage(plan, tmp, base) is tmp
            and tmp not in outputs
            and tmp.value.ndim >= 1
            and tmp.value.nbytes >= LARGE  # (smaller ones: measured no faster, and slower at batch 16)
            and uses.get(tmp) == 1
            and last.get(tmp) == i + 1
            and any(a is tmp for a in use.args)
            and (use.inplace or use.out in plan.into)
            and use.out.value.shape == full
        )
        if ok:  # every array either call reads or writes: the full shape, or a 0-d constant
            operands = [a for a in (*make.args, *use.args, use.out) if isinstance(a, (Var, np.ndarray))]
            ok = all(np.shape(a.value if isinstance(a, Var) else a) in (full, ()) for a in operands)
        rows = _tile_rows(full[0], tmp.value.nbytes) if ok else None
        if rows is None or rows == full[0]:
            i += 1
            continue
        count = full[0] // rows
        tmp.value = np.empty((rows, *full[1:]), tmp.value.dtype)  # the temporary is one tile now
        plan.tiles[i] = (rows, full[0])
        notes.append(
            f"{make.name} -> {use.name} ({make.op} {make.phase}): {list(full)} in {count} tiles of {rows} rows, "
            f"a temporary of {tmp.value.nbytes} bytes instead of {tmp.value.nbytes * count}"
        )
        i += 2
    plan.removed["tile"] = notes


# ---------------------------------------------------------------- buffers

_REDUCE_METHODS = ("sum", "max", "min")
# Values of at least this many bytes are not kept in buffers between calls: numpy allocates
# them and the generated code deletes them after their last use, so a large network's step
# holds no more than the eager one (allocating a large array costs little beside the
# products that fill it; for small ones the allocation is what costs).
LARGE = 1 << 20
GROW = True


def _plannable(ins: Instr) -> bool:
    if ins.out is None or ins.inplace or ins.views or ins.out.value.ndim == 0:
        return False  # (a 0-d value costs nothing to make; the guards read theirs inline)
    if ins.kind == "call" and isinstance(ins.fn, np.ufunc):
        return ins.name.count(".") == 1 or ins.name.endswith(".reduce")
    return ins.kind == "method" and ins.name in _REDUCE_METHODS


def buffers(plan: Plan) -> None:
    """Buffer planning (as XLA's buffer assignment): each new array of a ufunc, matmul or
    reduction goes into a preallocated buffer with ``out=``. Buffers are flat bytes; a value
    takes the smallest free buffer that holds it (growing one if none does), as a view of
    its shape, and frees it after its last use, so values of different shapes share memory.
    Values that leave the step (the gradients in ``.grad``, what it returns, new optimizer
    state) are new arrays at every call, as in the eager step: a ``.grad`` kept from one call
    is never overwritten by the next."""
    instrs = plan.instrs
    base = _base(instrs)
    last = last_uses(plan)
    outputs = {storage(plan, v, base) for v in plan.program.outputs()}
    sizes: list[int] = []  # bytes of each flat buffer
    owner: dict = {}  # Var -> flat buffer index
    free: list[int] = []
    dying: dict = {}  # instruction index -> buffers freed after it
    for i, ins in enumerate(instrs):
        out = ins.out
        if (
            _plannable(ins)
            and storage(plan, out, base) is out
            and out not in outputs
            and out.value.nbytes < LARGE
        ):
            need = out.value.nbytes
            fits = [k for k in free if sizes[k] >= need]
            if fits:  # the smallest free buffer that holds it
                k = min(fits, key=lambda j: sizes[j])
                free.remove(k)
            elif free and GROW:  # else the largest free one, grown
                k = max(free, key=lambda j: sizes[j])
                free.remove(k)
                sizes[k] = need
            else:
                k = len(sizes)
                sizes.append(need)
            owner[out] = k
            dying.setdefault(last.get(out, i), []).append(k)
        free.extend(dying.pop(i, []))
    for v, k in owner.items():
        shape, dtype = v.value.shape, v.value.dtype
        name = f"B{k}_" + ("x".join(map(str, shape)) or "0d") + f"_{dtype.name}"
        plan.arrays.setdefault(name, (k, shape, dtype))
        plan.buffers[v] = name
    plan.sizes = sizes
    plan.removed["buffers"] = [
        f"{len(owner)} arrays written with out= into {len(sizes)} buffers ({sum(sizes)} bytes)"
    ]


# ---------------------------------------------------------------- measuring


def measure(plan: Plan) -> dict:
    """Numpy calls, arrays allocated per call (and bytes), preallocated buffers (and
    bytes: the optimizer's scratch arrays count while the step uses them), and the peak
    bytes alive during a call (buffers included, parameters and arguments not)."""
    instrs = plan.instrs
    base = _base(instrs)
    last = last_uses(plan)
    calls = sum(1 for ins in instrs if ins.kind not in ("guard", "python"))
    calls -= sum(len(g.members) - 1 for g in plan.fused.values())  # a kernel is one call
    alloc, alloc_bytes, live, peak = 0, 0, 0, 0
    buffer_bytes = sum(plan.sizes)
    # the optimizer's own scratch arrays, while the step still uses them, are its memory too
    buffer_bytes += sum(
        v.value.nbytes for v in plan.program.private if any(r[0] is v for r in plan.program.reads)
    )
    frees: dict = {}
    # values a fused kernel keeps in registers are never arrays
    registers = {
        instrs[i].out for g in plan.fused.values() for i in g.members if instrs[i].out not in g.stored
    }
    for i, ins in enumerate(instrs):
        out = ins.out
        if (
            out is not None
            and out not in registers
            and not ins.inplace
            and storage(plan, out, base) is out
            and out not in plan.buffers
        ):
            alloc += 1
            alloc_bytes += out.value.nbytes
            live += out.value.nbytes
            frees.setdefault(last.get(out, i), []).append(out.value.nbytes)
        peak = max(peak, live)
        live -= sum(frees.pop(i, []))
    return {
        "calls": calls,
        "allocations": alloc,
        "allocated_bytes": alloc_bytes,
        "buffers": sum(1 for n in plan.sizes if n),
        "buffer_bytes": buffer_bytes,
        "peak_bytes": buffer_bytes + peak,
    }


PASS_FUNCTIONS = {
    "dce": dce,
    "fold": fold,
    "simplify": simplify,
    "optimizer": optimizer,
    "inplace": inplace,
    "tile": tile,
    "buffers": buffers,
}


def _fuse(plan: Plan) -> None:
    from .fuse import fuse

    fuse(plan)


PASS_FUNCTIONS["fuse"] = _fuse
