"""The compiled step (tinygrad_mlp.jit): it computes what the eager step computes, each pass
does what it says, and what it cannot record is an error naming the line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings

import tinygrad_mlp
from tinygrad_mlp import Tensor, nn, optim
from tinygrad_mlp.jit import PASSES, ConcretizationError, LateGuardError, TraceError, jit

SIZES = (20, 16, 8, 5)
BATCH = 12

LOSSES = {
    "learner": lambda out, y: 0.5 * ((out - y) ** 2).sum(),
    "mse": nn.mse_loss,
    "cross_entropy": nn.cross_entropy,
    "sse": nn.sse_loss,  # the fused HalfSSE op
}
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
}


def _setup(activation="sigmoid", opt="sgd", dtype=np.float64, sizes=SIZES):
    model = nn.MLP(sizes, activation=activation, dtype=dtype, rng=np.random.default_rng(0))
    return model, OPTIMIZERS[opt](model.parameters())


def _step_of(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(Tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _batches(n=10, dtype=np.float64, batch=BATCH, classes=SIZES[-1], labels=False):
    rng = np.random.default_rng(1)
    xs = [rng.random((batch, SIZES[0])).astype(dtype) for _ in range(n)]
    ys = [rng.integers(0, classes, batch) for _ in range(n)]
    return xs, ys if labels else [nn.one_hot(y, classes, dtype) for y in ys]


def _agree(activation, loss, opt, dtype=np.float64, tol=1e-12, passes=PASSES):
    """Ten eager steps and ten compiled steps from the same weights: parameters, .grad,
    optimizer state and the returned loss agree; returns the compiled step."""
    (m1, o1), (m2, o2) = _setup(activation, opt, dtype), _setup(activation, opt, dtype)
    eager, compiled = _step_of(m1, o1, LOSSES[loss]), jit(_step_of(m2, o2, LOSSES[loss]), passes=passes)
    for x, y in zip(*_batches(dtype=dtype, labels=loss == "cross_entropy")):
        want, got = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(got.data, want.data, rtol=tol, atol=tol)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=tol, atol=tol)
        np.testing.assert_allclose(q.grad, p.grad, rtol=tol, atol=tol)
        assert q.data.dtype == dtype and q.grad.dtype == dtype
    for (k, a), (_, b) in zip(sorted(o1.state_dict().items()), sorted(o2.state_dict().items())):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol, err_msg=k)
    assert compiled.traces <= 2  # the first call, and the second (its .grad and buffers exist)
    return compiled


# ---------------------------------------------------------------- the same step


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", nn.ACTIVATIONS)
def test_compiled_and_eager_steps_agree(activation, loss, opt):
    _agree(activation, loss, opt)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_float32_steps_agree_bit_for_bit(opt):
    # Adam's bias corrections are Python numbers in the eager step; so they are when replayed
    _agree("relu", "cross_entropy", opt, dtype=np.float32, tol=0)


def test_without_passes_the_recorded_program_computes_the_same_step():
    compiled = _agree("sigmoid", "learner", "momentum", passes=())
    assert "out=B" not in compiled.source and "np.empty_like" in compiled.source  # the scratch, each call


def test_replayed_calls_run_the_compiled_program_not_the_function():
    model, opt = _setup()
    calls = []

    def step(x, y):
        calls.append(1) if False else None  # (a Python side effect would be refused; see the guards)
        return _step_of(model, opt, nn.mse_loss)(x, y)

    counted = jit(step)
    for x, y in zip(*_batches(5)):
        counted(x, y)
    assert counted.traces == 2 and len(counted.cache) == 1


def test_the_returned_tensor_and_grad_are_this_calls_and_stay():
    model, opt = _setup()
    step = jit(_step_of(model, opt, nn.mse_loss))
    xs, ys = _batches(4)
    for x, y in zip(xs[:3], ys[:3]):
        step(x, y)
    loss = step(xs[3], ys[3])
    kept_loss, kept_grad = float(loss.data), model.layers[0].W.grad
    kept_copy = kept_grad.copy()
    step(xs[0], ys[0])
    assert float(loss.data) == kept_loss  # a later call never changes what a caller kept
    np.testing.assert_array_equal(kept_grad, kept_copy)
    assert model.layers[0].W.grad is not kept_grad  # new arrays each call, as in the eager step
    assert loss._ctx is None and not loss.requires_grad


def test_tensor_arguments_are_read_at_every_call():
    (m1, o1), (m2, o2) = _setup(), _setup()
    eager, compiled = _step_of(m1, o1, nn.mse_loss), jit(_step_of(m2, o2, nn.mse_loss))
    for x, y in zip(*_batches(5)):
        want, got = eager(Tensor(x), Tensor(y)), compiled(Tensor(x), Tensor(y))  # new tensors each call
        assert float(got.data) == float(want.data)
    with pytest.raises(TypeError, match="by position"):
        compiled(x, y=y)


def test_each_signature_compiles_once_and_is_cached():
    model, opt = _setup()
    step = jit(_step_of(model, opt, nn.mse_loss))
    (x12, *_), (y12, *_) = _batches(1)
    (x7, *_), (y7, *_) = _batches(1, batch=7)
    for x, y in [(x12, y12)] * 3 + [(x7, y7)] * 3 + [(x12, y12)] * 2:
        step(x, y)
    # the first shape twice (.grad None, then arrays), the second once (.grad exists by then)
    assert step.traces == 3 and len(step.cache) == 2
    step(x12.astype(np.float32), y12)  # another dtype is another signature
    assert len(step.cache) == 3


def test_parameters_are_read_at_every_call_not_frozen():
    (m1, o1), (m2, o2) = _setup(), _setup()
    eager, compiled = _step_of(m1, o1, nn.mse_loss), jit(_step_of(m2, o2, nn.mse_loss))
    xs, ys = _batches(6)
    for x, y in zip(xs[:3], ys[:3]):
        eager(x, y), compiled(x, y)
    new = nn.MLP(SIZES, dtype=np.float64, rng=np.random.default_rng(5)).state_dict()
    m1.load_state_dict(new)
    m2.load_state_dict(new)  # copied into the same arrays
    m1.layers[1].W.data = m1.layers[1].W.data * 0.5
    m2.layers[1].W.data = m2.layers[1].W.data * 0.5  # a new array in the slot
    o1.lr = o2.lr = 0.2  # a new learning rate: compiled again
    for x, y in zip(xs[3:], ys[3:]):
        want, got = eager(x, y), compiled(x, y)
        assert float(got.data) == float(want.data)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(q.data, p.data)


def test_a_rule_branch_that_no_longer_holds_compiles_the_other_branch():
    # sigmoid's fast path holds while no exp can overflow; inputs of -1e6 take the other one
    (m1, o1), (m2, o2) = _setup(), _setup()
    eager, compiled = _step_of(m1, o1, nn.mse_loss), jit(_step_of(m2, o2, nn.mse_loss))
    xs, ys = _batches(6)
    for i, (x, y) in enumerate(zip(xs, ys)):
        x = x * -1e6 if i == 4 else x
        assert float(compiled(x, y).data) == float(eager(x, y).data)
    assert compiled.traces == 3
    programs = compiled.cache[next(iter(compiled.cache))]
    # the fast branch's guard is a trap on the exp itself (no pass over the input); the other
    # branch, recorded where the exp overflowed, checks that it still does
    assert "_fp = _set(_over); np.exp(" in programs[-1].source
    assert "if clean('over', np.exp, " in programs[0].source
    assert "np.minimum.reduce(" not in programs[-1].source


def test_a_trap_that_trips_leaves_numpy_error_state_as_it_was():
    (m1, o1), (m2, o2) = _setup(), _setup()
    eager, compiled = _step_of(m1, o1, nn.mse_loss), jit(_step_of(m2, o2, nn.mse_loss))
    xs, ys = _batches(4)
    for x, y in zip(xs[:3], ys[:3]):
        compiled(x, y), eager(x, y)
    with np.errstate(over="warn", invalid="ignore"):
        before = np.geterr()
        got, want = compiled(xs[3] * -1e6, ys[3]), eager(xs[3] * -1e6, ys[3])
        assert np.geterr() == before
    assert float(got.data) == float(want.data)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(q.data, p.data)


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(program=__import__("test_random_graphs").programs())
def test_random_graph_programs_compile_to_the_same_gradients(program):
    from test_random_graphs import ENGINE, run

    def grads(*arrays):
        leaves = [Tensor(a, requires_grad=True) for a in arrays]
        _, loss = run(program, leaves, ENGINE)
        loss.backward()
        return loss, tuple(leaf.grad for leaf in leaves)

    want_loss, want = grads(*program.leaves)
    compiled = jit(grads)
    for _ in range(2):
        got_loss, got = compiled(*program.leaves)
        np.testing.assert_allclose(got_loss.data, want_loss.data, rtol=1e-13, atol=1e-13)
        for g, w in zip(got, want):
            if w is None:
                assert g is None
            else:
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------- the passes


def _compiled(loss="learner", opt="sgd", passes=PASSES, body=None):
    model, optimizer = _setup(opt=opt)
    step = jit(body(model, optimizer) if body else _step_of(model, optimizer, LOSSES[loss]), passes=passes)
    for x, y in zip(*_batches(3)):
        step(x, y)
    return step


def test_dce_drops_the_gradient_of_the_input_batch():
    def body(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = nn.mse_loss(model(Tensor(x, requires_grad=True)), y)  # x.grad: nobody reads it
            loss.backward()
            opt.step()
            return loss

        return step

    step = _compiled(body=body)
    assert step.stats["dce"]["calls"] == step.stats["recorded"]["calls"] - 2  # x's matmul and its .T
    assert any(c.startswith("np.matmul (matmul vjp)") for c in step.changes["dce"])
    assert step.source.count("np.matmul(") == 3 + 3 + 2  # forward, dW, dX except for x


def test_fold_turns_a_repeated_constant_into_its_number():
    before, after = _compiled(passes=()), _compiled()
    assert "(12, 5) of np.float64(0.5) -> the number" in " ".join(after.changes["fold"])

    def constants(step):
        env = step.last.function.__globals__
        return [k for k, v in env.items() if k[0] == "C" and isinstance(v, np.ndarray) and v.size > 1]

    assert constants(before) and not constants(after)


def test_inplace_runs_elementwise_chains_in_place():
    step = _compiled(passes=("dce", "fold", "optimizer", "inplace"))
    assert step.stats["inplace"]["allocations"] < step.stats["optimizer"]["allocations"]
    # the sigmoid's negative is written into the pre-activation it reads (dead from there),
    # then exp'd in place
    assert re.search(
        r"(t\w*) = np\.negative\((add\d+), out=\2\)\s+# sigmoid forward\n\s+_fp = _set\(_over\); np\.exp\(\1, out=\1\)",
        step.source,
    )


def test_simplify_removes_the_squared_losss_doubling_and_halving():
    before, after = _compiled(passes=("dce", "fold")), _compiled()
    notes = " ".join(after.changes["simplify"])
    assert "(sub" in notes and "* 1 -> sub" in notes and ".sum() -> np.add.reduce" in notes
    assert after.stats["simplify"]["calls"] < after.stats["fold"]["calls"]
    # d(0.5 * sum(d**2))/dd = (d + d) * 0.5 = d: no add of a value to itself is left
    assert re.search(r"np\.add\((\w+), \1", before.source)
    assert not re.search(r"np\.add\((\w+), \1", after.source)
    assert ".sum(" not in after.source and "np.add.reduce(" in after.source
    assert re.search(r"f64_1_0", after.source)  # the sigmoid's 1 as a typed 0-d constant


def test_tiling_keeps_a_large_update_temporary_small_and_the_step_the_same():
    sizes = (600, 256, 10)  # the first weight: 600 x 256 float64, 1.2 MB (tiles from 1 MiB)
    (m1, o1), (m2, o2) = _setup(sizes=sizes), _setup(sizes=sizes)
    eager, compiled = _step_of(m1, o1, LOSSES["learner"]), jit(_step_of(m2, o2, LOSSES["learner"]))
    rng = np.random.default_rng(3)
    for _ in range(4):
        x, y = rng.random((8, 600)), nn.one_hot(rng.integers(0, 10, 8), 10)
        assert float(compiled(x, y).data) == float(eager(x, y).data)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(q.data, p.data)  # bit for bit: tiles compute the same numbers
    assert re.search(r"for _r in range\(0, 600, (\d+)\):", compiled.source)
    assert "layers_0_W[_r : _r + " in compiled.source
    note = " ".join(compiled.changes["tile"])
    assert "[600, 256] in " in note and "tiles" in note
    assert compiled.stats["tile"]["buffer_bytes"] <= compiled.stats["inplace"]["buffer_bytes"]


def test_a_branch_change_after_the_step_wrote_its_state_is_an_error_not_a_double_update():
    model, opt = _setup()

    def step(x, y, z):
        opt.zero_grad()
        nn.mse_loss(model(Tensor(x)), y).backward()
        opt.step()  # the parameters are written here ...
        return model(Tensor(z))  # ... and a sigmoid branch is taken after

    compiled = jit(step)
    xs, ys = _batches(4)
    for x, y in zip(xs[:3], ys[:3]):
        compiled(x, y, x)
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(LateGuardError, match="already updated state in place"):
        compiled(xs[3], ys[3], xs[3] * -1e6)  # the last forward's exp overflows now
    after = [p.data for p in model.parameters()]
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))  # it did write: said, not hidden


def test_np_copyto_is_recorded_as_an_in_place_write():
    def step(x):
        t = Tensor(x, requires_grad=True)
        y = t.sigmoid()  # x holds -1e6: the careful branch, with its np.copyto
        y.sum().backward()
        return y, t.grad

    compiled = jit(step)
    x = np.array([[-1e6, 0.5], [2.0, -3.0]])
    want_y, want_g = step(x)
    for _ in range(2):
        got_y, got_g = compiled(x)
    np.testing.assert_array_equal(got_y.data, want_y.data)
    np.testing.assert_array_equal(got_g, want_g)
    assert (
        "np.copyto(" in compiled.source and "out=" not in compiled.source.split("np.copyto(")[1].split(")")[0]
    )


def test_the_update_is_an_in_place_subtract_through_one_shared_temporary():
    step = _compiled(passes=PASSES[: PASSES.index("fuse")])  # (numpy's calls, before fusing them)
    assert "_scratch" not in step.source
    for name in ("layers_0_W", "layers_2_b"):
        assert re.search(rf"\n\s+{name} -= tmp\w*  # SGD step", step.source)
    temps = set(re.findall(r"tmp\w* = np\.multiply\(grad_\w+, f64_0_05, out=(B\d+)_", step.source))
    assert len(temps) < 8  # eight updates, their temporaries in fewer shared buffers


def test_buffer_planning_writes_into_reused_buffers():
    step = _compiled(opt="adam", passes=PASSES[: PASSES.index("fuse")])
    planned, before = step.stats["buffers"], step.stats["inplace"]
    assert planned["allocations"] < before["allocations"] / 2
    assert planned["buffers"] < len(re.findall(r"out=B\d+", step.source)) / 2  # buffers reused
    assert planned["peak_bytes"] <= step.stats["recorded"]["peak_bytes"] + planned["buffer_bytes"]


def test_source_and_stats_read_like_the_step():
    step = _compiled()
    lines = step.source.splitlines()
    assert lines[0] == "def step(args):"
    calls = [line for line in lines if "np." in line and "raise" not in line]
    assert all("  # " in line for line in calls)  # every numpy call says which op it came from
    assert any("# sigmoid forward -> sigmoid" in line for line in calls)
    assert any("# matmul vjp -> grad_layers.0.W" in line for line in calls)
    assert list(step.stats) == ["recorded", *PASSES]
    assert "recorded" in step.stats_table() and "buffers" in step.stats_table()


def test_the_compiled_program_draws():
    graphviz = pytest.importorskip("graphviz")
    step = _compiled()
    dot = step.draw()
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source.count("->") > len(step.last.plan.instrs)


def test_unknown_pass_is_named():
    with pytest.raises(ValueError, match="unknown pass 'fusion'"):
        jit(lambda x: x, passes=("fusion",))


@pytest.mark.parametrize("passes", [("buffers", "inplace"), ("dce", "dce"), tuple(reversed(PASSES))])
def test_passes_out_of_order_are_refused(passes):
    # each pass assumes those before it ran (buffers after inplace gave wrong weights)
    with pytest.raises(ValueError, match="passes must keep this order, each at most once: dce, fold"):
        jit(lambda x: x, passes=passes)


def test_adam_is_the_same_step_with_some_passes_only():
    # without buffer planning, the optimizer pass must keep an out= that also casts (Adam's
    # bias correction is a float64 number; its float32 update went through a float32 scratch)
    _agree(
        "sigmoid", "learner", "adam", dtype=np.float32, tol=0, passes=("dce", "fold", "simplify", "optimizer")
    )


def test_jit_is_exported_at_the_top_level():
    assert tinygrad_mlp.jit is jit


# ---------------------------------------------------------------- guards

model_g, opt_g = _setup()


def _python_on_value(kind):
    def step(x, y):
        opt_g.zero_grad()
        loss = nn.mse_loss(model_g(Tensor(x)), y)
        loss.backward()
        opt_g.step()
        if kind == "float":
            print(float(loss))  # LINE
        elif kind == "item":
            loss.item()  # LINE
        elif kind == "if":
            if loss > 0:  # LINE
                pass
        elif kind == "bool":
            bool(loss.data)  # LINE
        elif kind == "asarray":
            np.asarray(loss)  # LINE
        elif kind == "tolist":
            loss.numpy().tolist()  # LINE
        elif kind == "index":
            [0, 1][loss.numpy()]  # LINE
        return loss

    return step


@pytest.mark.parametrize("kind", ["float", "item", "if", "bool", "asarray", "tolist", "index"])
def test_python_that_needs_a_traced_value_names_the_users_line(kind):
    with open(__file__) as f:
        source = f.read().splitlines()
    start = next(i for i, line in enumerate(source) if f'kind == "{kind}"' in line)
    line = start + 2  # the line after the elif (1-based)
    said = {"float": "converted to a Python float", "item": r"read with \.item\(\)"}.get(kind, "")
    with pytest.raises(ConcretizationError, match=rf"{said}.*test_jit\.py:{line}\b"):
        jit(_python_on_value(kind))(*[a[0] for a in _batches(1)])


def test_a_python_side_effect_is_refused():
    model, opt = _setup()
    history = []

    def step(x, y):
        loss = _step_of(model, opt, nn.mse_loss)(x, y)
        history.append(loss)
        return loss

    with pytest.raises(TraceError, match="changed history"):
        jit(step)(*[a[0] for a in _batches(1)])


def test_changing_the_optimizer_in_python_is_refused():
    model, opt = _setup()

    def step(x, y):
        opt.lr = opt.lr * 0.9
        return _step_of(model, opt, nn.mse_loss)(x, y)

    with pytest.raises(TraceError, match=r"changed opt\.lr"):
        jit(step)(*[a[0] for a in _batches(1)])


def test_a_tensor_the_jit_cannot_reach_is_refused_not_frozen():
    class Holder:
        pass

    holder = Holder()
    holder.w = Tensor(np.ones((SIZES[0], 3)), requires_grad=True, name="hidden_w")

    def step(x):
        loss = (Tensor(x) @ holder.w).sum()
        loss.backward()
        return loss

    with pytest.raises(TraceError, match=r"reads a tensor 'hidden_w' of shape \(20, 3\) at .*test_jit\.py"):
        jit(step)(_batches(1)[0][0])


def test_a_traced_value_kept_past_the_step_is_refused():
    kept = {}

    def step(x):
        t = Tensor(x) * 2
        kept["t"] = t.data
        return t

    with pytest.raises(TraceError, match="changed kept"):
        jit(step)(_batches(1)[0][0])
    with pytest.raises(TraceError, match="outside the step"):
        kept["t"] + 1


def test_an_argument_of_another_kind_is_named():
    with pytest.raises(TraceError, match="argument 0 is a dict"):
        jit(lambda d: d)({})


def test_training_with_jit_matches_eager_training():
    from tinygrad_mlp.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    data = (
        rng.random((250, 784), dtype=np.float32),
        rng.integers(0, 10, 250),
        rng.random((50, 784), dtype=np.float32),
        rng.integers(0, 10, 50),
    )
    cfg = TrainConfig(epochs=2, batch_size=50, lr=0.5)
    results = []
    for use_jit in (False, True):
        model = nn.MLP(cfg.sizes, rng=np.random.default_rng(0))
        opt = optim.SGD(model.parameters(), lr=cfg.lr)
        results.append(
            fit(
                model,
                opt,
                cfg,
                data,
                np.random.default_rng(1),
                progress=False,
                log=lambda s: None,
                jit=use_jit,
            )
        )
    assert [r.loss for r in results[0]] == [r.loss for r in results[1]]
    assert [r.test_acc for r in results[0]] == [r.test_acc for r in results[1]]


def test_a_large_steps_peak_memory_stays_near_the_hand_fused_steps():
    # values of 1 MiB and more are left to numpy and deleted after their last use
    from tinygrad_mlp import bench

    peaks = bench.peak_memory((256, 1024, 1024, 10), 512, engines=("autograd", "jit", "tight"))
    assert peaks["jit"] <= 1.2 * peaks["tight"] and peaks["jit"] < peaks["autograd"], peaks


@pytest.mark.parametrize("lr", [0.1, np.float64(0.1), np.float64(1 / 3), np.float32(0.1)])
def test_a_numpy_scalar_learning_rate_computes_in_its_own_dtype(lr):
    # np.float64 is not a weak scalar: with float32 arrays numpy computes g * lr in float64
    # (then casts into the float32 out=); simplify must not make it a float32 constant
    (m1, _), (m2, _) = _setup(dtype=np.float32), _setup(dtype=np.float32)
    o1, o2 = optim.SGD(m1.parameters(), lr=lr), optim.SGD(m2.parameters(), lr=lr)
    eager, compiled = _step_of(m1, o1, LOSSES["learner"]), jit(_step_of(m2, o2, LOSSES["learner"]))
    for x, y in zip(*_batches(4, dtype=np.float32)):
        eager(x, y), compiled(x, y)
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


class _Trainer:
    def __init__(self, seed):
        self.model = nn.MLP(SIZES, rng=np.random.default_rng(seed))
        self.opt = optim.SGD(self.model.parameters(), lr=0.05)

    def eager_step(self, x, y):
        self.opt.zero_grad()
        loss = nn.mse_loss(self.model(Tensor(x)), y)
        loss.backward()
        self.opt.step()
        return loss

    step = jit(eager_step)  # (what @jit above the def does)


def test_jit_on_a_method_compiles_per_object_and_lets_it_go():
    import gc
    import weakref

    a, b, eager = _Trainer(0), _Trainer(1), _Trainer(0)
    assert a.step is a.step and a.step is not b.step  # one compiled step per object
    for x, y in zip(*_batches(4)):
        got, want = a.step(x, y), eager.eager_step(x, y)
        assert got.data.tobytes() == want.data.tobytes()
        b.step(x, y)
    for p, q in zip(a.model.parameters(), eager.model.parameters()):
        assert p.data.tobytes() == q.data.tobytes()
    assert any(not np.array_equal(p.data, q.data) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert a.step.traces == 2
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None and len(_Trainer.__dict__["step"]._bound) == 1  # (b's)


def test_jit_on_a_method_of_an_unhashable_object_says_what_to_do():
    class Unhashable(_Trainer):
        __eq__ = object.__eq__
        __hash__ = None

    t = Unhashable(0)
    with pytest.raises(TypeError, match=r"compile the bound method instead: step = jit\(obj.eager_step\)"):
        t.step  # noqa: B018
    step = jit(t.eager_step)  # and that works
    x, y = _batches(1)[0][0], _batches(1)[1][0]
    assert np.isfinite(float(step(x, y).data))
