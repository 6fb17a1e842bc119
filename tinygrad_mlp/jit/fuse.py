"""The fusion pass: chains of elementwise numpy calls as one generated C loop each.

numpy makes one pass over memory per call, and each call costs about a microsecond before
it touches an element. After the other passes the compiled step of a sigmoid MLP is mostly
such calls between the matrix products: ``h += b; np.negative(h, out=h)``, the sigmoid's
``1 / (1 + e)``, its slope ``e * s * s * g`` with the bias gradient ``sum(axis=0)``, and
the update ``W -= lr * g`` of every parameter. As XLA's and PyTorch Inductor's code
generators do, this pass turns each run of consecutive elementwise calls into one C function
with one loop per shape: a value used only inside the loop stays in a register, a value read
later is stored where the numpy call would have written it (its planned buffer, its input
for an in-place call, a new array for a gradient), and ``np.add.reduce(x, axis=0)``
accumulates in the same loop.

The C computes exactly what numpy computes: the same IEEE operations in the same order
(``-ffp-contract=off``: no fused multiply-add; no fast-math), the bias gradient summed row
after row as numpy's reduction over the first axis does (a one-column sum, which numpy adds
pairwise, is left to numpy). ``exp`` and the other transcendental functions stay numpy calls
(numpy's vectorized ones are fast and a C library's differ in the last bit), so a float32
step stays bit for bit the eager step. The kernels report the floating-point exceptions
their operations raised, and the step reports them as numpy's error state asks (warn,
raise, ignore). A trap on a multiply (the sigmoid slope's ``inf * 0`` at ``a = -inf``) is
an explicit test in the loop.

What is fused: ``add``, ``subtract``, ``multiply``, ``true_divide``, ``negative``,
``reciprocal`` and ``square`` of float32 or float64 arrays of one dtype, each operand the
result's shape, a row broadcast along the last axis (a bias) or a single value, and
``np.add.reduce(x, axis=0)``. The step's own arguments are not read inside kernels (a call
may pass a non-contiguous array); nothing that is a numpy view is. A run of fewer than two
calls stays numpy. Where no C compiler works (cc.unavailable), the pass changes nothing and
says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import cc
from .passes import Plan, _base, storage
from .trace import Instr, Var

BINARY = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/"}
UNARY = {np.negative: "-{0}", np.reciprocal: "{1} / {0}", np.square: "{0} * {0}"}
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# the kernel's status bits (numpy's error kinds) and the trap bit
STATUS = (
    (1, "divide", "divide by zero"),
    (2, "over", "overflow"),
    (8, "invalid", "invalid value"),
    (4, "under", "underflow"),
)
TRAP = 16
MAX_ARRAYS = 256  # arrays one kernel call takes (_fuse_rt.c's MAX_ARRAYS)


@dataclass
class Group:
    """One kernel: the instruction indices it replaces (``members``, in order), its loops
    (lists of member indices of one shape), the memory it reads and writes (``slots``: the
    Var owning each array, in argument order; ``written``), the values it stores, and the
    C function (``name``; ``address`` once compiled)."""

    members: list[int]
    loops: list[list[int]] = field(default_factory=list)
    slots: list[Var] = field(default_factory=list)
    written: list[bool] = field(default_factory=list)
    stored: set = field(default_factory=set)  # Vars whose value leaves its loop
    stores: set = field(default_factory=set)  # member indices whose result is written to memory
    keys: dict = field(default_factory=dict)  # memory key -> slot index
    trap: bool = False
    name: str = ""
    address: int = 0
    spec: bytes = b""


def _reduce0(ins: Instr) -> bool:
    """``np.add.reduce(x, axis=0)`` of a 2-d x with at least two columns."""
    fn = ins.fn
    if getattr(fn, "__self__", None) is not np.add or getattr(fn, "__name__", "") != "reduce":
        return False
    args, kw = ins.args, dict(ins.kwargs)
    if len(args) == 2:
        kw["axis"] = args[1]
    elif len(args) != 1:
        return False
    if set(kw) - {"axis", "keepdims"} or kw.get("axis") not in (0, (0,)) or kw.get("keepdims", False):
        return False
    x = args[0]
    # (numpy adds a one-column sum pairwise, and an empty one is zeros: both left to numpy)
    return isinstance(x, Var) and x.value.ndim == 2 and x.value.shape[1] >= 2 and x.value.shape[0] >= 1


def _full(ins: Instr) -> tuple:
    """The shape of the loop an instruction belongs to."""
    return ins.args[0].value.shape if _reduce0(ins) else ins.out.value.shape


def _operand_index(shape: tuple, full: tuple) -> str | None:
    """How an operand is read in a loop over ``full``: every element ("k"), along the last
    axis ("j"), one value ("0"); None when none of these."""
    if shape == full:
        return "k"
    stripped = tuple(shape)
    while stripped and stripped[0] == 1:
        stripped = stripped[1:]
    if stripped == () or all(d == 1 for d in shape):
        return "0"
    if len(full) >= 2 and stripped == (full[-1],):
        return "j"
    return None


class _Fuser:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        instrs = plan.instrs
        self.base = _base(instrs)
        self.external = plan.program.external()
        self.args = {v for v, code, _ in plan.program.reads if code.startswith("args[")}
        self.buffer_index = {v: plan.arrays[name][0] for v, name in plan.buffers.items()}
        self.producer = {ins.out: ins for ins in instrs if ins.out is not None and not ins.inplace}
        self._contiguous: dict = {}

    def root(self, v: Var) -> Var:
        return storage(self.plan, v, self.base)

    def slot_key(self, v: Var):
        """A kernel argument: one array of one shape (two values of one flat buffer, in loops
        of different shapes, are two arguments; the conflict check keeps them apart)."""
        return (self.key(v), self.root(v).value.shape)

    def key(self, v: Var):
        """What identifies a Var's memory: its flat buffer, else its owning Var."""
        r = self.root(v)
        return ("buffer", self.buffer_index[r]) if r in self.buffer_index else ("var", id(r))

    def contiguous(self, v: Var) -> bool:
        """Is the array ``v`` lives in C-contiguous at every call? A planned buffer is; the
        user's arrays are checked on entry (as recorded); a matmul's or a sum's new array is;
        an elementwise call's new array is where its inputs are (numpy keeps their layout, so
        an array made from a Fortran-ordered one is Fortran-ordered); anything else is not
        known to be."""
        r = self.root(v)
        if r in self._contiguous:
            return self._contiguous[r]
        self._contiguous[r] = False  # (while deciding)
        ins = self.producer.get(r)
        if r in self.buffer_index:
            ok = True
        elif r in self.external:
            ok = r not in self.args and r.value.flags.c_contiguous
        elif ins is None or ins.kind != "call":
            ok = False
        elif ins.fn is np.matmul or _reduce0(ins):
            ok = True
        elif ins.fn in BINARY or ins.fn in UNARY:
            ok = all(self.contiguous(a) for a in ins.args if isinstance(a, Var))
        else:
            ok = False
        self._contiguous[r] = ok
        return ok

    def fusible(self, i: int) -> bool:
        plan, ins = self.plan, self.plan.instrs[i]
        if i in plan.tiles or i - 1 in plan.tiles or ins.kind != "call" or ins.scalar or ins.out is None:
            return False
        if ins.trap and not (ins.trap == "invalid" and ins.clean and ins.fn is np.multiply):
            return False
        out = ins.out
        dtype = out.value.dtype
        if dtype not in _CTYPE or out in self.base:
            return False
        if _reduce0(ins):
            operands = [ins.args[0]]
            if out.value.shape != (ins.args[0].value.shape[1],) or ins.inplace:
                return False
        elif ins.fn in BINARY or ins.fn in UNARY:
            operands = list(ins.args)
            if ins.kwargs or len(operands) != (2 if ins.fn in BINARY else 1):
                return False
        else:
            return False
        full = _full(ins)
        for a in operands:
            if isinstance(a, Var):
                if (
                    a.weak  # (a Python number the tracer follows: not an array at run time)
                    or a.value.dtype != dtype
                    or a in self.base
                    or self.root(a) in self.args
                    or _operand_index(a.value.shape, full) is None
                    or self.root(a).value.shape != a.value.shape
                    or not self.contiguous(a)
                ):
                    return False
            elif isinstance(a, np.ndarray):
                if a.dtype != dtype or a.size != 1 or not np.isfinite(a).all():
                    return False
            elif (
                isinstance(a, (bool, np.generic))
                or not isinstance(a, (int, float))
                or not np.isfinite(dtype.type(a))
            ):
                return False
        r = self.root(out)
        if r is out:  # a new array: numpy's would follow its inputs' layout, the kernel's is C
            return True
        return r.value.shape == out.value.shape and self.contiguous(r) and r.value.flags.writeable

    def runs(self) -> list[list[int]]:
        """Runs of consecutive fusible instructions of one dtype, cut where one reads a sum
        made earlier in the run, and between a trap and a write of the user's arrays (either
        way round: a trap that fails must come before anything the call wrote, or after all
        of it, as numpy's calls had it)."""
        instrs = self.plan.instrs
        found: list[list[int]] = []
        current: list[int] | None = None
        reduced: set = set()  # sums the run makes (complete only at the end of their loop)
        trapped = wrote = False
        dtype = None
        for i, ins in enumerate(instrs):
            if not self.fusible(i):
                current = None
                continue
            effect = self.root(ins.out) in self.external
            if (
                current is None
                or ins.out.value.dtype != dtype
                or (trapped and effect)
                or (wrote and ins.trap)
                or any(a in reduced for a in ins.inputs())
            ):
                current, reduced, trapped, wrote = [], set(), False, False
                dtype = ins.out.value.dtype
                found.append(current)
            current.append(i)
            trapped = trapped or bool(ins.trap)
            wrote = wrote or effect
            if _reduce0(ins):
                reduced.add(ins.out)
        return found

    def groups(self) -> list[Group]:
        """The kernels: each run, split where a loop would touch one memory in two ways (a
        bias read at every row from the buffer a stored value of that loop is written into)."""
        done: list[Group] = []
        todo = [r for r in self.runs() if len(r) >= 2]
        while todo:
            members = todo.pop(0)
            g = Group(members=members, trap=any(self.plan.instrs[i].trap for i in members))
            self.plan_group(g)
            cut = self.conflict(g)
            if cut is None and len(g.slots) <= MAX_ARRAYS:
                done.append(g)
                continue
            if cut is None:  # too many arrays for one call: two kernels
                cut = members[len(members) // 2]
            at = members.index(cut)
            parts = (members[1:],) if at == 0 else (members[:at], members[at:])
            todo[:0] = [m for m in parts if len(m) >= 2]
        return done

    def conflict(self, g: Group) -> int | None:
        """The first member whose memory access differs from an earlier one's in its loop (a
        key read or written with another shape or index), or None."""
        instrs = self.plan.instrs
        for loop in g.loops:
            full = _full(instrs[loop[0]])
            seen: dict = {}
            inside: set = set()
            for i in loop:
                ins = instrs[i]
                touched = [
                    (self.key(a), a.value.shape, _operand_index(a.value.shape, full))
                    for a in ins.inputs()
                    if a not in inside
                ]
                if _reduce0(ins):
                    touched.append((self.key(ins.out), ins.out.value.shape, "sum"))
                elif i in g.stores:
                    touched.append((self.key(ins.out), ins.out.value.shape, "k"))
                for key, shape, how in touched:
                    if seen.setdefault(key, (shape, how)) != (shape, how):
                        return i
                inside.add(ins.out)
        return None

    def plan_group(self, g: Group) -> None:
        """Its loops, the values it stores and the memory it touches."""
        instrs = self.plan.instrs
        for i in g.members:
            if g.loops and _full(instrs[g.loops[-1][-1]]) == _full(instrs[i]):
                g.loops[-1].append(i)
            else:
                g.loops.append([i])
        loop_of = {i: n for n, loop in enumerate(g.loops) for i in loop}
        outputs = set(self.plan.program.outputs())
        readers: dict = {}
        for j, ins in enumerate(instrs):
            for a in ins.inputs():
                readers.setdefault(a, []).append(j)
        for i in g.members:
            v = instrs[i].out
            later = [j for j in readers.get(v, []) if j > i and loop_of.get(j) != loop_of[i]]
            if later or v in outputs or self.root(v) in self.external or _reduce0(instrs[i]):
                g.stored.add(v)
        for loop in g.loops:  # an in-place chain is stored once, by its last write in the loop
            for n, i in enumerate(loop):
                v = instrs[i].out
                if v in g.stored and not any(instrs[j].out is v for j in loop[n + 1 :]):
                    g.stores.add(i)

        def slot(v: Var, write: bool) -> None:
            k = self.slot_key(v)
            if k not in g.keys:
                g.keys[k] = len(g.slots)
                g.slots.append(self.root(v))
                g.written.append(False)
            g.written[g.keys[k]] = g.written[g.keys[k]] or write

        for loop in g.loops:
            inside: set = set()
            for i in loop:
                ins = instrs[i]
                for a in ins.inputs():
                    if a not in inside:
                        slot(a, False)
                if i in g.stores:
                    slot(ins.out, True)
                inside.add(ins.out)

    def c_source(self, g: Group, number: int) -> str:
        """The kernel in C: one loop per shape, a register per value."""
        instrs = self.plan.instrs
        keys = g.keys
        dtype = instrs[g.members[0]].out.value.dtype
        ct = _CTYPE[dtype]
        g.name = f"k{number}"
        lines = [f"long {g.name}(char **data) {{"]
        for s in range(len(g.slots)):
            lines.append(f"    {ct} *s{s} = ({ct} *)data[{s}];  /*@s{g.name}_{s}*/")
        if g.trap:
            lines.append("    long trap = 0;  /* set where the trapped product is inf * 0 */")
        lines.append(
            "    feclearexcept(FE_ALL_EXCEPT);  /* the CPU's floating-point flags: cleared, read at the end */"
        )
        count = [0]
        for loop in g.loops:
            full = _full(instrs[loop[0]])
            regs: dict = {}
            body: list[str] = []
            two_d = any(_reduce0(instrs[i]) for i in loop) or any(
                isinstance(a, Var) and _operand_index(a.value.shape, full) == "j"
                for i in loop
                for a in instrs[i].args
            )

            def read(a, full=full, regs=regs) -> str:
                if isinstance(a, Var):
                    if a in regs:
                        return regs[a]
                    return f"s{keys[self.slot_key(a)]}[{_operand_index(a.value.shape, full)}]"
                value = dtype.type(a.item() if isinstance(a, np.ndarray) else a)
                text = float(value).hex()
                return f"{text}f" if ct == "float" else text

            for i in loop:
                ins = instrs[i]
                if _reduce0(ins):
                    x = read(ins.args[0])
                    s = keys[self.slot_key(ins.out)]
                    body.append((f"s{s}[j] = {x};  /*@i{i}*/", f"s{s}[j] = s{s}[j] + {x};  /*@i{i}*/"))
                    continue
                ops = [read(a) for a in ins.args]
                if ins.fn in BINARY:
                    expr = f"{ops[0]} {BINARY[ins.fn]} {ops[1]}"
                else:
                    one = "1.0f" if ct == "float" else "1.0"
                    expr = UNARY[ins.fn].format(ops[0], one)
                reg = f"v{count[0]}"
                count[0] += 1
                body.append(f"const {ct} {reg} = {expr};  /*@i{i}*/")
                if ins.trap:  # the rule's trap: an invalid product (inf * 0)
                    fabs = "fabsf" if ct == "float" else "fabs"
                    a, b = ops
                    body.append(
                        f"trap |= (({fabs}({a}) == INFINITY) & ({b} == 0)) | (({a} == 0) & ({fabs}({b}) == INFINITY));"
                    )
                regs[ins.out] = reg
                if i in g.stores:
                    body.append(f"s{keys[self.slot_key(ins.out)]}[k] = {reg};")
            if two_d:
                m = full[-1]
                n = int(np.prod(full[:-1], dtype=np.int64))
                first = 0
                if any(isinstance(b, tuple) for b in body):  # a sum: row 0 starts it, as numpy's does
                    lines.append(f"    for (long i = 0; i < 1; i++) {{  /* {list(full)}, row 0 */")
                    lines.append(f"        for (long j = 0; j < {m}; j++) {{")
                    lines.append(f"            const long k = i * {m} + j;")
                    lines += ["            " + (b[0] if isinstance(b, tuple) else b) for b in body]
                    lines.append("        }")
                    lines.append("    }")
                    first = 1
                lines.append(f"    for (long i = {first}; i < {n}; i++) {{  /* {list(full)} */")
                lines.append(f"        for (long j = 0; j < {m}; j++) {{")
                lines.append(f"            const long k = i * {m} + j;")
                lines += ["            " + (b[1] if isinstance(b, tuple) else b) for b in body]
                lines.append("        }")
                lines.append("    }")
            else:
                size = int(np.prod(full, dtype=np.int64))
                lines.append(f"    for (long k = 0; k < {size}; k++) {{  /* {list(full)} */")
                lines += ["        " + b for b in body]
                lines.append("    }")
        lines.append(
            "    const int f = fetestexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID);"
        )
        lines.append(
            "    return (f & FE_DIVBYZERO ? 1 : 0) | (f & FE_OVERFLOW ? 2 : 0) | (f & FE_UNDERFLOW ? 4 : 0)"
            " | (f & FE_INVALID ? 8 : 0)" + (f" | (trap ? {TRAP} : 0);" if g.trap else ";")
        )
        lines.append("}")
        g.spec = np.array(
            [(v.value.dtype.num, v.value.size, int(w)) for v, w in zip(g.slots, g.written)], np.int64
        ).tobytes()
        return "\n".join(lines)


HEADER = "#include <fenv.h>\n#include <math.h>\n"


def fuse(plan: Plan) -> None:
    """Each run of fusible elementwise calls as one C kernel (see the module docstring)."""
    why = cc.unavailable()
    if why is not None:
        plan.removed["fuse"] = [f"not applied: {why}"]
        return
    fuser = _Fuser(plan)
    groups = fuser.groups()
    if not groups:
        plan.removed["fuse"] = ["no run of two or more fusible elementwise calls"]
        return
    parts = [HEADER]
    for n, g in enumerate(groups):
        parts.append(fuser.c_source(g, n))
    plan.fused = {g.members[0]: g for g in groups}
    plan.kernel_source = "\n\n".join(parts) + "\n"  # (its comments are filled in by codegen)
    freed = _trim_buffers(plan)
    instrs = plan.instrs
    plan.removed["fuse"] = [
        f"{g.name}: {len(g.members)} calls in one C function, over {len(g.loops)} shape{'s' if len(g.loops) > 1 else ''} "
        f"({', '.join(dict.fromkeys(f'{instrs[i].op} {instrs[i].phase}'.strip() for i in g.members))}), "
        f"{len(g.members) - len(g.stores)} of {len(g.members)} results kept in registers"
        for g in groups
    ] + ([f"buffers: {freed} bytes no longer needed (values kept in registers)"] if freed else [])


def _trim_buffers(plan: Plan) -> int:
    """Values a kernel keeps in registers need no buffer: shrink each flat buffer to what the
    values still written to it need (dropping it if none is). The bytes saved."""
    instrs = plan.instrs
    base = _base(instrs)
    registers = {
        instrs[i].out for g in plan.fused.values() for i in g.members if instrs[i].out not in g.stored
    }
    # memory still used: every kernel argument, and where every value not in a register lives
    # (a register value's buffer can be the memory a later value is written into)
    kept = {root for g in plan.fused.values() for root in g.slots}
    kept |= {
        storage(plan, ins.out, base) for ins in instrs if ins.out is not None and ins.out not in registers
    }
    plan.untrimmed = (dict(plan.buffers), list(plan.sizes), dict(plan.arrays))
    for v in registers - kept:
        plan.buffers.pop(v, None)
    need: dict = {}
    for v, name in plan.buffers.items():
        k = plan.arrays[name][0]
        need[k] = max(need.get(k, 0), v.value.nbytes)
    before = sum(plan.sizes)
    plan.sizes = [need.get(k, 0) for k in range(len(plan.sizes))]
    used = set(plan.buffers.values())
    plan.arrays = {name: spec for name, spec in plan.arrays.items() if name in used}
    return before - sum(plan.sizes)


def build(plan: Plan, notes: dict) -> None:
    """Fill in the kernels' comments (``notes``: marker -> text, from codegen, which knows the
    names), compile them (cc.kernels) and set each group's address. OSError if it fails."""
    source = re.sub(r"/\*@(\w+)\*/", lambda m: f"/* {notes.get(m.group(1), '')} */", plan.kernel_source)
    source = source.replace("/*  */ ", "")
    groups = list(plan.fused.values())
    plan.kernel_lib, addresses = cc.kernels(source, [g.name for g in groups])
    plan.kernel_source = source
    for g in groups:
        g.address = addresses[g.name]


class KernelFloatingPointError(FloatingPointError):
    """numpy's error state says raise, and a kernel met that exception: raised to the caller
    after the kernel's loops ran (numpy raises at the call), not taken for a trap."""


def report(status: int, what: str, late: str | None = None) -> None:
    """A kernel's status as numpy reports a call's: its trap failing (GuardFailed, or
    LateGuardError with ``late`` after the step wrote the user's arrays), else each
    floating-point exception as numpy's error state says (ignore, warn, raise, call, print, log)."""
    from .codegen import GuardFailed, LateGuardError

    if status & TRAP:
        if late:
            raise LateGuardError(late)
        raise GuardFailed
    settings = np.geterr()
    for bit, kind, text in STATUS:
        if not status & bit:
            continue
        action = settings[kind]
        message = f"{text} encountered in {what}"
        if action == "warn":
            import warnings

            warnings.warn(message, RuntimeWarning, stacklevel=2)  # (the generated step's line)
        elif action == "raise":
            raise KernelFloatingPointError(message)
        elif action in ("call", "log"):
            handler = np.geterrcall()
            if callable(handler):
                handler(text, bit)
            elif handler is not None:
                handler.write(f"Warning: {message}\n")
        elif action == "print":
            print(f"Warning: {message}")
