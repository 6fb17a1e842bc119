"""Compile a training step: record it once, replay it as generated numpy code.

    @jit
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(Tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    step(x, y)            # the first calls with these shapes run eagerly, recording
    step(x, y)            # (two: the second sees the .grad the first made)
    step(x, y)            # later calls run the compiled program
    print(step.source)    # the generated Python; step.stats: what each pass bought
    print(step.kernels)   # the C loops the fuse pass made of its elementwise chains

How (JAX's jit, tinygrad's TinyJit and torch.fx in one small file each):

1. ``trace.py``: the step runs once on traced arrays (:class:`~.trace.Var`), which run
   numpy for real and record every call the ops' rules and the optimizer make.
2. ``capture.py``: which state the step reads and writes (parameters, ``.grad``, the
   optimizer's state), read again at every call; Python the tracer cannot replay is an error.
3. ``passes.py``: dead code, constants, peephole rewrites (simplify), the optimizer's
   scratch, elementwise chains in place, loop tiling, buffer planning; each a small
   function over the recorded program.
4. ``fuse.py`` (with ``cc.py``): each run of elementwise calls as one generated C loop,
   computing exactly what numpy computes (Inductor's and XLA's code generation in small);
   left out, with the reason in ``step.changes``, where no C compiler works.
5. ``codegen.py``: the straight-line source, one line per numpy call or kernel.

The compiled step is specialised on the shapes and dtypes of its arguments and on the
state's structure (which ``.grad`` and optimizer buffers exist); a call that does not fit
compiles again, and the compiled programs are kept per signature.
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

from .. import _fpe
from .._fpe import Tripped
from ..tensor import Tensor
from . import fuse
from . import passes as passes_module
from .capture import Program, record
from .codegen import GuardFailed, LateGuardError, generate  # noqa: F401 (GuardFailed: public)
from .passes import PASSES, Plan, measure
from .trace import ConcretizationError, TraceError

__all__ = [
    "jit",
    "Jitted",
    "Compiled",
    "TraceError",
    "ConcretizationError",
    "LateGuardError",
    "PASSES",
    "to_dot",
]


MAX_PROGRAMS = 8  # compiled programs kept per signature (one per combination of rule branches)


class Compiled:
    """One compiled program: the generated function, its source, and its stats per pass."""

    def __init__(
        self, program: Program, passes: tuple[str, ...], title: str, signature: tuple | None = None
    ) -> None:
        plan = Plan(program)
        self.stats: dict[str, dict] = {"recorded": measure(plan)}
        for name in passes:
            passes_module.PASS_FUNCTIONS[name](plan)
            self.stats[name] = measure(plan)
        self.plan = plan
        self.changes = plan.removed
        # plain arrays only: then the step checks its own arguments and a call goes straight to it
        plain = signature is not None and all(
            type(x) is tuple and len(x) == 2 and isinstance(x[1], np.dtype) for x in signature
        )
        self.signature = signature if plain else None
        self.source, env = generate(plan, title, self.signature)
        if plan.fused:  # the fuse pass's kernels, commented in the source's names: built now
            try:
                fuse.build(plan, plan.kernel_notes)
                for group in plan.fused.values():
                    env[f"_{group.name}"] = group.address
            except OSError as exc:  # (a compiler that fails on this source): numpy's calls, then
                plan.fused, plan.kernel_source = {}, ""
                plan.buffers, plan.sizes, plan.arrays = plan.untrimmed
                plan.removed["fuse"] = [f"not applied: {exc}"]
                self.stats["fuse"] = measure(plan)
                self.source, env = generate(plan, title, self.signature)
        self.kernels = plan.kernel_source  # the fuse pass's C ("" when nothing was fused)
        # With kernels, also the same program without them, for calls where numpy's error state
        # (or the warnings filters) would stop the step at a floating-point exception: numpy
        # stops at the call, a kernel reports after its loops have written.
        self.plain = None
        if plan.fused:
            fused, names = plan.fused, plan.program.names
            plan.fused = {}
            plain_source, plain_env = generate(plan, title, self.signature)
            plan.fused, plan.program.names = fused, names
            exec(compile(plain_source, f"<jit {title} without kernels>", "exec"), plain_env)
            self.plain, self._plain_env = plain_env[title], plain_env
        exec(compile(self.source, f"<jit {title}>", "exec"), env)
        self.function = env[title]
        self._env = env  # its buffers are made at the first run (a program compiled for a
        # state that never returns, as the first call's .grad None, never holds memory)
        self.structure = program.results
        _forget_values(plan)

    def __call__(self, args: tuple):
        """Run the compiled program on ``args``; Tripped (GuardFailed) if they do not fit it."""
        if self._env is not None:  # the first run: make the buffers
            env = self._env
            flats = [np.zeros(max(n, 1), np.uint8) for n in self.plan.sizes]  # zeros: never NaN
            for name, (k, shape, dtype) in self.plan.arrays.items():
                size = int(np.prod(shape)) * np.dtype(dtype).itemsize
                env[name] = flats[k][:size].view(dtype).reshape(shape)
                if self.plain is not None:
                    self._plain_env[name] = env[name]
            try:
                arrays = self._run(args)
            except Tripped:  # (a guard or a trap that failed: nothing was written)
                for name in self.plan.arrays:
                    env[name] = None  # not this program's call after all: hold no memory
                    if self.plain is not None:
                        self._plain_env[name] = None
                raise
            self._env = None
            return arrays
        return self._run(args)

    def _run(self, args: tuple):
        state = _fpe.STATE.get() if _fpe.STATE is not None else None
        function = self.function
        if self.plain is not None and _fpe.strict():
            function = self.plain
        try:
            return function(args)
        except fuse.KernelFloatingPointError:  # (the caller's error state asked for it)
            if state is not None:
                _fpe.STATE.set(state)
            raise
        except FloatingPointError:
            if state is not None and _fpe.STATE.get() is state:
                raise  # the caller's own error state raised it (np.errstate(over="raise")): numpy's error
            # a trap met its exception (the rule would take its other branch): numpy's error
            # state is left as the trap set it; put back the caller's and try another program
            if state is not None:
                _fpe.STATE.set(state)
            raise Tripped("a trapped call met its floating-point exception") from None
        except BaseException:  # (anything else inside a trap: the caller's error state back too)
            if state is not None:
                _fpe.STATE.set(state)
            raise


def _forget_values(plan: Plan) -> None:
    """The recorded values are no longer needed, only their shapes and dtypes (for the stats
    and the picture): keep a zero-strided stand-in, so a compiled step of a large network
    does not hold every value of the step it recorded."""
    from .trace import Var, _collect

    seen: list = []
    for ins in plan.program.instrs:
        _collect((ins.args, ins.kwargs), seen)
        if ins.out is not None:
            seen.append(ins.out)
    seen += [v for v, _, _ in plan.program.reads] + plan.program.outputs()
    for v in seen:
        if isinstance(v, Var):
            shape, dtype = v.value.shape, v.value.dtype
            v.value = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))


def _signature(args: tuple, kwargs: dict) -> tuple:
    """Shapes and dtypes of the arguments (the dtype objects themselves: ``dtype.str`` builds a
    string at every call, 0.45 us an argument)."""
    sig = []
    for a in args:
        if type(a) is np.ndarray:
            sig.append((a.shape, a.dtype))
        elif isinstance(a, Tensor):
            sig.append(("T", a.data.shape, a.data.dtype))
        elif isinstance(a, np.ndarray):
            sig.append((type(a), a.shape, a.dtype))
        else:
            sig.append(type(a))
    if kwargs:
        sig.append(tuple(sorted(kwargs)))
    return tuple(sig)


class Jitted:
    """What :func:`jit` returns: call it like the step; ``source``, ``stats``, ``compiled``."""

    def __init__(self, fn, passes: tuple[str, ...] = PASSES) -> None:
        unknown = [p for p in passes if p not in passes_module.PASS_FUNCTIONS]
        if unknown:
            raise ValueError(f"jit: unknown pass {unknown[0]!r}; the passes are {', '.join(PASSES)}")
        order = [PASSES.index(p) for p in passes]
        if order != sorted(set(order)):  # each pass assumes the ones before it have run
            raise ValueError(
                f"jit: passes must keep this order, each at most once: {', '.join(PASSES)} "
                f"(got {', '.join(passes)})"
            )
        self.fn = fn
        self.passes = tuple(passes)
        self.cache: dict[tuple, list[Compiled]] = {}
        self.last: Compiled | None = None
        self.traces = 0  # how many times the step ran eagerly to record
        self._lock = threading.Lock()  # one call at a time: the compiled programs share buffers
        self._fast = None  # the program that ran last, when it checks its own arguments
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        """The step: replayed where a compiled program fits, else recorded and compiled."""
        if kwargs:
            raise TypeError(f"jit: pass the step's arguments by position (got {', '.join(kwargs)} by name)")
        with self._lock:
            fast = self._fast
            if fast is not None:  # the program that ran last: it checks the arguments itself
                try:
                    return fast._run(args)
                except Tripped:
                    pass
            return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict):
        key = _signature(args, kwargs)
        for compiled in self.cache.get(key, ()):
            try:
                result = compiled(args)
            except Tripped:
                continue
            self.last = compiled
            self._fast = compiled if compiled.signature is not None else None
            return result
        result, program = record(self.fn, args, kwargs)
        self.traces += 1
        compiled = Compiled(
            program, self.passes, getattr(self.fn, "__name__", "step").strip("<>") or "step", key
        )
        self._fast = None  # (its buffers are made at its first run, through _call)
        programs = self.cache.setdefault(key, [])
        programs.insert(0, compiled)
        del programs[MAX_PROGRAMS:]  # (rules' branches that keep changing: the oldest goes)
        self.last = compiled
        return result

    def __get__(self, obj, objtype=None):
        """``@jit`` on a method: each object gets its own compiled step of the bound method
        (its own state, its own programs), made at the first access and kept while it lives."""
        if obj is None:
            return self
        bound = self.__dict__.setdefault("_bound", weakref.WeakKeyDictionary())
        name = getattr(self.fn, "__name__", "step")
        try:
            step = bound.get(obj)
        except TypeError:  # (an object that takes no weak reference, or no hash)
            raise TypeError(
                f"jit: {type(obj).__name__}.{name} cannot be compiled per object: a "
                f"{type(obj).__name__} takes no weak reference or has no hash; compile the bound "
                f"method instead: step = jit(obj.{name})"
            ) from None
        if step is None:  # (it holds the object weakly: the object's death ends its programs)
            step = bound[obj] = Jitted(_WeakMethod(self.fn, obj), self.passes)
        return step

    @property
    def source(self) -> str:
        """The generated Python of the last compiled (or last run) program."""
        return self._last().source

    @property
    def kernels(self) -> str:
        """The C of the last program's fused kernels (the fuse pass; "" when none)."""
        return self._last().kernels

    @property
    def stats(self) -> dict[str, dict]:
        """Per pass ("recorded" first): numpy calls, allocations per call and their bytes,
        preallocated buffers and their bytes, peak bytes alive during a call."""
        return self._last().stats

    @property
    def changes(self) -> dict[str, list[str]]:
        """Per pass, what it removed or rewrote."""
        return self._last().changes

    def _last(self) -> Compiled:
        if self.last is None:
            raise RuntimeError("jit: the step has not been called yet, so nothing is compiled")
        return self.last

    def stats_table(self) -> str:
        """The stats as a table, one row per pass."""
        rows = [
            f"{'after':10} {'calls':>6} {'allocs':>7} {'alloc bytes':>12} {'buffers':>8} {'buf bytes':>11} {'peak bytes':>11}"
        ]
        for name, s in self.stats.items():
            rows.append(
                f"{name:10} {s['calls']:6} {s['allocations']:7} {s['allocated_bytes']:12} "
                f"{s['buffers']:8} {s['buffer_bytes']:11} {s['peak_bytes']:11}"
            )
        return "\n".join(rows)

    def draw(self):
        """The compiled program as a graphviz.Digraph (see :func:`to_dot`)."""
        return to_dot(self._last())


class _WeakMethod:
    """``fn`` bound to ``obj`` as a method is, holding ``obj`` weakly (a bound method would keep
    it alive from the per-object cache of :meth:`Jitted.__get__`)."""

    def __init__(self, fn, obj) -> None:
        self._fn, self._ref = fn, weakref.ref(obj)
        functools.update_wrapper(self, fn)

    __self__ = property(lambda self: self._ref())
    __code__ = property(lambda self: self._fn.__code__)
    __globals__ = property(lambda self: self._fn.__globals__)
    __closure__ = property(lambda self: self._fn.__closure__)

    def __call__(self, *args, **kwargs):
        return self._fn(self._ref(), *args, **kwargs)


def jit(fn=None, *, passes: tuple[str, ...] = PASSES):
    """Compile an eager step (a function over Tensors, modules and optimizers): see the module
    docstring. ``passes=()`` replays the recorded program as it was recorded."""
    if fn is None:
        return lambda f: Jitted(f, passes)
    return Jitted(fn, passes)


def to_dot(compiled: Compiled | Jitted):
    """A graphviz.Digraph of the compiled program: one node per numpy call (labelled with
    the call, the engine op it came from and its buffer; guards as diamonds, trapped calls as
    octagons; the calls of one fused kernel inside a dashed box, a call whose result the kernel
    keeps in a register dashed and with no buffer), edges from the values it reads
    (an in-place call reads the value it overwrites); the user's arrays as boxes, read at
    the top and, where the step updates them in place, again at the bottom (dashed)."""
    import graphviz

    if isinstance(compiled, Jitted):
        compiled = compiled._last()
    plan = compiled.plan
    names = plan.program.names
    dot = graphviz.Digraph("jit", graph_attr={"rankdir": "TB", "nodesep": "0.15", "ranksep": "0.25"})
    dot.attr("node", fontname="Helvetica", fontsize="10")
    writer: dict = {}
    external = plan.program.external()
    for v, _, _ in plan.program.reads:
        node = f"in_{id(v)}"
        dot.node(
            node,
            f"{names.get(v, v.label)}\n{list(v.value.shape)}",
            shape="box",
            style="filled",
            fillcolor="#dde8f5",
        )
        writer[v] = node
    clusters = {}  # a fused kernel's calls drawn inside one box
    registers = set()  # calls whose result a kernel keeps in a register (never written to an array)
    for group in plan.fused.values():
        registers |= {i for i in group.members if i not in group.stores}
        cluster = graphviz.Digraph(f"cluster_{group.name}")
        cluster.attr(
            label=f"{group.name}: one C function",
            style="rounded,dashed",
            color="#7d3c98",
            fontname="Helvetica",
            fontsize="10",
        )
        for i in group.members:
            clusters[i] = cluster
    for i, ins in enumerate(plan.instrs):
        node = f"i{i}"
        color = {"forward": "#ffffff", "vjp": "#fdebd0", "step": "#d5f5e3"}.get(ins.phase, "#eeeeee")
        target = plan.buffers.get(ins.out) if ins.out is not None and i not in registers else None
        label = f"{ins.name}\n{ins.op} {ins.phase}" + (f"\nout={target}" if target else "")
        if ins.trap:  # a call run with a floating-point exception raising: the rule's guard
            label += f"\ntrap: {ins.trap} {'raises' if ins.clean else 'expected'}"
        (clusters.get(i) or dot).node(
            node,
            label,
            shape="diamond" if ins.kind == "guard" else "octagon" if ins.trap else "ellipse",
            style="filled,dashed" if i in registers else "filled",
            fillcolor=color,
        )
        for v in ins.inputs():
            if v in writer:
                dot.edge(writer[v], node)
        if ins.out is not None:
            if ins.inplace and ins.out in external:  # the user's array, updated in place
                after = f"out_{id(ins.out)}"
                label = f"{names.get(ins.out, ins.out.label)}\n(updated)"
                dot.node(after, label, shape="box", style="filled", fillcolor="#dde8f5")
                dot.edge(node, after, style="dashed")
                writer[ins.out] = after
            else:
                writer[ins.out] = node
    for cluster in dict.fromkeys(clusters.values()):
        dot.subgraph(cluster)
    return dot
