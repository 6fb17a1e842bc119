"""Time training steps of the autograd engine beside the hand-written numpy network
(and PyTorch, when installed), interleaved in one process so that a noisy machine
slows all of them alike; report medians and their ratios.

    tinygrad-mlp bench                      # the original MLP, batch 125, SGD, float32 and float64
    tinygrad-mlp bench --profile            # where the autograd step spends its time

Each engine runs the same steps on the same batches (synthetic uniform images: timing
does not depend on pixel values): forward, the loss 0.5*sum((y_pred - y)**2), backward
and an SGD update. Engines take turns within every step, in orders where each comes
straight after each other equally often (:func:`balanced_orders`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import autograd, nn, ops, optim
from .jit import PASSES, jit
from .manual import ManualMLP
from .tensor import Tensor


@dataclass
class BenchResult:
    """The median time of one engine's training step in one dtype."""

    dtype: str
    engine: str
    median: float  # seconds per step
    steps: int


def _batches(sizes, batch, dtype, count, rng):
    xs = [rng.random((batch, sizes[0])).astype(dtype) for _ in range(count)]
    ys = [nn.one_hot(rng.integers(0, sizes[-1], batch), sizes[-1], dtype) for _ in range(count)]
    return xs, ys


def _generic_loss(out: Tensor, y: Tensor) -> Tensor:
    """The loss as a learner writes it, from primitives (no fused op)."""
    return 0.5 * ((out - y) ** 2).sum()


def _autograd_engine(sizes, dtype, lr, rng, loss: str = "sse"):
    model = nn.MLP(sizes, dtype=dtype, rng=rng)
    opt = optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.sse_loss if loss == "sse" else _generic_loss

    def step(x, y):
        loss = loss_fn(model(Tensor(x)), Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return model, step


def _manual_engine(model, lr):
    manual = ManualMLP.from_mlp(model)

    def step(x, y):
        manual.backward(manual.predict(x) - y)
        manual.update(lr)

    return step


def _tight_engine(model, lr):
    """The same step hand-written as tightly as numpy allows: no gradient for the input
    layer's x, sigmoid and updates in place, no temporaries beyond the activations."""
    params = [(layer.W.data.copy(), layer.b.data.copy()) for layer in model.layers]

    def step(x, y):
        acts = [x]
        for w, b in params:
            h = acts[-1] @ w
            h += b
            np.negative(h, out=h)
            np.exp(h, out=h)
            h += 1
            np.reciprocal(h, out=h)  # sigmoid, in place
            acts.append(h)
        out = acts[-1]
        delta = out - y  # d(0.5*SSE)/d(out)
        delta *= out
        delta *= 1 - out
        for i in range(len(params) - 1, -1, -1):
            w, b = params[i]
            dw = acts[i].T @ delta
            db = delta.sum(axis=0)
            if i > 0:
                a = acts[i]
                delta = delta @ w.T
                delta *= a
                delta *= 1 - a
            dw *= lr
            db *= lr
            w -= dw
            b -= db

    step.params = params  # for the test that checks it is the same step
    return step


def _jit_engine(model, loss_fn, lr: float, passes=PASSES):
    """The eager step compiled by :func:`~tinygrad_mlp.jit.jit`, on its own copy of the
    weights. With ``passes=()`` (the ``rules`` engine) the recorded program is replayed as
    recorded: the engine's op rules and the optimizer called on arrays in graph order, no
    Tensor made, no graph walked, no ``.grad`` bookkeeping beyond storing the gradients:
    what calling the rules costs. With every pass (the ``jit`` engine), what the compiler
    makes of it: dead code gone, constants folded, elementwise chains in place, every
    intermediate in a planned buffer. ``step.source`` is the generated function."""
    # its own copy of the weights (the rng only fills weights that are overwritten at once)
    mine = nn.MLP(
        model.sizes,
        model.activation,
        model.output_activation,
        dtype=model.dtype,
        rng=np.random.default_rng(0),
    )
    for p, q in zip(mine.parameters(), model.parameters()):
        p.data[...] = q.data
    opt = optim.SGD(mine.parameters(), lr=lr)

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(mine(Tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    step = jit(train_step, passes=passes)
    step.params = [p.data for p in mine.parameters()]  # for the test that checks it is the same step
    return step


def _gemm_engine(model, batch):
    """The floor: only the step's matrix products (forward, dW, and dX below the top),
    into preallocated arrays. No engine on numpy and this BLAS can do the step in less."""
    ws = [layer.W.data.copy() for layer in model.layers]
    dtype = ws[0].dtype
    acts = [np.empty((batch, w.shape[1]), dtype) for w in ws]
    # Deltas of a typical size (never left uninitialised: garbage can hold NaN, which numpy
    # warns about, or subnormal numbers, which make the products slower than real ones).
    deltas = [np.full((batch, w.shape[1]), 1e-3, dtype) for w in ws]
    dws = [np.empty_like(w) for w in ws]

    def step(x, y):
        h = x
        for w, a in zip(ws, acts):
            np.matmul(h, w, out=a)
            h = a
        for i in range(len(ws) - 1, -1, -1):
            np.matmul((acts[i - 1] if i else x).T, deltas[i], out=dws[i])
            if i > 0:
                np.matmul(deltas[i], ws[i].T, out=deltas[i - 1])

    step.arrays = (acts, deltas, dws)  # for the test that they hold real numbers
    return step


def _torch_engine(model, lr, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    layers = []
    for layer in model.layers:
        lin = torch.nn.Linear(*layer.W.shape, dtype=getattr(torch, model.dtype.name))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W.data.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.data.copy()))
        layers += [lin, torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=lr)

    def step(x, y):
        out = net(torch.from_numpy(x))
        loss = 0.5 * ((out - torch.from_numpy(y)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _build_engines(model, auto, loss, lr, batch, floors, use_torch, threads, wanted) -> dict:
    """bench.run's engines by name, in its order, only those ``wanted`` (all when None)."""
    loss_fn = nn.sse_loss if loss == "sse" else _generic_loss
    makers: dict[str, Callable] = {"autograd": lambda: auto, "manual": lambda: _manual_engine(model, lr)}
    if floors:
        makers.update(
            rules=lambda: _jit_engine(model, loss_fn, lr, passes=()),
            jit=lambda: _jit_engine(model, loss_fn, lr),
            tight=lambda: _tight_engine(model, lr),
            gemm=lambda: _gemm_engine(model, batch),
        )
    if use_torch:
        makers["torch"] = lambda: _torch_engine(model, lr, threads)
    built = {name: make() for name, make in makers.items() if wanted is None or name in wanted}
    return {name: step for name, step in built.items() if step is not None}


def run(
    sizes=(784, 128, 64, 32, 10),
    batch: int = 125,
    dtypes=("float32", "float64"),
    steps: int = 300,
    warmup: int = 20,
    threads: int | None = None,
    lr: float = 0.1,
    seed: int = 0,
    use_torch: bool = True,
    loss: str = "sse",
    floors: bool = True,
    engines=None,
) -> list[BenchResult]:
    """Time ``steps`` interleaved steps per engine and dtype (after ``warmup``).

    Engines: ``autograd`` (loss ``sse``: the fused 0.5*SSE; ``generic``: written from
    primitives), ``manual`` (the original hand-written network), and with ``floors``
    ``rules`` (the step compiled by ``jit`` without its passes: autograd's op rules alone,
    without its bookkeeping), ``jit`` (the step compiled with every pass), ``tight`` (a tight
    hand-written numpy step) and ``gemm`` (the step's matrix products alone), and
    ``torch`` when installed. ``engines``: time only these (by name; all when None); the
    others are not even built."""
    from threadpoolctl import threadpool_limits

    wanted = set(engines) if engines else None

    results = []
    # The hand-written steps compute sigmoid as 1 / (1 + exp(-h)), whose exp overflows to
    # inf for very negative h (the result, 0, is right). Overflow warnings are off for every
    # engine while timing: the report is about time, and a run that overflows takes as long.
    with threadpool_limits(limits=threads), np.errstate(over="ignore"):
        n_threads = threads or _blas_threads()
        for dtype in dtypes:
            rng = np.random.default_rng(seed)
            model, auto = _autograd_engine(sizes, np.dtype(dtype), lr, rng, loss)
            built = _build_engines(model, auto, loss, lr, batch, floors, use_torch, n_threads, wanted)
            xs, ys = _batches(sizes, batch, dtype, 16, rng)
            times = {name: [] for name in built}
            # What ran just before changes what is in the caches: within each step the engines
            # take turns in orders where each follows each other equally often (across the
            # step boundary, the last of one order runs before the first of the next).
            orders = balanced_orders(list(built))
            for i in range(warmup + steps):
                x, y = xs[i % len(xs)], ys[i % len(ys)]
                for name in orders[i % len(orders)]:
                    t0 = time.perf_counter()
                    built[name](x, y)
                    if i >= warmup:
                        times[name].append(time.perf_counter() - t0)
            for name in built:
                results.append(BenchResult(dtype, name, float(np.median(times[name])), steps))
    return results


def peak_memory(
    sizes=(784, 128, 64, 32, 10),
    batch: int = 125,
    dtype: str = "float32",
    engines=("autograd", "jit", "tight"),
    lr: float = 0.1,
    loss: str = "generic",
    seed: int = 0,
) -> dict[str, int]:
    """Peak bytes (tracemalloc) of one training step of each engine, once it runs its steady
    state (after a warm-up step; the jit after it compiled): what the engine holds between
    steps (its copy of the weights, its optimizer state, its buffers, the last gradients)
    plus what the step allocates on top. The batch is made beforehand and not counted."""
    import gc
    import tracemalloc

    rng = np.random.default_rng(seed)
    model = nn.MLP(sizes, dtype=np.dtype(dtype), rng=rng)
    xs, ys = _batches(sizes, batch, dtype, 1, rng)
    x, y = xs[0], ys[0]
    loss_fn = nn.sse_loss if loss == "sse" else _generic_loss
    builders = {
        "autograd": lambda: _autograd_engine(sizes, np.dtype(dtype), lr, np.random.default_rng(seed), loss)[
            1
        ],
        "jit": lambda: _jit_engine(model, loss_fn, lr),
        "rules": lambda: _jit_engine(model, loss_fn, lr, passes=()),
        "tight": lambda: _tight_engine(model, lr),
    }
    peaks = {}
    with np.errstate(over="ignore"):
        for name in engines:
            gc.collect()
            tracemalloc.start()
            try:
                step = builders[name]()
                for _ in range(2 if name in ("jit", "rules") else 1):  # warm up (the jit: compile)
                    step(x, y)
                gc.collect()
                tracemalloc.reset_peak()
                step(x, y)
                peaks[name] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            del step
    return peaks


def report_memory(peaks: dict[str, int], sizes, batch: int, dtype: str) -> str:
    """:func:`peak_memory`'s figures as a table, with each engine's ratio to the tight step."""
    lines = [
        f"MLP {'-'.join(map(str, sizes))}, batch {batch}, {dtype}: peak bytes of one training step "
        f"(tracemalloc; the engine's weights, state and buffers included, the batch not)",
        f"{'engine':9} {'MiB':>9}   ratio",
    ]
    for name, peak in peaks.items():
        ratio = f"{name}/tight = {peak / peaks['tight']:.3f}" if "tight" in peaks and name != "tight" else ""
        lines.append(f"{name:9} {peak / 2**20:9.1f}   {ratio}")
    return "\n".join(lines)


def balanced_orders(names: list[str]) -> list[list[str]]:
    """Orders of ``names`` in which each name comes straight after each other one equally
    often (a Williams design: n orders for an even n, 2n for an odd n), so that a short
    run is balanced too, where all n! permutations would need thousands of steps."""
    n = len(names)
    first = [0]
    for k in range(1, n):  # 0, 1, n-1, 2, n-2, ...: every difference between neighbours once
        first.append((k + 1) // 2 if k % 2 else n - k // 2)
    rows = [[(j + r) % n for j in first] for r in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return [[names[j] for j in row] for row in rows]


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return int(info[0]["num_threads"]) if info else 1


def report(results: list[BenchResult], batch: int, train_size: int = 60000) -> str:
    """A table: median ms per step, seconds per epoch, and the ratios to autograd; then,
    with the floors, what the op rules alone take against the tight step and the GEMMs."""
    steps_per_epoch = -(-train_size // batch)
    lines = [
        f"{'dtype':8} {'engine':9} {'ms/step':>9} {'s/epoch':>8}   ratio",
        "-" * 52,
    ]
    floors = []
    for dtype in dict.fromkeys(r.dtype for r in results):
        rows = {r.engine: r for r in results if r.dtype == dtype}
        auto = rows["autograd"].median
        for name, r in rows.items():
            ratio = "" if name == "autograd" else f"autograd/{name} = {auto / r.median:.3f}"
            lines.append(
                f"{dtype:8} {name:9} {r.median * 1e3:9.3f} {r.median * steps_per_epoch:8.3f}   {ratio}"
            )
        if {"rules", "tight", "gemm"} <= rows.keys():
            rules = rows["rules"].median
            floors.append(
                f"rules/tight = {rules / rows['tight'].median:.3f}, "
                f"rules/gemm = {rules / rows['gemm'].median:.3f} ({dtype})"
            )
        if {"jit", "tight", "gemm"} <= rows.keys():
            compiled = rows["jit"].median
            floors.append(
                f"jit/tight = {compiled / rows['tight'].median:.3f}, "
                f"jit/gemm = {compiled / rows['gemm'].median:.3f}, "
                f"autograd/jit = {auto / compiled:.3f} ({dtype})"
            )
    lines.append(
        f"(median of {results[0].steps} interleaved steps each; an epoch is {steps_per_epoch} steps of {batch})"
    )
    if floors:
        lines.append("the op rules alone (rules) and compiled (jit), beside the floors: " + "; ".join(floors))
    return "\n".join(lines)


# ---------------------------------------------------------------- profile


@contextmanager
def _timed_backwards(totals: dict[str, float]):
    """Wrap every op's backward to add its time to ``totals`` (profiling only)."""
    originals = {}
    for cls in {c for c in vars(ops).values() if isinstance(c, type) and issubclass(c, ops.Function)}:
        if "vjp" in vars(cls):
            originals[cls] = cls.vjp

            def timed(self, g, *args, _orig=cls.vjp):
                t0 = time.perf_counter()
                out = _orig(self, g, *args)
                totals["op backward"] += time.perf_counter() - t0
                return out

            cls.vjp = timed
    try:
        yield
    finally:
        for cls, fn in originals.items():
            cls.vjp = fn


def profile(
    sizes=(784, 128, 64, 32, 10), batch: int = 125, dtype: str = "float32", steps: int = 300, seed: int = 0
) -> dict[str, float]:
    """Split the autograd training step into forward, op backward rules, graph
    bookkeeping (topological sort, gradient dict, .grad storage) and the optimizer."""
    rng = np.random.default_rng(seed)
    model = nn.MLP(sizes, dtype=np.dtype(dtype), rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1)
    xs, ys = _batches(sizes, batch, dtype, 16, rng)
    totals = dict.fromkeys(["forward", "op backward", "backward total", "topological sort", "optimizer"], 0.0)
    with _timed_backwards(totals):
        for i in range(steps + 20):
            if i == 20:  # warm-up done: start counting (in place: the wrappers hold this dict)
                for key in totals:
                    totals[key] = 0.0
            x, y = xs[i % 16], ys[i % 16]
            t0 = time.perf_counter()
            loss = nn.sse_loss(model(Tensor(x)), Tensor(y))
            t1 = time.perf_counter()
            autograd.toposort(loss)
            t2 = time.perf_counter()
            opt.zero_grad()
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            totals["forward"] += t1 - t0
            totals["topological sort"] += t2 - t1
            totals["backward total"] += t3 - t2
            totals["optimizer"] += t4 - t3
    return totals


def profile_report(totals: dict[str, float], steps: int) -> str:
    """A table of :func:`profile`'s parts in microseconds per step, with their shares."""
    bookkeeping = totals["backward total"] - totals["op backward"]
    parts = {
        "forward (ops and graph recording)": totals["forward"],
        "backward: the ops' backward rules": totals["op backward"],
        "backward: graph bookkeeping": bookkeeping,
        "optimizer step": totals["optimizer"],
    }
    total = sum(parts.values())
    lines = [f"{'part of the autograd step':38} {'us/step':>9} {'share':>6}", "-" * 55]
    for name, t in parts.items():
        lines.append(f"{name:38} {t / steps * 1e6:9.1f} {t / total:6.1%}")
    lines.append(f"{'total':38} {total / steps * 1e6:9.1f}")
    lines.append(
        f"(bookkeeping includes the topological sort, {totals['topological sort'] / steps * 1e6:.1f} us/step "
        f"when run alone; op backward times include the timer's own cost)"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- higher order


def _mlp_loss_fn(sizes, batch, dtype, rng):
    """The original MLP's loss as a function of its parameters (W1, b1, W2, b2, ...)."""
    model = nn.MLP(sizes, dtype=np.dtype(dtype), rng=rng)
    params = [p.data.copy() for p in model.parameters()]
    xs, ys = _batches(sizes, batch, dtype, 1, rng)
    x, y = Tensor(xs[0]), Tensor(ys[0])

    def loss(*ps):
        h = x
        for w, b in zip(ps[0::2], ps[1::2]):
            h = (h @ w + b).sigmoid()
        return nn.sse_loss(h, y)

    return loss, params, xs[0], ys[0]


def _torch_loss_fn(params, x, y):
    import torch

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def loss(*ps):
        h = tx
        for w, b in zip(ps[0::2], ps[1::2]):
            h = torch.sigmoid(h @ w + b)
        return 0.5 * ((h - ty) ** 2).sum()

    return loss, [torch.from_numpy(p.copy()) for p in params]


def run_higher(
    sizes=(784, 128, 64, 32, 10),
    batch: int = 125,
    dtype: str = "float32",
    steps: int = 100,
    warmup: int = 5,
    threads: int | None = None,
    seed: int = 0,
    use_torch: bool = True,
) -> dict[str, dict[str, float]]:
    """Median seconds of a forward, a gradient, a jvp and a Hessian-vector product of the
    MLP's loss with respect to all its parameters, per engine (ours, and PyTorch's
    torch.func when installed), interleaved. Returns {engine: {task: seconds}}."""
    from threadpoolctl import threadpool_limits

    from . import func
    from .autograd import grad, no_grad

    rng = np.random.default_rng(seed)
    loss, params, x, y = _mlp_loss_fn(sizes, batch, dtype, rng)
    tangents = [rng.standard_normal(p.shape).astype(dtype) for p in params]
    ps, ts = [Tensor(p) for p in params], [Tensor(t) for t in tangents]

    def ours_forward():
        with no_grad():
            loss(*ps)

    def ours_grad():
        leaves = [Tensor(p, requires_grad=True) for p in params]
        grad(loss(*leaves), leaves)

    tasks = {
        "ours": {
            "forward": ours_forward,
            "gradient": ours_grad,
            "jvp": lambda: func.jvp(loss, ps, ts),
            "hvp": lambda: func.hvp(loss, ps, ts),
        }
    }
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            if threads:
                torch.set_num_threads(threads)
            tloss, tps = _torch_loss_fn(params, x, y)
            tts = [torch.from_numpy(t) for t in tangents]
            tf = torch.func

            def torch_forward():
                with torch.no_grad():
                    tloss(*tps)

            def torch_grad():
                leaves = [p.detach().requires_grad_() for p in tps]
                torch.autograd.grad(tloss(*leaves), leaves)

            argnums = tuple(range(len(tps)))
            tasks["torch"] = {
                "forward": torch_forward,
                "gradient": torch_grad,
                "jvp": lambda: tf.jvp(tloss, tuple(tps), tuple(tts)),
                "hvp": lambda: tf.jvp(tf.grad(tloss, argnums), tuple(tps), tuple(tts)),
            }
    flat = [(e, t, fn) for e, d in tasks.items() for t, fn in d.items()]
    times: dict[tuple[str, str], list[float]] = {(e, t): [] for e, t, _ in flat}
    with threadpool_limits(limits=threads):
        for i in range(warmup + steps):
            order = flat if i % 2 == 0 else flat[::-1]
            for e, t, fn in order:
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    times[(e, t)].append(time.perf_counter() - t0)
    return {e: {t: float(np.median(times[(e, t)])) for t in d} for e, d in tasks.items()}


def report_higher(results: dict[str, dict[str, float]], sizes, batch: int, dtype: str, steps: int) -> str:
    """A table of :func:`run_higher`'s medians and the ratios a learner asks about."""
    lines = [
        f"MLP {'-'.join(map(str, sizes))} loss, batch {batch}, {dtype}, with respect to all parameters; "
        f"median of {steps} interleaved runs each",
        f"{'engine':8} {'forward':>9} {'gradient':>9} {'jvp':>9} {'hvp':>9}   {'jvp/forward':>11} {'hvp/gradient':>12}",
        "-" * 76,
    ]
    for engine, r in results.items():
        lines.append(
            f"{engine:8} "
            + " ".join(f"{r[t] * 1e3:7.3f}ms" for t in ("forward", "gradient", "jvp", "hvp"))
            + f"   {r['jvp'] / r['forward']:11.2f} {r['hvp'] / r['gradient']:12.2f}"
        )
    lines.append(
        "(jvp: forward mode, one pass carrying tangents; hvp: forward mode over the recorded gradient; "
        "torch: torch.func.jvp and jvp(grad))"
    )
    return "\n".join(lines)
