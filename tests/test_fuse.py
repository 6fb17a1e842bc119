"""The fuse pass (tinygrad_mlp/jit/fuse.py, cc.py): runs of elementwise calls as generated C
loops that compute exactly what numpy computes, report floating-point exceptions as numpy
does, keep the rules' traps, and leave the program to numpy where no compiler works."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn, optim
from tinygrad_mlp.jit import PASSES, LateGuardError, cc, fuse, jit

NUMPY_PASSES = PASSES[: PASSES.index("fuse")]
FUSED = cc.unavailable() is None


def test_ci_has_a_compiler():
    # .ci/run installs gcc: on CI the kernels are built and tested, not left out
    if os.environ.get("CI"):
        assert cc.unavailable() is None


def _pair(sizes, dtype, opt="sgd", activation="sigmoid", loss=None):
    """The same step, compiled with every pass and without fuse, on two copies of one model."""
    loss = loss or (lambda out, y: 0.5 * ((out - y) ** 2).sum())
    steps = []
    for passes in (PASSES, NUMPY_PASSES):
        model = nn.MLP(sizes, activation=activation, dtype=dtype, rng=np.random.default_rng(0))
        o = {"sgd": optim.SGD(model.parameters(), lr=0.1), "adam": optim.Adam(model.parameters(), lr=0.01)}[
            opt
        ]

        steps.append((jit(_step(model, o, loss), passes=passes), model, o))
    return steps


def _step(model, o, loss):
    from test_jit import _step_of  # (the eager step, as the jit tests write it)

    return _step_of(model, o, loss)


def _data(sizes, dtype, n=6, batch=13, seed=1):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, sizes[0])).astype(dtype) for _ in range(n)]
    ys = [nn.one_hot(rng.integers(0, sizes[-1], batch), sizes[-1], dtype) for _ in range(n)]
    return xs, ys


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize(
    "sizes",
    [(20, 16, 8, 5), (9, 7, 1), (33, 17, 3)],  # a one-column sum (left to numpy), widths not a multiple of 8
)
def test_fused_step_is_bit_for_bit_the_numpy_step(sizes, dtype, opt):
    (fused, m1, o1), (plain, m2, o2) = _pair(sizes, dtype, opt)
    for x, y in zip(*_data(sizes, dtype)):
        a, b = fused(x, y), plain(x, y)
        assert a.data.tobytes() == b.data.tobytes()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert p.data.tobytes() == q.data.tobytes() and p.grad.tobytes() == q.grad.tobytes()
    for (k, a), (_, b) in zip(sorted(o1.state_dict().items()), sorted(o2.state_dict().items())):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), k
    assert not plain.last.plan.fused
    if FUSED:
        assert fused.last.plan.fused  # (and so the comparison above compared C with numpy)
        assert fused.stats["fuse"]["calls"] < fused.stats["buffers"]["calls"]
    else:
        assert fused.changes["fuse"][0].startswith("not applied")


@pytest.mark.skipif(not FUSED, reason="no C compiler here: test_a_machine_without_a_compiler covers it")
def test_the_sigmoid_mlp_step_is_a_few_kernels_between_its_products():
    (fused, _, _), _ = _pair((20, 16, 8, 5), np.float32)
    for x, y in zip(*_data((20, 16, 8, 5), np.float32, n=3)):
        fused(x, y)
    groups = list(fused.last.plan.fused.values())
    # per layer: bias + negate, then 1 / (1 + e) around the exp; per layer the slope with its
    # bias gradient; one update of every parameter
    assert len(groups) == 3 * 2 + 3 + 1
    update = groups[-1]
    assert len(update.members) == 12 and len(update.loops) == 6
    assert "long k0(char **data)" in fused.kernels and "feclearexcept" in fused.kernels
    assert "s1[j]" in fused.kernels  # the bias, read along the row
    # each line commented with the value it computes, in the generated Python's names
    assert re.search(
        r"s0\[k\] \+ s1\[j\];  /\* add\d+ = matmul\d+ \+ layers_0_b  \(add forward\) \*/", fused.kernels
    )
    assert "(sigmoid vjp, trapped: inf * 0)" in fused.kernels
    assert "row 0 */" in fused.kernels  # the bias gradient summed in the slope's loop, from row 0
    assert fused.source.count("_kernel(_k") == len(groups)
    assert "#   layers_0_W -= tmp" in fused.source  # each kernel's numpy calls, as comments
    stats = fused.stats
    # the update's temporaries and the values between the fused calls live in registers now
    assert stats["fuse"]["buffer_bytes"] < stats["buffers"]["buffer_bytes"]
    assert stats["fuse"]["peak_bytes"] < stats["buffers"]["peak_bytes"]
    note = " ".join(fused.changes["fuse"])
    assert (
        "k0: 2 calls in one C function, over 1 shape" in note and "1 of 2 results kept in registers" in note
    )
    assert "bytes no longer needed" in note
    dot = fused.draw()
    assert dot.source.count("subgraph cluster_k") == len(groups)


def test_the_kernels_report_floating_point_exceptions_as_numpy_does():
    # a learning rate that overflows the update: numpy warns, raises or says nothing as asked
    def make(passes):
        w = Tensor(np.full((4, 3), 2.0, np.float32), requires_grad=True)
        b = Tensor(np.ones(3, np.float32), requires_grad=True)
        o = optim.SGD([w, b], lr=3e38)

        def step(x):
            o.zero_grad()
            loss = ((Tensor(x) @ w + b) ** 2).sum()
            loss.backward()
            o.step()
            return loss

        return jit(step, passes=passes), w, b

    x = np.ones((2, 4), np.float32)
    stopped = {}
    for passes in (PASSES, NUMPY_PASSES):
        step, w, b = make(passes)
        with np.errstate(all="ignore"):
            step(x), step(x)  # recorded, then compiled
        w.data[...], b.data[...] = 2.0, 1.0
        with pytest.warns(RuntimeWarning, match="overflow encountered"):
            step(x)
        assert np.isinf(w.data).any()
        w.data[...], b.data[...] = 2.0, 1.0
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("error")
            step(x)  # (ignored: no warning to turn into an error)
        # where numpy stops at the exception (raise; a warning made an error), the step stops
        # where numpy's calls stop, before the update writes: the program without kernels runs
        for stop in ("raise", "warning as error"):
            w.data[...], b.data[...] = 2.0, 1.0
            traces = step.traces
            with warnings.catch_warnings(), np.errstate(over="raise" if stop == "raise" else "warn"):
                warnings.simplefilter("error")
                with pytest.raises(
                    (FloatingPointError, RuntimeWarning), match="overflow encountered in multiply"
                ):
                    step(x)
            stopped[passes, stop] = (w.data.tobytes(), b.data.tobytes())
            assert step.traces == traces  # (not taken for a trap that recompiles)
        if FUSED and passes == PASSES:
            assert step.last.plan.fused and step.last.plain is not None
    for stop in ("raise", "warning as error"):
        assert stopped[PASSES, stop] == stopped[NUMPY_PASSES, stop]


def test_report_reads_numpy_error_state():
    with np.errstate(all="ignore"):
        fuse.report(1 | 2 | 4 | 8, "k0")  # nothing
    with (
        np.errstate(divide="raise"),
        pytest.raises(FloatingPointError, match="divide by zero encountered in k0"),
    ):
        fuse.report(1, "k0")
    seen = []
    with np.errstate(invalid="call"):
        old = np.seterrcall(lambda kind, flag: seen.append((kind, flag)))
        try:
            fuse.report(8, "k0")
        finally:
            np.seterrcall(old)
    assert seen == [("invalid value", 8)]
    from tinygrad_mlp.jit.codegen import GuardFailed

    with pytest.raises(GuardFailed):
        fuse.report(fuse.TRAP, "k0")
    with pytest.raises(LateGuardError, match="late"):
        fuse.report(fuse.TRAP | 2, "k0", "late")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_trap_inside_a_kernel_takes_the_rules_other_branch(dtype):
    # the sigmoid slope's e * s is inf * 0 at a = -inf: trapped in the kernel's loop, the
    # compiled step records the careful branch (slope 0 there), as the eager step takes it
    def make(passes):
        p = Tensor(np.linspace(-3, 3, 12).astype(dtype).reshape(3, 4), requires_grad=True)
        o = optim.SGD([p], lr=0.1)

        def step(x):
            o.zero_grad()
            loss = ((Tensor(x) + p).sigmoid() * 2.0).sum()
            loss.backward()
            o.step()
            return loss

        return step, p

    eager, p1 = make(None)
    compiled, p2 = make(PASSES)
    compiled = jit(compiled)
    x = np.ones((3, 4), dtype)
    for k in range(4):
        if k == 3:
            x = x.copy()
            x[1, 2] = -np.inf  # (x + p)[1, 2] = -inf
        with np.errstate(invalid="ignore", over="ignore"):
            a, b = eager(x), compiled(x)
        assert a.data.tobytes() == b.data.tobytes()
        assert p1.grad.tobytes() == p2.grad.tobytes() and p1.data.tobytes() == p2.data.tobytes()
    assert p2.grad[1, 2] == 0 and compiled.traces == 3
    if FUSED:
        traps = [
            g for c in compiled.cache[next(iter(compiled.cache))] for g in c.plan.fused.values() if g.trap
        ]
        assert traps  # the trap ran inside a kernel
        assert "trap |=" in compiled.cache[next(iter(compiled.cache))][-1].kernels


@pytest.mark.skipif(not FUSED, reason="no C compiler here: test_a_machine_without_a_compiler covers it")
def test_a_trap_in_a_kernel_after_the_state_was_written_is_a_late_guard_error():
    model = nn.MLP((6, 5, 4), dtype=np.float64, rng=np.random.default_rng(0))
    o = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y, z):
        o.zero_grad()
        nn.mse_loss(model(Tensor(x)), y).backward()
        o.step()  # written here ...
        out = model(Tensor(z))
        out.sum().backward()  # ... and the slope's trap after it
        return out

    compiled = jit(step)
    rng = np.random.default_rng(2)
    x, y = rng.random((3, 6)), rng.random((3, 4))
    for _ in range(3):
        compiled(x, y, x)
    assert any(g.trap for g in compiled.last.plan.fused.values())
    z = x.copy()
    z[0, 0] = -np.inf
    model.layers[0].W.data[0, :] = 1.0  # so the first pre-activation is -inf
    with np.errstate(invalid="ignore", over="ignore"), pytest.raises(LateGuardError, match="already updated"):
        compiled(x, y, z)


def test_a_parameter_that_is_no_longer_contiguous_compiles_again():
    (fused, m1, _), (plain, m2, _) = _pair((20, 16, 8, 5), np.float32)
    xs, ys = _data((20, 16, 8, 5), np.float32)
    for x, y in zip(xs[:3], ys[:3]):
        fused(x, y), plain(x, y)
    traces = fused.traces
    for m in (m1, m2):
        m.layers[0].W.data = np.asfortranarray(m.layers[0].W.data)  # a kernel reads it as one block
    for x, y in zip(xs[3:], ys[3:]):
        assert fused(x, y).data.tobytes() == plain(x, y).data.tobytes()
    assert fused.traces > traces
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


def test_a_machine_without_a_compiler(monkeypatch, tmp_path):
    monkeypatch.setattr(cc, "_state", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang either
    assert "no C compiler" in cc.unavailable()
    (fused, m1, _), (plain, m2, _) = _pair((20, 16, 8, 5), np.float32)
    for x, y in zip(*_data((20, 16, 8, 5), np.float32, n=3)):
        assert fused(x, y).data.tobytes() == plain(x, y).data.tobytes()
    assert fused.changes["fuse"] == ["not applied: no C compiler (set CC, or install gcc)"]
    assert fused.kernels == "" and "_kernel(" not in fused.source
    monkeypatch.setenv("TINYGRAD_MLP_FUSE", "0")
    assert cc.unavailable() == "TINYGRAD_MLP_FUSE=0"


def test_a_compiler_that_fails_on_the_kernels_leaves_numpy_calls(monkeypatch):
    def broken(source, names):
        raise OSError("cc -O3 failed: k0.c:3: error: something")

    monkeypatch.setattr(cc, "kernels", broken)
    (fused, m1, _), (plain, m2, _) = _pair((20, 16, 8, 5), np.float32)
    for x, y in zip(*_data((20, 16, 8, 5), np.float32, n=3)):
        assert fused(x, y).data.tobytes() == plain(x, y).data.tobytes()
    if FUSED:
        assert fused.changes["fuse"] == ["not applied: cc -O3 failed: k0.c:3: error: something"]
    assert fused.kernels == "" and "_kernel(" not in fused.source
    assert fused.stats["fuse"]["calls"] == fused.stats["buffers"]["calls"]


@pytest.mark.skipif(not FUSED, reason="no C compiler here")
def test_built_libraries_are_cached_and_a_failed_build_names_the_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cc, "_state", {})
    monkeypatch.setenv("TINYGRAD_MLP_CACHE", str(tmp_path))
    source = "long k0(char **data) { return 7; }\n"
    lib, addresses = cc.kernels(source, ["k0"])
    built = list((tmp_path / "kernels").glob("kernels_*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    cc.kernels(source, ["k0"])
    assert built[0].stat().st_mtime_ns == stamp  # not built again
    assert [p.name for p in (tmp_path / "kernels").iterdir() if p.is_dir()] == []  # no leftovers
    with pytest.raises(OSError, match="error"):
        cc.build("long k0(char **data) { return x; }\n", "broken", cc.KERNEL_FLAGS)
    assert not list((tmp_path / "kernels").glob("broken_*"))  # nothing half-written
    run = cc.runtime().run
    good = np.zeros(3, np.float32)
    spec = np.array([[np.dtype(np.float32).num, 3, 1]], np.int64).tobytes()
    assert run(addresses["k0"], spec, good) == 7
    for bad in (
        np.zeros(3, np.float64),  # another dtype
        np.zeros(4, np.float32),  # another size
        np.zeros(6, np.float32)[::2],  # not contiguous
        [0.0, 0.0, 0.0],  # not an array
    ):
        with pytest.raises(TypeError, match="fused kernel's array 0"):
            run(addresses["k0"], spec, bad)
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writeable"):
        run(addresses["k0"], spec, frozen)
    with pytest.raises(TypeError, match="3 int64 per array"):
        run(addresses["k0"], b"", good)


def test_a_loop_never_reads_memory_a_stored_value_of_that_loop_overwrites():
    # a row vector read at every row, in the buffer a value of the same loop is stored into:
    # the kernel is cut there (else row 0's store would change what row 1 reads)
    from tinygrad_mlp.jit import Compiled
    from tinygrad_mlp.jit.capture import record
    from tinygrad_mlp.jit.fuse import Group, _Fuser

    p = Tensor(np.random.default_rng(0).random((5, 4)), requires_grad=True)

    def step(x):
        h = Tensor(x) * p
        out = ((h - h.mean(axis=0)) * 3.0 + 1.0) * p  # a row read along rows; values of [5, 4]
        out.sum().backward()
        return out

    _, program = record(step, (np.random.default_rng(1).random((5, 4)),), {})
    plan = Compiled(program, NUMPY_PASSES, "step").plan
    fuser = _Fuser(plan)
    runs = [r for r in fuser.runs() if len(r) >= 2]

    def conflicts(members):
        g = Group(members=members)
        fuser.plan_group(g)
        return fuser.conflict(g)

    assert runs and all(conflicts(r) is None for r in fuser.groups() for r in [r.members])
    fuser.key = lambda v: ("buffer", 0)  # every value in one memory, as planning may reuse a buffer
    assert any(conflicts(r) is not None for r in runs)
    groups = fuser.groups()
    assert all(conflicts(g.members) is None for g in groups)
    assert sum(len(g.members) for g in groups) < sum(len(r) for r in runs)  # cut where they met


# ---------------------------------------------------------------- steps that once broke it
# (found by a review that tried to break the pass; each is compared, bit for bit, with the same
# step compiled without fuse, through one checker)


def _same_as_numpy(make, calls):
    """``make(passes) -> (step, tensors)``; ``calls``: the argument tuples, in order. The step
    compiled with fuse and without it give the same results and leave the same tensors."""
    seen = {}
    for passes in (PASSES, NUMPY_PASSES):
        step, tensors = make(passes)
        outs = []
        with np.errstate(all="ignore"):
            for args in calls:
                try:
                    out = step(*args)
                    outs.append(None if out is None else np.asarray(out.data).tobytes())
                except Exception as exc:  # (the same error, both ways)
                    outs.append(f"{type(exc).__name__}: {str(exc)[:60]}")
        state = [(t.data.tobytes(), None if t.grad is None else t.grad.tobytes()) for t in tensors]
        seen[passes] = (outs, state, step)
    assert seen[PASSES][0] == seen[NUMPY_PASSES][0]
    assert seen[PASSES][1] == seen[NUMPY_PASSES][1]
    return seen[PASSES][2]


def _values_stored_into_reused_buffers(passes):
    rng = np.random.default_rng(0)
    W, b = (
        Tensor(rng.standard_normal((4, 6)), requires_grad=True),
        Tensor(rng.standard_normal(6), requires_grad=True),
    )

    def step(x):
        W.grad = b.grad = None
        v = ((Tensor(x) @ W) * b + 1.0) * 2.0  # a value stored where a register value's buffer was
        loss = (v * v).sum()
        loss.backward()
        return loss

    return jit(step, passes=passes), [W, b]


def _two_shapes_in_one_buffer(passes):
    rng = np.random.default_rng(0)
    W, W2 = Tensor(rng.standard_normal((4, 6)), requires_grad=True), Tensor(rng.standard_normal((4, 70)))
    b = Tensor(rng.standard_normal(6), requires_grad=True)

    def step(x):
        m, m2 = Tensor(x) @ W, Tensor(x) @ W2
        t = m + b * 2.0
        u = m2 * 3.0 + 1.0  # a (5, 70) value in the flat buffer a (6,) one had
        return u.sum() + t.sum() + m2.sum()

    return jit(step, passes=passes), [W, b]


def _float32_and_float64_parameters(passes):
    a = Tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True)
    c = Tensor(np.linspace(-1, 1, 6, dtype=np.float64), requires_grad=True)
    o = optim.SGD([a, c], lr=0.1)

    def step():
        o.zero_grad()
        ((a * a).sum() + (c * c).sum()).backward()
        o.step()  # one run of updates over both dtypes: two kernels

    return jit(step, passes=passes), [a, c]


def _fortran_ordered_arguments(passes):
    p = Tensor(np.ones(256), requires_grad=True)
    o = optim.SGD([p], lr=0.01)

    def step(x):
        o.zero_grad()
        h = Tensor(x) * 0.5  # 1 MiB: numpy's array, in the argument's layout
        loss = ((h + p) * 3.0 - 1.0).sum()
        loss.backward()
        o.step()
        return loss

    return jit(step, passes=passes), [p]


def _a_deep_narrow_network(passes):  # one update of 270 arrays: more than one kernel call takes
    model = nn.MLP((2,) * 46, activation="tanh", rng=np.random.default_rng(0))
    o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return jit(_step(model, o, nn.mse_loss), passes=passes), model.parameters()


def _an_empty_batch(passes):
    model = nn.MLP((3, 4, 2), rng=np.random.default_rng(0))
    o = optim.SGD(model.parameters(), lr=0.1)
    return jit(_step(model, o, lambda out, y: ((out - y) ** 2).sum()), passes=passes), model.parameters()


_rng = np.random.default_rng(3)
_x = _rng.standard_normal((5, 4))
_big = _rng.standard_normal((512, 256))
BROKE = {
    "values stored into reused buffers": (_values_stored_into_reused_buffers, [(_x,)] * 3),
    "two shapes in one buffer": (_two_shapes_in_one_buffer, [(_x,)] * 3),
    "float32 and float64 parameters": (_float32_and_float64_parameters, [()] * 3),
    "fortran-ordered arguments": (_fortran_ordered_arguments, [(_big,), (_big,), (np.asfortranarray(_big),)]),
    "a deep narrow network": (_a_deep_narrow_network, [(_rng.random((3, 2)), _rng.random((3, 2)))] * 3),
    "an empty batch": (_an_empty_batch, [(np.zeros((0, 3)), np.zeros((0, 2)))] * 3),
}


@pytest.mark.parametrize("case", BROKE)
def test_steps_that_once_broke_the_pass_match_numpy(case):
    make, calls = BROKE[case]
    step = _same_as_numpy(make, calls)
    if FUSED and case not in ("an empty batch", "fortran-ordered arguments"):  # (those: nothing to fuse)
        assert step.last.plan.fused
    if FUSED and case == "a deep narrow network":
        assert max(len(g.slots) for g in step.last.plan.fused.values()) <= fuse.MAX_ARRAYS


def test_a_trap_after_a_write_in_one_run_is_a_late_guard_error():
    # the write (q *= 0.5) and the slope's trap are consecutive elementwise calls: they are not
    # one kernel, so a trap that fails still comes after the write, as in numpy's program
    def make(passes):
        p = Tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
        q = Tensor(np.ones((3, 4)))
        o = optim.SGD([p], lr=0.1)

        def step(x):
            o.zero_grad()
            loss = ((Tensor(x) + p).sigmoid() * q).sum()
            q.data *= 0.5
            loss.backward()
            o.step()
            return loss

        return jit(step, passes=passes), [p, q]

    x = np.ones((3, 4))
    late = x.copy()
    late[1, 2] = -np.inf
    step = _same_as_numpy(make, [(x,)] * 3 + [(late,)])
    with np.errstate(all="ignore"), pytest.raises(LateGuardError):
        step(late)


def test_a_failed_build_leaves_the_numpy_program_as_planned(monkeypatch):
    def broken(source, names):
        raise OSError("cc failed: error: boom")

    (plain, _, _), _ = _pair((20, 16, 8, 5), np.float32, "adam")
    monkeypatch.setattr(cc, "kernels", broken)
    (fused, _, _), _ = _pair((20, 16, 8, 5), np.float32, "adam")
    for x, y in zip(*_data((20, 16, 8, 5), np.float32, n=3)):
        plain(x, y), fused(x, y)
    for key in ("allocations", "buffers", "buffer_bytes"):
        assert fused.stats["fuse"][key] == plain.stats["buffers"][key]  # (not fuse's trimmed plan)


def test_a_relative_cache_directory_survives_a_change_of_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(cc, "_state", {})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYGRAD_MLP_CACHE", "relcache")
    where = cc.cache_dir()
    assert where.is_absolute() and where == tmp_path / "relcache" / "kernels"


def _apply(op, u, v, c):
    if op in ("+", "-", "*"):
        return u + v if op == "+" else u - v if op == "-" else u * v
    if op == "/":
        return u / (v * v + 1.0)
    if op == "neg":
        return -u
    if op == "sq":
        return u**2
    if op == "rcp":
        return 1.0 / (u * u + 1.0)
    if op in ("sig", "tanh"):
        return u.sigmoid() if op == "sig" else u.tanh()
    if op == "sum0":
        return u.sum(axis=0) if u.ndim == 2 else u * c
    return u * c if op == "c*" else u + c


def _random_step(seed: int, dtype):
    """A random chain of elementwise ops, sums and broadcasts over a matmul, a bias, a row, a
    single value and a full array, with an SGD update of all of them: made so that runs of
    fusible calls meet buffers reused across shapes, in-place chains and values read later."""
    r = np.random.default_rng(seed)
    rows, cols = int(r.integers(1, 7)), int(r.integers(1, 9))
    params = [
        Tensor(r.standard_normal(shape).astype(dtype), requires_grad=True)
        for shape in ((4, cols), (cols,), (1, cols), (), (rows, cols))
    ]
    ops = [
        r.choice(["+", "-", "*", "/", "neg", "sq", "rcp", "sig", "tanh", "sum0", "c*", "c+"])
        for _ in range(10)
    ]
    picks = r.random((10, 2))
    consts = r.choice([2.0, 0.5, 3.0, -1.5], 10)

    def build(passes):
        params_copy = [Tensor(p.data.copy(), requires_grad=True) for p in params]
        o = optim.SGD(params_copy, lr=0.01)

        def step(x):
            o.zero_grad()
            pool = [Tensor(x) @ params_copy[0], *params_copy[1:]]
            for op, (a, b), c in zip(ops, picks, consts):
                pool.append(_apply(op, pool[int(a * len(pool))], pool[int(b * len(pool))], c))
            loss = pool[-1].sum() + pool[len(pool) // 2].sum() * 0.5
            loss.backward()
            o.step()
            return loss

        return jit(step, passes=passes), params_copy

    xs = [(r.standard_normal((rows, 4)).astype(dtype),) for _ in range(3)]
    return build, xs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_elementwise_steps_match_numpy_bit_for_bit(dtype):
    fused_any = 0
    for seed in range(24):
        build, xs = _random_step(seed, dtype)
        step = _same_as_numpy(build, xs)
        fused_any += bool(step.last.plan.fused)
    assert fused_any >= 20 or not FUSED  # (and so the comparisons compared kernels)
