"""Generating the compiled step: straight-line Python, one line per numpy call.

The source reads like a hand-fused step: it reads the state it needs (parameters, the
optimizer's state) at every call, checks that the call fits what was compiled (guards),
makes the numpy calls in order, each commented with the engine op and the value it
computes, writes the gradients and the optimizer's counters back and returns.
"""

from __future__ import annotations

import re

import numpy as np

from .. import _fpe
from ..tensor import _tensor_of
from .capture import rebuild as _rebuild
from .passes import Plan, _base, _effect, storage
from .trace import Var


class GuardFailed(_fpe.Tripped):
    """The call does not fit the compiled program (raised before anything is written). A
    trapped call that met its exception (:class:`tinygrad_mlp._fpe.Tripped`) is one too."""


def _ident(label: str) -> str:
    name = re.sub(r"\W+", "_", label).strip("_") or "t"
    return name if not name[0].isdigit() else "t" + name


def generate(plan: Plan, title: str = "step", signature: tuple | None = None) -> tuple[str, dict]:
    """The source of the compiled step and the namespace it runs in. With the call's
    ``signature`` (all plain arrays), the step checks its arguments' shapes and dtypes itself,
    so a call can go straight to it; it returns what the step returns (Tensors rebuilt)."""
    program = plan.program
    env: dict = {
        "np": np,
        "array": np.array,
        "asarray": np.asarray,
        "GuardFailed": GuardFailed,
        "_set": getattr(_fpe.STATE, "set", None),
        "_reset": getattr(_fpe.STATE, "reset", None),
        "_raising": _fpe.raising,
        "LateGuardError": LateGuardError,
        "clean": _fpe.clean,
    }
    env.update(program.objects)
    env.update(program.constants)
    names: dict = {}
    taken: set = set(env)

    def name(v: Var) -> str:
        if v not in names:
            base = _ident(v.label) if v.label else "t"
            cand, k = base, 1
            while cand in taken:
                k += 1
                cand = f"{base}_{k}"
            taken.add(cand)
            names[v] = cand
        return names[v]

    n_const = [0]

    def constant(value) -> str:
        n_const[0] += 1
        key = f"C{n_const[0]}"
        env[key] = value
        return key

    def render(obj) -> str:
        if isinstance(obj, Var):
            return name(obj)
        if isinstance(obj, tuple):
            inner = ", ".join(render(x) for x in obj)
            return f"({inner},)" if len(obj) == 1 else f"({inner})"
        if isinstance(obj, list):
            return "[" + ", ".join(render(x) for x in obj) + "]"
        if isinstance(obj, slice):
            return f"slice({render(obj.start)}, {render(obj.stop)}, {render(obj.step)})"
        if obj is None or isinstance(obj, (bool, int, str)) or obj is Ellipsis:
            return repr(obj)
        if isinstance(obj, float):
            return repr(obj) if np.isfinite(obj) else constant(obj)
        if isinstance(obj, np.generic) and obj.dtype.kind in "fiub":
            return f"np.{obj.dtype.name}({obj.item()!r})" if np.isfinite(obj) else constant(obj)
        if isinstance(obj, np.dtype):
            return f"np.{obj.name}" if hasattr(np, obj.name) else constant(obj)
        if isinstance(obj, type) and issubclass(obj, np.generic):
            return f"np.{obj.__name__}"
        if isinstance(obj, np.ndarray) and obj.ndim == 0 and obj.dtype.kind == "f" and np.isfinite(obj):
            # a 0-d constant (simplify's typed scalars), named by its dtype and value: f32_0_5
            text = str(obj[()]).replace("e-", "e_m").replace("-", "neg").replace(".", "_")  # 1e-08: 1e_m08
            key = f"{obj.dtype.kind}{obj.dtype.itemsize * 8}_{text}"
            key = re.sub(r"\W", "_", key)
            if key not in env or (isinstance(env[key], np.ndarray) and env[key].tobytes() == obj.tobytes()):
                env[key] = obj
                return key
        return constant(obj)

    def function(ins) -> str:
        fn = ins.fn
        if isinstance(fn, np.ufunc):
            return f"np.{fn.__name__}"
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, np.ufunc):
            return f"np.{owner.__name__}.{fn.__name__}"
        if getattr(np, getattr(fn, "__name__", ""), None) is fn:
            return f"np.{fn.__name__}"
        return constant(fn)

    lines = [f"def {title}(args):"]
    for v, _, _ in program.reads:
        lines.append(f"    {name(v)} = {program_code(v, program)}")
    seen: list = []
    env["_seen"], env["_admit"] = seen, _admitter(seen)
    for v, _, slot in program.reads:
        if slot is not None and not slot.lifted:
            # the same array as last call: nothing to check; another one: its shape and dtype
            seen.append([v.value, v.value.shape, v.value.dtype, v.value.flags.c_contiguous])
            lines.append(
                f"    if {name(v)} is not _seen[{len(seen) - 1}][0]: _admit({len(seen) - 1}, {name(v)})"
            )
    if signature is not None:  # the arguments: as many, of the compiled shapes and dtypes
        by_code = {code: v for v, code, _ in program.reads}
        lines.append(f"    if len(args) != {len(signature)}: raise GuardFailed")
        for i, (shape, dtype) in enumerate(signature):
            env[f"_S{i}"], env[f"_D{i}"] = shape, dtype
            arg = name(by_code[f"args[{i}]"]) if f"args[{i}]" in by_code else f"args[{i}]"
            lines.append(
                f"    if type({arg}) is not _ndarray or {arg}.shape != _S{i} or {arg}.dtype != _D{i}: raise GuardFailed"
            )
        env["_ndarray"] = np.ndarray
    for check in program.checks:
        lines.append(f"    if {check}: raise GuardFailed")
    if _fpe.STATE is not None:
        for kind in dict.fromkeys(ins.trap for ins in plan.instrs if ins.trap and ins.clean):
            lines.append(
                f"    _{kind} = _raising({kind!r})  # numpy's error state with {kind} raising, for the traps"
            )
    base = {}
    for ins in plan.instrs:
        if ins.out is not None and not ins.inplace and ins.views:
            base[ins.out] = ins.views[0]
    read = {id(slot) for _, _, slot in program.reads if slot is not None}
    for slot, v in program.writes:
        if isinstance(v, Var) and slot.attr == "grad" and id(slot) not in read:
            # the step replaces this .grad without reading it (zero_grad): let the old array go
            # now, as the eager step's zero_grad does, not after the new one is made
            lines.append(f"    {slot.code} = None")
    inline = _inlined(plan)
    exprs: dict = {}

    def render_inline(obj) -> str:
        if isinstance(obj, Var) and obj in exprs:
            return exprs[obj]
        if isinstance(obj, tuple) and any(isinstance(x, Var) and x in exprs for x in obj):
            inner = ", ".join(render_inline(x) for x in obj)
            return f"({inner},)" if len(obj) == 1 else f"({inner})"
        return render(obj)

    frees = _frees(plan, inline)
    written = _first_write(plan)
    plan.view_of = _base(plan.instrs)  # (an in-place target named as its input unless a view)
    # Python names bound so far, and a bound name of each memory (for the fused kernels' arrays)
    bound: set = {name(v) for v, _, _ in program.reads}
    memory: dict = {v: name(v) for v, _, _ in program.reads}
    member = {i: start for start, g in plan.fused.items() for i in g.members}
    if plan.fused:
        from . import cc, fuse

        env["_kernel"], env["_report"], env["_empty"] = cc.runtime().run, fuse.report, np.empty
    for i, ins in enumerate(plan.instrs):
        if ins.out is not None and ins.out in inline:
            exprs[ins.out] = _expression(ins, render_inline, function)
            continue
        if i in member:  # a fused kernel: emitted at its first instruction
            group = plan.fused[member[i]]
            if i == group.members[0]:
                late = _late_key(ins, plan.instrs[written], env) if group.trap and i > written else None
                lines.extend(_fused(group, plan, name, render_inline, function, env, memory, bound, late))
            if i == group.members[-1]:  # large values dead within it: let them go after it
                gone = [name(v) for k in group.members for v in frees.get(k, ())]
                gone = [n for n in dict.fromkeys(gone) if n in bound]
                if gone:
                    lines.append(f"    del {', '.join(gone)}")
                    bound.difference_update(gone)
            continue
        if i in plan.tiles or i - 1 in plan.tiles:  # loop tiling (passes.tile): a loop of two calls
            lines.extend(_tiled(plan, i, name, render_inline, function))
            continue
        # a guard after the step has written the user's arrays: the call cannot go back to the
        # eager step (it would update them twice), so a failing guard is an error
        late = (
            _late_key(ins, plan.instrs[written], env)
            if i > written and (ins.kind == "guard" or ins.trap)
            else None
        )
        lines.append(_line(ins, plan, name, render_inline, function, late))
        if ins.out is not None and not ins.inplace and ins.kind != "guard":
            bound.add(name(ins.out))
            if ins.out not in plan.view_of:
                memory.setdefault(storage(plan, ins.out), name(ins.out))
        if i in frees:  # large values dead from here: let numpy's memory go now, as eager does
            gone = [n for n in dict.fromkeys(name(v) for v in frees[i]) if n in bound]
            if gone:
                lines.append(f"    del {', '.join(gone)}")
                bound.difference_update(gone)
    for slot, v in program.writes:
        if isinstance(v, Var):
            value = name(v)
        elif v is None:
            value = "None"
        else:
            value = f"{render(v[1])}.copy()"
        lines.append(f"    {slot.code} = {value}")
    arrays = f"({''.join(name(v) + ', ' for v in program.result_vars)})"
    if program.results == ("tensor", 0) and len(program.result_vars) == 1:  # the usual: one loss
        env["_tensor_of"] = _tensor_of
        lines.append(
            f"    return _tensor_of(array({name(program.result_vars[0])}))  # (a copy: the caller keeps it)"
        )
    else:
        env["_rebuild"], env["_structure"] = _rebuild, program.results
        lines.append(f"    return _rebuild(_structure, {arrays})")
    program.names = names
    return "\n".join(lines) + "\n", env


def _fused(group, plan: Plan, name, render, function, env: dict, memory: dict, bound: set, late) -> list[str]:
    """A fused kernel's lines: the numpy calls it replaces (as comments), new arrays for the
    values it makes that leave the step, the call, and the names of the values it stored."""
    instrs = plan.instrs
    lines = [
        f"    # {group.name}: the next {len(group.members)} calls run as one C function (fuse; its C is step.kernels):"
    ]
    for i in group.members:
        lines.append("    #   " + _line(instrs[i], plan, name, render, function).strip())
        plan.kernel_notes[f"i{i}"] = _kernel_note(instrs[i], name, render)
    arrays, binds = [], []
    for root in group.slots:
        if root in plan.buffers:
            expr = plan.buffers[root]
        elif root in memory:
            expr = memory[root]
        else:  # a value made here that leaves the step (a gradient): a new array at every call
            expr = name(root)
            key = f"_shape_{group.name}_{len(arrays)}"
            env[key] = root.value.shape
            lines.append(
                f"    {expr} = _empty({key}, np.{root.value.dtype.name})  # {root.label or 'a value'}: a new array (it leaves the step)"
            )
            bound.add(expr)
            memory[root] = expr
        if name(root) != expr and name(root) not in bound:  # (a later line may name the memory so)
            binds.append(f"    {name(root)} = {expr}")
            bound.add(name(root))
        arrays.append(expr)
        plan.kernel_notes[f"s{group.name}_{len(arrays) - 1}"] = f"{expr} {list(root.value.shape)}"
    env[f"_{group.name}"], env[f"_{group.name}_spec"] = group.address, group.spec  # (its address: once built)
    ops = ", ".join(dict.fromkeys(instrs[i].name.removeprefix("np.") for i in group.members))
    env[f"_{group.name}_what"] = f"{group.name} (fused {ops})"
    tail = f", {late}" if late else ""
    lines.append(
        f"    if (_e := _kernel(_{group.name}, _{group.name}_spec, {', '.join(arrays)})): "
        f"_report(_e, _{group.name}_what{tail})"
    )
    lines += binds
    named = {line.split(" = ")[0].strip() for line in binds}
    for i in group.members:  # names for the values read after the kernel
        v = instrs[i].out
        if v in group.stored and not instrs[i].inplace and name(v) not in named:
            root = storage(plan, v)
            expr = plan.buffers.get(root) or memory.get(root)
            if expr is None:  # (every stored value's memory is a kernel argument)
                raise RuntimeError(f"jit: internal error: no array for the fused value {name(v)}")
            if name(v) != expr:
                lines.append(f"    {name(v)} = {expr}")
            bound.add(name(v))
            memory.setdefault(root, name(v))
    return lines


_SYMBOLS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/"}


def _kernel_note(ins, name, render) -> str:
    """A fused call as the C kernel's comment: the value it computes, in the step's names."""
    args = [render(a) for a in ins.args]
    if ins.fn in _SYMBOLS:
        expr = f"{args[0]} {_SYMBOLS[ins.fn]} {args[1]}"
    elif ins.fn is np.negative:
        expr = f"-{args[0]}"
    elif ins.fn is np.reciprocal:
        expr = f"1 / {args[0]}"
    elif ins.fn is np.square:
        expr = f"{args[0]} ** 2"
    else:  # np.add.reduce(x, axis=0)
        expr = f"{args[0]}.sum(axis=0)"
    where = f"{ins.op} {ins.phase}".strip()
    trap = ", trapped: inf * 0" if ins.trap else ""
    return f"{name(ins.out)} = {expr}  ({where}{trap})"


def _first_write(plan: Plan) -> int:
    """Index of the first instruction writing the user's arrays (parameters, the optimizer's
    state) in place; past the end if none does."""
    base, external = _base(plan.instrs), plan.program.external()
    for i, ins in enumerate(plan.instrs):
        if ins.kind != "guard" and not ins.trap and _effect(plan, ins, base, external):
            return i
    return len(plan.instrs)


class LateGuardError(RuntimeError):
    """A guard failed after the compiled step had updated the user's arrays."""


def _late_key(ins, first, env: dict) -> str:
    """The name, in the step's namespace, of the message a guard or trap past the first write
    raises (LateGuardError) when it fails, naming both."""
    where = f"{ins.op} {ins.phase}".strip() or "a guard"
    key = f"_late{sum(1 for k in env if k.startswith('_late') and k[5:].isdigit())}"
    env[key] = (
        f"jit: the rule's branch at '{where}' differs from the recorded one, but the compiled step "
        f"had already updated state in place ({first.op} {first.phase}: {first.name}), so it cannot "
        f"go back to the eager step: this call's updates stay, its results and .grad are lost. Call "
        f"the step without jit, or update the state after the last forward and backward "
        f"(from tinygrad_mlp.jit import LateGuardError)"
    )
    env.setdefault("_late_trap", _late_trap)
    return key


def _tiled(plan: Plan, i: int, name, render, function) -> list[str]:
    """The two calls of a tiled pair, in a loop over tiles of rows (only the first emits)."""
    if i not in plan.tiles:
        return []
    rows, total = plan.tiles[i]
    tmp = plan.instrs[i].out
    full = (total, *tmp.value.shape[1:])

    def sliced(v) -> str:
        return f"{name(v)}[_r : _r + {rows}]"

    def name_tiled(v):
        return sliced(v) if isinstance(v, Var) and v is not tmp and v.value.shape == full else name(v)

    def render_tiled(obj):
        return name_tiled(obj) if isinstance(obj, Var) else render(obj)

    head = (
        f"    for _r in range(0, {total}, {rows}):  # loop tiling: {total // rows} tiles of {rows} rows, "
        f"so {name(tmp)} is {list(tmp.value.shape)}, not {list(full)}"
    )
    body = [_line(plan.instrs[k], plan, name_tiled, render_tiled, function) for k in (i, i + 1)]
    return [head] + ["    " + line for line in body]


class _late_trap:
    """A trap past the first write: its floating-point error becomes LateGuardError."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message

    def __enter__(self):
        self.token = _fpe.STATE.set(_fpe.raising(self.kind))

    def __exit__(self, kind, value, traceback):
        _fpe.STATE.reset(self.token)
        if kind is not None and issubclass(kind, FloatingPointError):
            raise LateGuardError(self.message) from None
        return False


def program_code(v, program) -> str:
    """How the step reads ``v`` at every call."""
    return next(code for w, code, _ in program.reads if w is v)


def _admitter(seen: list):
    def admit(i: int, array) -> None:
        """A new array in a state slot: used if it has the compiled shape and dtype, and is
        C-contiguous where the recorded one was (a fused kernel reads it as one block)."""
        _, shape, dtype, contiguous = seen[i]
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
            raise GuardFailed
        if contiguous and not array.flags.c_contiguous:
            raise GuardFailed
        seen[i][0] = array

    return admit


_OPERATORS = {np.greater: ">", np.less: "<", np.greater_equal: ">=", np.less_equal: "<=", np.equal: "=="}


def _inlined(plan: Plan) -> set:
    """0-d values made only to be tested by a guard (a rule's ``min(a) > limit``): written
    inside the guard's condition, with Python's operators on numpy scalars."""
    uses: dict = {}
    for ins in plan.instrs:
        for v in ins.inputs():
            uses[v] = uses.get(v, 0) + 1
    outputs = set(plan.program.outputs())
    inline: set = set()
    made = {ins.out: k for k, ins in enumerate(plan.instrs) if ins.out is not None and not ins.inplace}
    for u in range(len(plan.instrs) - 1, -1, -1):
        ins = plan.instrs[u]
        targets = [ins.args[0]] if ins.kind == "guard" else ins.inputs() if ins.out in inline else []
        for v in targets:
            m = made.get(v)
            if (
                m == u - 1  # made just before: written in place of its use, it reads the same values
                and uses.get(v) == 1
                and v not in outputs
                and v.value.ndim == 0
                and plan.instrs[m].kind in ("call", "method")
                and v not in plan.buffers
            ):
                inline.add(v)
    return inline


def _expression(ins, render, function) -> str:
    args = [render(a) for a in ins.args]
    if ins.kind == "call" and ins.fn in _OPERATORS and len(args) == 2 and not ins.kwargs:
        return f"({args[0]} {_OPERATORS[ins.fn]} {args[1]})"
    kwargs = [f"{k}={render(v)}" for k, v in ins.kwargs.items()]
    if ins.kind == "method":
        return f"{args[0]}.{ins.name}({', '.join(args[1:] + kwargs)})"
    return f"{function(ins)}({', '.join(args + kwargs)})"


def _frees(plan: Plan, inline: set) -> dict:
    """Instruction index -> the locals to delete after it: the names of large values (at
    least ``passes.LARGE`` bytes, which buffer planning leaves to numpy) whose memory no
    later instruction uses. A local would otherwise keep its array alive to the end."""
    from .passes import LARGE, _base, last_uses

    base = _base(plan.instrs)
    last = last_uses(plan)
    end = len(plan.instrs)
    names: dict = {}  # storage -> Vars bound to a local name
    for ins in plan.instrs:
        v = ins.out
        if v is not None and not ins.inplace and v not in inline:
            names.setdefault(storage(plan, v, base), []).append(v)
    frees: dict = {}
    for root, vs in names.items():
        at = last.get(root, end)
        # a value read inside an inlined guard condition is read where the guard is written
        while at < end and plan.instrs[at].out is not None and plan.instrs[at].out in inline:
            at += 1
        if at < end and root.value.nbytes >= LARGE:
            frees.setdefault(at, []).extend(vs)
    return frees


def _comment(ins) -> str:
    where = f"{ins.op} {ins.phase}".strip() if ins.op else (ins.line.split(": ", 1)[-1] if ins.line else "")
    what = f" -> {ins.out.label} {list(ins.out.value.shape)}" if ins.out is not None and ins.out.label else ""
    return f"  # {where}{what}" if where or what else ""


def _line(ins, plan: Plan, name, render, function, late: str | None = None) -> str:
    """One instruction as a line of source. ``late``: the key of the LateGuardError message a
    failing guard or trap raises instead (it comes after the step wrote the user's arrays)."""
    out = ins.out
    views = plan.view_of
    fail = f"raise LateGuardError({late})" if late else "raise GuardFailed"
    if ins.kind == "guard":
        test = render(ins.args[0])
        test = f"not {test}" if ins.kwargs["expect"] else test
        return f"    if {test}: {fail}  # {ins.op} {ins.phase}: the branch the rule took when recorded"
    if ins.kind == "python":
        left, right = (render(a) for a in ins.args)
        return f"    {name(out)} = {left} {ins.name} {right}  # {ins.op} {ins.phase}: Python numbers"
    if ins.kind == "setitem":
        a, index, value = ins.args
        return f"    {render(a)}[{render(index)[1:-1] if isinstance(index, tuple) else render(index)}] = {render(value)}{_comment(ins)}"
    target = None
    if out is not None and not ins.inplace:
        into = plan.into.get(out)
        if into is not None:  # written into an input that dies here: named as that input
            named = plan.names_into.get(out)
            # (an input that is a view, as broadcast_to's read-only one: the memory it views)
            target = name(named if named is not None and named not in views else storage(plan, into))
        elif out in plan.buffers:
            target = plan.buffers[out]
    elif ins.inplace:
        target = name(out)
    args = [render(a) for a in ins.args]
    kwargs = [f"{k}={render(v)}" for k, v in ins.kwargs.items()]
    if target is not None and not ins.name.endswith(".at") and ins.name != "np.copyto":
        # (ufunc.at and np.copyto write their first argument)
        kwargs.append(f"out={target}")
    if ins.kind == "call":
        callee, arglist = function(ins), ", ".join(args + kwargs)
        call = f"{callee}({arglist})"
    elif ins.kind == "method":
        call = f"{args[0]}.{ins.name}({', '.join(args[1:] + kwargs)})"
    else:  # getitem
        index = ins.args[1]
        call = f"{args[0]}[{render(index)[1:-1] if isinstance(index, tuple) else args[1]}]"
    if ins.scalar and target is None:
        call = f"asarray({call})"
    if ins.trap:  # the rule's branch, kept as a trap on this call (tinygrad_mlp._fpe)
        what = {"over": "overflow", "invalid": "invalid operation"}.get(ins.trap, ins.trap)
        if not ins.clean:  # (a trapped call is always a "call": Var.trapped records one)
            return (
                f"    if clean({ins.trap!r}, {callee}, {arglist}): {fail}  # {ins.op} {ins.phase}: this "
                f"program is for calls where it meets {what} (as when recorded); a clean call fits another program"
            )
        assign = name(out) + " = " if not ins.inplace else ""
        comment = f"  # {ins.op} {ins.phase}: {what} raises (the rule took the branch without it)"
        if late:  # its floating-point error becomes LateGuardError
            return f"    with _late_trap({ins.trap!r}, {late}): {assign}{call}{comment}"
        if _fpe.STATE is None:  # pragma: no cover (numpy 1.x)
            return f"    with np.errstate({ins.trap}='raise'): {assign}{call}{comment}"
        return f"    _fp = _set(_{ins.trap}); {assign}{call}; _reset(_fp){comment}"
    symbol = _AUGMENTED.get(ins.fn) if ins.kind == "call" else None
    if (
        symbol
        and target is not None
        and len(args) == 2
        and not kwargs[:-1]
        and args[0] == target
        and "[" not in target
    ):
        # an in-place update as Python writes it (``a += b`` calls np.add(a, b, out=a), faster
        # than the call with out=, as the tight hand-written step does)
        update = f"{target} {symbol}= {args[1]}"
        if ins.inplace:
            return f"    {update}{_comment(ins)}"
        return f"    {name(out)} = {target}; {name(out)} {symbol}= {args[1]}{_comment(ins)}"
    if ins.inplace:
        return f"    {call}{_comment(ins)}"
    return f"    {name(out)} = {call}{_comment(ins)}"


_AUGMENTED = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/"}
