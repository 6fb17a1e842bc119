"""Generating the compiled step: straight-line Python, one line per numpy call.

The source reads like a hand-fused step: it reads the state it needs (parameters, the
optimizer's state) at every call, checks that the call fits what was compiled (guards),
makes the numpy calls in order, each commented with the engine op and the value it
computes, writes the gradients and the optimizer's counters back and returns.
"""

from __future__ import annotations

import re

import numpy as np

from .passes import Plan, storage
from .trace import Var


class GuardFailed(Exception):
    """The call does not fit the compiled program (raised before anything is written)."""


def _ident(label: str) -> str:
    name = re.sub(r"\W+", "_", label).strip("_") or "t"
    return name if not name[0].isdigit() else "t" + name


def generate(plan: Plan, title: str = "step") -> tuple[str, dict]:
    """The source of the compiled step and the namespace it runs in."""
    program = plan.program
    env: dict = {"np": np, "array": np.array, "asarray": np.asarray, "GuardFailed": GuardFailed}
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
            seen.append([v.value, v.value.shape, v.value.dtype])
            lines.append(
                f"    if {name(v)} is not _seen[{len(seen) - 1}][0]: _admit({len(seen) - 1}, {name(v)})"
            )
    for check in program.checks:
        lines.append(f"    if {check}: raise GuardFailed")
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
    for i, ins in enumerate(plan.instrs):
        if ins.out is not None and ins.out in inline:
            exprs[ins.out] = _expression(ins, render_inline, function)
            continue
        lines.append(_line(ins, plan, name, render_inline, function))
        if i in frees:  # large values dead from here: let numpy's memory go now, as eager does
            lines.append(f"    del {', '.join(dict.fromkeys(name(v) for v in frees[i]))}")
    for slot, v in program.writes:
        if isinstance(v, Var):
            value = name(v)
        elif v is None:
            value = "None"
        else:
            value = f"{render(v[1])}.copy()"
        lines.append(f"    {slot.code} = {value}")
    lines.append(f"    return ({''.join(name(v) + ', ' for v in program.result_vars)})")
    program.names = names
    return "\n".join(lines) + "\n", env


def program_code(v, program) -> str:
    """How the step reads ``v`` at every call."""
    return next(code for w, code, _ in program.reads if w is v)


def _admitter(seen: list):
    def admit(i: int, array) -> None:
        """A new array in a state slot: used if it has the compiled shape and dtype."""
        _, shape, dtype = seen[i]
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
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


def _line(ins, plan: Plan, name, render, function) -> str:
    out = ins.out
    if ins.kind == "guard":
        test = render(ins.args[0])
        test = f"not {test}" if ins.kwargs["expect"] else test
        return f"    if {test}: raise GuardFailed  # {ins.op} {ins.phase}: the branch the rule took when recorded"
    if ins.kind == "python":
        left, right = (render(a) for a in ins.args)
        return f"    {name(out)} = {left} {ins.name} {right}  # {ins.op} {ins.phase}: Python numbers"
    if ins.kind == "setitem":
        a, index, value = ins.args
        return f"    {render(a)}[{render(index)[1:-1] if isinstance(index, tuple) else render(index)}] = {render(value)}{_comment(ins)}"
    target = None
    if out is not None and not ins.inplace:
        into = plan.into.get(out)
        if into is not None:
            target = name(storage(plan, into))
        elif out in plan.buffers:
            target = plan.buffers[out]
    elif ins.inplace:
        target = name(out)
    args = [render(a) for a in ins.args]
    kwargs = [f"{k}={render(v)}" for k, v in ins.kwargs.items()]
    if target is not None and not ins.name.endswith(".at"):  # (ufunc.at writes its first argument)
        kwargs.append(f"out={target}")
    if ins.kind == "call":
        call = f"{function(ins)}({', '.join(args + kwargs)})"
    elif ins.kind == "method":
        call = f"{args[0]}.{ins.name}({', '.join(args[1:] + kwargs)})"
    else:  # getitem
        index = ins.args[1]
        call = f"{args[0]}[{render(index)[1:-1] if isinstance(index, tuple) else args[1]}]"
    if ins.scalar and target is None:
        call = f"asarray({call})"
    if ins.inplace:
        return f"    {call}{_comment(ins)}"
    return f"    {name(out)} = {call}{_comment(ins)}"
