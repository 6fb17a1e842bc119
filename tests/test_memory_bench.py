"""Memory stays flat over an epoch and each step's graph is freed; the bench command's
report is built from its measurements (no timings are asserted here)."""

from __future__ import annotations

import gc
import re
import tracemalloc
import warnings
import weakref
from collections import Counter

import numpy as np
import psutil
import pytest

from tinygrad_mlp import bench, nn, optim
from tinygrad_mlp.cli import main
from tinygrad_mlp.tensor import Tensor


def test_an_epoch_keeps_memory_flat_and_frees_each_graph():
    rng = np.random.default_rng(0)
    model = nn.MLP(rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1)
    xs = [rng.random((125, 784), dtype=np.float32) for _ in range(4)]
    ys = [nn.one_hot(rng.integers(0, 10, 125)) for _ in range(4)]
    process = psutil.Process()
    gc.collect()
    gc.disable()  # reference counting alone must free every step's graph
    tracemalloc.start()
    try:
        for step in range(1, 481):
            out = model(Tensor(xs[step % 4]))
            loss = nn.sse_loss(out, ys[step % 4])
            opt.zero_grad()
            loss.backward()
            opt.step()
            graph = [weakref.ref(loss), weakref.ref(out), weakref.ref(out._ctx), weakref.ref(out.parents[0])]
            del out, loss
            assert all(r() is None for r in graph), f"step {step}'s graph outlived the step"
            if step == 10:
                traced_10, rss_10 = tracemalloc.get_traced_memory()[0], process.memory_info().rss
        traced_480, rss_480 = tracemalloc.get_traced_memory()[0], process.memory_info().rss
    finally:
        tracemalloc.stop()
        gc.enable()
    assert traced_480 - traced_10 < 16 * 1024, (traced_10, traced_480)  # numpy reports its buffers here
    assert rss_480 - rss_10 < 8 * 1024 * 1024, (
        rss_10,
        rss_480,
    )  # allocator slack; tracemalloc is the exact check


def test_bench_report_is_built_from_the_measurements():
    results = bench.run(sizes=(784, 16, 10), batch=8, dtypes=("float32",), steps=5, warmup=1, use_torch=False)
    assert [r.engine for r in results] == ["autograd", "manual", "rules", "jit", "tight", "gemm"]
    assert all(r.dtype == "float32" for r in results)
    assert all(r.median > 0 and r.steps == 5 for r in results)
    text = bench.report(results, batch=8)
    ratio = results[0].median / results[1].median
    assert f"autograd/manual = {ratio:.3f}" in text
    assert "an epoch is 7500 steps of 8" in text
    rules, compiled, tight, gemm = (r.median for r in results[2:6])
    assert f"rules/tight = {rules / tight:.3f}, rules/gemm = {rules / gemm:.3f} (float32)" in text
    assert f"jit/tight = {compiled / tight:.3f}, jit/gemm = {compiled / gemm:.3f}" in text


def test_the_gemm_floor_multiplies_real_numbers():
    # np.empty garbage would be what the floor multiplies: NaN (numpy warns) or subnormal
    # numbers (slower products than a real step's, so a wrong floor)
    model = nn.MLP((784, 16, 8, 10), rng=np.random.default_rng(0))
    for trial in range(3):
        np.empty((1 << 16,), np.float32).fill(np.nan)  # freed memory the floor might be handed
        step = bench._gemm_engine(model, batch=8)
        step(np.random.default_rng(trial).random((8, 784), dtype=np.float32), None)
        for group in step.arrays:
            for a in group:
                assert np.all(np.isfinite(a)) and np.all(np.abs(a[a != 0]) > np.finfo(np.float32).tiny)


def test_a_step_whose_sigmoid_saturates_times_without_warnings():
    # lr 100 drives the pre-activations far below -88: the hand-written steps' exp
    # overflows (to the right answer, sigmoid 0), which must not print warnings in the report
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = bench.run(
            sizes=(784, 8, 10), batch=8, dtypes=("float32",), steps=30, warmup=1, use_torch=False, lr=100.0
        )
    assert len(results) == 6


def test_profile_parts_add_up():
    totals = bench.profile(sizes=(784, 16, 10), batch=8, steps=5)
    assert 0 < totals["op backward"] < totals["backward total"]
    text = bench.profile_report(totals, steps=5)
    parts = [float(line.split()[-2]) for line in text.splitlines()[2:6]]
    total = float(text.splitlines()[6].split()[-1])
    assert abs(sum(parts) - total) < 0.5


def test_bench_command(capsys):
    assert (
        main(
            [
                "bench",
                "--sizes",
                "784,8,10",
                "--batch-size",
                "4",
                "--steps",
                "3",
                "--dtype",
                "float64",
                "--no-torch",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "float64  manual" in out and "autograd/manual = " in out


def test_bench_times_only_the_engines_asked_for(capsys):
    args = ["bench", "--sizes", "784,8,10", "--batch-size", "4", "--steps", "3", "--dtype", "float32"]
    assert main([*args, "--engines", "autograd,jit", "--loss", "generic"]) == 0
    out = capsys.readouterr().out
    assert "float32  autograd" in out and "float32  jit" in out and "autograd/jit = " in out
    assert not any(f"float32  {name}" in out for name in ("manual", "rules", "tight", "gemm", "torch"))
    assert "PyTorch is not installed" not in out  # (it was not asked for)
    results = bench.run(sizes=(784, 8, 10), batch=4, dtypes=("float32",), steps=2, engines=("gemm",))
    assert [r.engine for r in results] == ["gemm"]


@pytest.mark.parametrize(
    ("flags", "blas", "cores", "note", "header"),
    [
        ([], 2, 2, True, "2 BLAS threads"),  # BLAS takes every core: warn
        ([], 4, 2, True, "4 BLAS threads"),
        ([], 2, 8, False, "2 BLAS threads"),  # cores to spare
        ([], 1, 2, False, "1 BLAS thread"),
        (["--threads", "1"], 2, 2, False, "1 BLAS thread"),  # the user chose
    ],
)
def test_bench_names_its_blas_threads_and_warns_when_they_take_every_core(
    monkeypatch, capsys, flags, blas, cores, note, header
):
    monkeypatch.setattr(bench, "_blas_threads", lambda: blas)
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    argv = ["bench", "--sizes", "784,8,10", "--batch-size", "4", "--steps", "2", "--dtype", "float32"]
    assert main([*argv, "--no-torch", *flags]) == 0
    out = capsys.readouterr().out
    assert ("--threads 1 gives steadier ones" in out) is note
    assert f"2 steps per engine and dtype, {header}\n" in out


def test_the_tight_hand_written_step_is_the_same_step_as_autograd():
    import numpy as np

    rng = np.random.default_rng(0)
    sizes = (12, 8, 5, 3)
    model, auto = bench._autograd_engine(sizes, np.dtype("float64"), 0.1, rng, "generic")
    tight = bench._tight_engine(model, 0.1)
    xs, ys = bench._batches(sizes, 4, "float64", 2, rng)
    for x, y in zip(xs, ys):
        auto(x, y)
        tight(x, y)
    for layer, (w, b) in zip(model.layers, tight.params):
        np.testing.assert_allclose(w, layer.W.data, rtol=1e-12)
        np.testing.assert_allclose(b, layer.b.data, rtol=1e-12)


@pytest.mark.parametrize("passes", ["rules", "jit"])
@pytest.mark.parametrize("loss", ["generic", "sse"])
def test_the_rules_and_the_jit_are_the_same_step_as_autograd(loss, passes):
    # the floors of the engine's bookkeeping must compute what the engine computes, or their
    # times say nothing about the engine's
    rng = np.random.default_rng(0)
    sizes = (12, 8, 5, 3)
    model, auto = bench._autograd_engine(sizes, np.dtype("float64"), 0.1, rng, loss)
    before = [p.data.copy() for p in model.parameters()]
    loss_fn = bench._generic_loss if loss == "generic" else nn.sse_loss
    step = bench._jit_engine(model, loss_fn, 0.1, passes=() if passes == "rules" else bench.PASSES)
    xs, ys = bench._batches(sizes, 4, "float64", 4, rng)
    for x, y in zip(xs, ys):
        auto(x, y)
        step(x, y)
    assert step.traces == 2  # the last two steps replayed the compiled program
    for mine, p, old in zip(step.params, model.parameters(), before):
        assert not np.allclose(p.data, old)  # the steps moved the weights
        np.testing.assert_allclose(mine, p.data, rtol=1e-12)
    # its own copy: recording the step left the autograd model untouched
    assert all(mine is not p.data for mine, p in zip(step.params, model.parameters()))
    # and numpy's global random state (a caller's seeded stream) untouched too
    np.random.seed(1)
    expected = np.random.random()
    np.random.seed(1)
    bench._jit_engine(model, nn.sse_loss, 0.1)(xs[0], ys[0])
    assert np.random.random() == expected
    # the generated step reads as the graph: one line per numpy call, each naming its op
    ops = re.findall(r"# (\w+) forward", step.source)
    assert [o for i, o in enumerate(ops) if i == 0 or ops[i - 1] != o][:3] == ["matmul", "add", "sigmoid"]
    assert "sub forward" in step.source if loss == "generic" else "half_sse forward" in step.source


@pytest.mark.parametrize("n", range(1, 8))
def test_balanced_orders_let_each_engine_follow_each_other_equally_often(n):
    names = [f"e{i}" for i in range(n)]
    orders = bench.balanced_orders(names)
    assert len(orders) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(order) == names for order in orders)
    follows = Counter((a, b) for order in orders for a, b in zip(order, order[1:]))
    assert len(follows) == n * (n - 1)  # every ordered pair ...
    assert len(set(follows.values())) <= 1  # ... equally often
    places = Counter((order.index(name), name) for order in orders for name in order)
    assert set(places.values()) == {len(orders) // n}  # and each engine in each place
