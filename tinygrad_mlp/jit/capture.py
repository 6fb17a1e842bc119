"""Running a step once while recording it: which state it reads and writes, and the program.

The step's state is found where a reader of the function would look: its arguments, the
objects its closure and globals name (modules, optimizers, tensors, and lists of them),
and, through them, the parameters (``.data``, ``.grad``) and the optimizer's state (arrays,
lists of arrays, its step count). Each array there is wrapped in a :class:`Var` for the
run, and read again at every call of the compiled step: a user who loads new weights
between calls gets them used. Python numbers on an optimizer are checked at every call
(a new learning rate compiles again); its integer counters (Adam's ``t``) are traced as
0-d arrays, so the bias corrections are computed at every call, not frozen.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .. import optim
from .. import tensor as tensor_module
from ..tensor import Tensor
from . import trace as tr
from .trace import Instr, TraceError, Var


@dataclass
class Slot:
    """One place state lives: ``owner.attr`` or ``owner.attr[index]``; ``code`` reads it."""

    owner: object
    attr: str
    index: int | None
    code: str
    lifted: bool = False  # a Python int traced as a 0-d array
    private: bool = False  # an optimizer's scratch (``_scratch``): the compiled step may use its own

    def get(self):
        """What the slot holds now."""
        value = getattr(self.owner, self.attr)
        return value if self.index is None else value[self.index]

    def set(self, value) -> None:
        """Put ``value`` in the slot."""
        if self.index is None:
            setattr(self.owner, self.attr, value)
        else:
            getattr(self.owner, self.attr)[self.index] = value


@dataclass
class Program:
    """A recorded step: what it reads (``reads``: Var, code), checks on entry (``checks``:
    code that is true when the compiled step does not apply), its instructions, what it
    writes back (``writes``: Slot, Var or constant) and what it returns (``results``)."""

    instrs: list[Instr]
    reads: list[tuple[Var, str, Slot | None]]
    checks: list[str]
    writes: list[tuple[Slot, object]]
    results: object
    result_vars: list[Var]
    objects: dict[str, object]
    constants: dict[str, object]
    private: set = field(default_factory=set)
    names: dict = field(default_factory=dict)

    def outputs(self) -> list[Var]:
        """The Vars that leave the step: results and values written back."""
        out = list(self.result_vars)
        out += [v for _, v in self.writes if isinstance(v, Var)]
        return out

    def external(self) -> set:
        """The Vars read from outside (their buffers belong to the user)."""
        return {v for v, _, _ in self.reads}


def _is_module(obj) -> bool:
    return hasattr(obj, "named_parameters") and callable(obj.named_parameters) and not isinstance(obj, type)


def find_state(fn, args) -> tuple[list, dict]:
    """The objects the step can reach, named as its code names them: (name, object) pairs."""
    found: list[tuple[str, object]] = []
    seen: set[int] = set()

    def add(name: str, obj, depth: int = 0) -> None:
        if id(obj) in seen:
            return
        if isinstance(obj, (Tensor, optim.Optimizer)) or _is_module(obj):
            seen.add(id(obj))
            found.append((name, obj))
        elif isinstance(obj, (list, tuple)) and depth == 0:
            for i, x in enumerate(obj):
                add(f"{name}[{i}]", x, 1)
        elif isinstance(obj, dict) and depth == 0:
            for k, x in obj.items():
                add(f"{name}[{k!r}]", x, 1)

    code = getattr(fn, "__code__", None)
    if hasattr(fn, "__self__"):
        owner = fn.__self__
        add("self", owner)
        if id(owner) not in seen and isinstance(getattr(owner, "__dict__", None), dict):
            # a method of a plain object (a trainer holding a model and an optimizer): what its
            # attributes hold, as a reader of `self.model` and `self.opt` would look
            for k, x in vars(owner).items():
                add(f"self.{k}", x)
    if code is not None:
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            with contextlib.suppress(ValueError):  # an empty cell
                add(name, cell.cell_contents)
        for name in _global_names(code):
            if name in fn.__globals__:
                add(name, fn.__globals__[name])
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            add(f"args[{i}]", a)
    return found


def _global_names(code) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:  # nested functions and comprehensions
        if hasattr(const, "co_names"):
            names += _global_names(const)
    return names


def slots_of(found, args=()) -> tuple[list[Slot], dict, dict[int, str]]:
    """Every state slot of the found objects, each once, the objects the generated code
    names, and a readable name per tensor. A Tensor argument is read from ``args`` at
    every call (another call passes another tensor)."""
    arg_index = {id(a): i for i, a in enumerate(args) if isinstance(a, Tensor)}
    slots: list[Slot] = []
    tensors: dict[int, tuple[Tensor, str]] = {}
    for name, obj in sorted(found, key=lambda item: not _is_module(item[1])):  # modules name parameters
        if _is_module(obj):
            for pname, p in obj.named_parameters():
                tensors.setdefault(id(p), (p, pname))
        elif isinstance(obj, optim.Optimizer):
            for i, p in enumerate(obj.params):
                tensors.setdefault(id(p), (p, f"{name}.params[{i}]"))
        elif isinstance(obj, Tensor):
            tensors.setdefault(id(obj), (obj, obj.name or name))
    objects: dict[str, object] = {}
    labels: dict[int, str] = {}
    for k, (p, pname) in enumerate(tensors.values()):
        key = f"T{k}" if id(p) not in arg_index else f"args[{arg_index[id(p)]}]"
        if id(p) not in arg_index:
            objects[key] = p
        labels[id(p)] = pname
        slots.append(Slot(p, "data", None, f"{key}.data"))
        slots.append(Slot(p, "grad", None, f"{key}.grad"))
    for k, (_, obj) in enumerate([(n, o) for n, o in found if isinstance(o, optim.Optimizer)]):
        key = f"O{k}"
        objects[key] = obj
        for attr, value in vars(obj).items():
            private = attr.startswith("_")
            if isinstance(value, np.ndarray):
                slots.append(Slot(obj, attr, None, f"{key}.{attr}", private=private))
            elif isinstance(value, list) and attr != "params":
                for i, x in enumerate(value):
                    if x is None or isinstance(x, np.ndarray):
                        slots.append(Slot(obj, attr, i, f"{key}.{attr}[{i}]", private=private))
            elif isinstance(value, int) and not isinstance(value, bool):
                slots.append(Slot(obj, attr, None, f"{key}.{attr}", lifted=True))
    return slots, objects, labels


def _python_state(found, slots) -> dict:
    """A snapshot of the Python values the step could change without the tracer seeing it."""
    in_slots = {(id(s.owner), s.attr) for s in slots}
    snap = {}
    for name, obj in found:
        if isinstance(obj, Tensor):
            continue
        for attr, value in vars(obj).items():
            if (id(obj), attr) in in_slots:
                continue
            if isinstance(value, (list, dict)):
                snap[(name, attr)] = (id(value), len(value), tuple(map(id, value)))
            else:
                snap[(name, attr)] = (
                    id(value),
                    value if isinstance(value, (int, float, str, tuple)) else None,
                )
    return snap


def _closure_state(fn) -> dict:
    snap = {}
    code = getattr(fn, "__code__", None)
    if code is None:
        return snap
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        snap[name] = _shallow(value)
    for name in _global_names(code):
        if name in fn.__globals__:
            snap[name] = _shallow(fn.__globals__[name])
    return snap


def _shallow(value):
    if isinstance(value, (list, dict, set)):
        return (id(value), len(value), tuple(map(id, value)))
    return (id(value),)


def record(fn, args, kwargs) -> tuple[object, Program]:
    """Run ``fn(*args, **kwargs)`` once, recording it. Returns what it returned (Tensors
    holding this call's values, cut from the graph) and the recorded :class:`Program`."""
    found = find_state(fn, args)
    slots, objects, labels = slots_of(found, args)
    reads: list[tuple[Var, str, Slot | None]] = []
    checks: list[str] = []
    constants: dict[str, object] = {}
    entry: dict[int, object] = {}  # slot index -> what it held on entry

    def const(value) -> str:
        key = f"K{len(constants)}"
        constants[key] = value
        return key

    arg_vars: list = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            v = Var(a, f"arg{i}")
            reads.append((v, f"args[{i}]", None))
            arg_vars.append(v)
        elif isinstance(a, Tensor):
            arg_vars.append(a)
        elif isinstance(a, (int, float, bool, str, type(None))):
            checks.append(f"args[{i}] != {const(a)}")
            arg_vars.append(a)
        else:
            raise TraceError(
                f"jit: argument {i} is a {type(a).__name__}; a jitted step takes Tensors, numpy arrays "
                f"and Python numbers (the modules and optimizers it uses are found in its closure)"
            )
    py_before = _python_state(found, slots)
    closure_before = _closure_state(fn)
    for k, s in enumerate(slots):
        value = s.get()
        entry[k] = value
        if s.lifted:
            v = Var(np.array(value), s.code.replace(".", "_"), weak=True)
            reads.append((v, s.code, s))
            s.set(v)
        elif isinstance(value, np.ndarray):
            label = labels.get(id(s.owner), s.code) if s.attr in ("data", "grad") else s.code
            label = label if s.attr == "data" else f"{label}.{s.attr}" if s.attr == "grad" else label
            v = Var(value, label)
            reads.append((v, s.code, s))
            s.set(v)
        elif value is None:
            if not s.private:  # (scratch the optimizer makes when missing: no matter which)
                checks.append(f"{s.code} is not None")
        else:
            raise TraceError(f"jit: {s.code} holds a {type(value).__name__}, which the tracer cannot follow")
    for _, obj in found:  # Python numbers of the optimizers: checked at every call
        if isinstance(obj, optim.Optimizer):
            key = next(k for k, o in objects.items() if o is obj)
            for attr, value in vars(obj).items():
                if isinstance(value, (float, bool, tuple, str)):
                    checks.append(f"{key}.{attr} != {const(value)}")

    trace = tr.Trace(thread=tr.threading.get_ident())
    created = set()
    apply, init = tensor_module._apply, Tensor.__init__

    def traced_init(self, *a, **k):
        init(self, *a, **k)
        if tr.threading.get_ident() == trace.thread:
            created.add(id(self))

    def traced_apply(fn_cls, *inputs, **kw):
        if tr.threading.get_ident() != trace.thread:  # another thread's eager ops: as they were
            return apply(fn_cls, *inputs, **kw)
        for t in inputs:
            if type(t.data) is np.ndarray and t.data.size > 1 and id(t) not in created:
                what = f"'{t.name}' " if t.name else ""
                raise TraceError(
                    f"jit: the step reads a tensor {what}of shape {t.shape} at {tr.user_line()} that is neither "
                    f"an argument nor reachable from the modules and optimizers the step names: the compiled "
                    f"step would freeze its values. Pass it as an argument (or its module)."
                )
        out = apply(fn_cls, *inputs, **kw)
        if isinstance(out.data, Var) and not out.data.label:
            trace.count += 1
            out.data.label = f"{fn_cls.name}{trace.count}"
        return out

    with tr.LOCK:
        tr._ACTIVE[0] = trace
        tensor_module._apply, Tensor.__init__ = traced_apply, traced_init
        try:
            returned = fn(*arg_vars, **kwargs)
        finally:
            tr._ACTIVE[0] = None
            tensor_module._apply, Tensor.__init__ = apply, init
            final = [s.get() for s in slots]
            for k, (s, value) in enumerate(zip(slots, final)):  # the objects hold real arrays again
                if s.private:  # the optimizer's scratch: as it was (the compiled step has its own)
                    s.set(entry[k])
                elif isinstance(value, Var):
                    s.set(value.value.item() if s.lifted else value.value)
    writes: list[tuple[Slot, object]] = []
    private_vars = [v for s, v in zip(slots, final) if s.private and isinstance(v, Var)]
    for k, (s, value) in enumerate(zip(slots, final)):
        before = entry[k]
        if s.private:
            continue
        if isinstance(value, Var):
            if value.value is not before or s.lifted:
                if s.attr == "grad" and not value.label.startswith("grad"):
                    value.label = "grad_" + labels.get(id(s.owner), "t")
                writes.append((s, value))
        elif value is not before:
            if isinstance(value, np.ndarray):
                writes.append((s, ("copy", value.copy())))
            elif value is None:
                writes.append((s, None))
            else:
                raise TraceError(
                    f"jit: the step set {s.code} to a {type(value).__name__}, which it cannot replay"
                )
    if _python_state(found, slots) != py_before:
        changed = [
            f"{n}.{a}" for (n, a), v in _python_state(found, slots).items() if py_before.get((n, a)) != v
        ]
        raise TraceError(
            f"jit: the step changed {', '.join(changed) or 'a Python attribute'} (a Python value, not an array): "
            f"the compiled step cannot replay that; keep such changes outside the step"
        )
    after = _closure_state(fn)
    changed = [n for n, v in closure_before.items() if after.get(n) != v]
    if changed:
        raise TraceError(
            f"jit: the step changed {', '.join(changed)} (appended to a list, rebound a global ...): "
            f"a Python side effect the compiled step cannot replay; return the value instead"
        )
    result_vars: list[Var] = []
    structure = _results(returned, result_vars)
    instrs = trace.instrs
    program = Program(instrs, reads, checks, writes, structure, result_vars, objects, constants)
    program.private = {v for v, _, s in reads if s is not None and s.private} | set(private_vars)
    return rebuild(structure, [v.value for v in result_vars]), program


def _results(obj, found: list):
    """The returned structure with each traced array replaced by its place in ``found``."""
    if isinstance(obj, Tensor):
        if isinstance(obj.data, Var):
            found.append(obj.data)
            return ("tensor", len(found) - 1)
        return ("value", Tensor(np.array(obj.data)))
    if isinstance(obj, Var):
        found.append(obj)
        return ("array", len(found) - 1)
    if isinstance(obj, np.ndarray):  # computed from constants only: the same at every call
        return ("constant", obj.copy())
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, [_results(x, found) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: _results(x, found) for k, x in obj.items()})
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return ("value", obj)
    raise TraceError(f"jit: the step returned a {type(obj).__name__}; return Tensors, arrays or numbers")


def rebuild(structure, arrays: list):
    """What the step returns, from its structure and this call's arrays (copies, so a later
    call never changes a value the caller kept)."""
    kind, body = structure
    if kind == "tensor":
        return tensor_module._tensor_of(np.array(arrays[body]))
    if kind == "array":
        return np.array(arrays[body])
    if kind == "value":
        return body
    if kind == "constant":
        return body.copy()
    if kind == "dict":
        return {k: rebuild(x, arrays) for k, x in body.items()}
    items = [rebuild(x, arrays) for x in body]
    return tuple(items) if kind == "tuple" else items
