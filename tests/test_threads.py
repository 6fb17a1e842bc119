"""Grad mode is per thread (issue 15), as in PyTorch: one thread's ``no_grad``,
``enable_grad`` or ``detect_anomaly`` never changes what another thread records.

Every interleaving here is forced with barriers and events (never left to the
scheduler), and every wait has a timeout, so a test fails in seconds, not hangs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from tinygrad_mlp import Tensor, autograd, detect_anomaly, enable_grad, is_grad_enabled, nn, no_grad, optim

TIMEOUT = 10.0  # seconds; each wait and each join is bounded by it


def wait(event: threading.Event) -> None:
    if not event.wait(TIMEOUT):
        raise TimeoutError("the other thread never reached its step")


def run_threads(*targets: Callable[[], None], sync=()) -> None:
    """Run each target in its own thread; re-raise the first exception any of them raised.
    When one fails, the events in ``sync`` are set and its barriers broken, so that the
    other threads stop waiting for it."""
    errors: list[BaseException] = []

    def guarded(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
            errors.append(exc)
            for s in sync:
                s.abort() if isinstance(s, threading.Barrier) else s.set()

    threads = [threading.Thread(target=guarded, args=(fn,), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    assert not any(t.is_alive() for t in threads), "a thread is still running: deadlock"
    if errors:
        raise errors[0]


def anomaly_enabled() -> bool:
    """Whether anomaly mode is on in this thread, seen from its effect: backward of an op
    whose gradient is Inf raises only in anomaly mode."""
    x = Tensor(0.0, requires_grad=True)
    with np.errstate(divide="ignore"), enable_grad():
        y = x.sqrt()  # d sqrt(x)/dx = 1 / (2 sqrt x) is inf at 0
        try:
            y.backward()
        except FloatingPointError:
            return True
    return False


def records_graph() -> bool:
    """Whether an op on a tensor that requires grad records a graph in this thread."""
    return (Tensor([1.0], requires_grad=True) * 2.0).requires_grad


@pytest.fixture(autouse=True)
def _repair_the_main_threads_modes():
    """With one process-wide flag (the defect these tests catch), a failing test here
    would leave grad mode off or anomaly mode on for every later test of the suite:
    put the main thread's modes back (each test asserts them itself)."""
    yield
    if not is_grad_enabled():
        enable_grad().__enter__()  # never exited: it leaves grad mode on
    if anomaly_enabled():
        mode = getattr(autograd, "GRAD_MODE", None)  # no public switch turns anomaly mode off
        if mode is not None:
            mode.anomaly = False


# ---------------------------------------------------------------- training beside evaluation

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 6))
LABELS = RNG.integers(0, 3, 16)
STEPS = 12


def make_model() -> nn.MLP:
    return nn.MLP(
        (6, 5, 3),
        activation="tanh",
        output_activation=None,
        init="xavier",
        dtype=np.float64,
        rng=np.random.default_rng(1),
    )


def train(model: nn.MLP, before_step=lambda: None, after_step=lambda: None) -> list[list[np.ndarray]]:
    """STEPS of SGD; returns every step's gradients."""
    opt = optim.SGD(model.parameters(), lr=0.5)
    history = []
    for _ in range(STEPS):
        before_step()
        opt.zero_grad()
        loss = nn.cross_entropy(model(Tensor(X)), LABELS)
        loss.backward()
        history.append([p.grad.copy() for p in model.parameters()])
        opt.step()
        after_step()
    return history


def test_training_beside_an_evaluating_thread_gives_the_single_threaded_gradients():
    want = train(make_model())
    evaluated = make_model()
    want_eval = evaluated(Tensor(X)).data.copy()
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    got: list = []
    eval_outputs: list = []

    def trainer():
        # each training step runs entirely while the evaluator is inside no_grad
        got.extend(train(make_model(), before_step=barrier.wait, after_step=barrier.wait))

    def evaluator():
        for _ in range(STEPS):
            with no_grad():
                barrier.wait()  # the trainer starts its step now
                for _ in range(3):  # and evaluates while the trainer works
                    out = evaluated(Tensor(X))
                    eval_outputs.append((out.requires_grad, out.data.copy()))
                barrier.wait()  # the trainer's step is done
            assert is_grad_enabled()

    run_threads(trainer, evaluator, sync=[barrier])
    assert len(got) == STEPS
    for step, (g, w) in enumerate(zip(got, want)):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b, err_msg=f"step {step}")
    assert len(eval_outputs) == 3 * STEPS
    for requires_grad, data in eval_outputs:
        assert not requires_grad
        np.testing.assert_array_equal(data, want_eval)
    assert is_grad_enabled()


def test_free_running_no_grad_loops_in_another_thread_never_reach_the_trainer():
    want = train(make_model())
    stop = threading.Event()
    got: list = []
    flips = []

    def trainer():
        try:
            got.extend(train(make_model()))
        finally:
            stop.set()

    def flipper():  # enters and leaves no_grad as fast as it can while the trainer runs
        n = 0
        while not stop.is_set():
            with no_grad():
                n += 1
                assert not is_grad_enabled()
        flips.append(n)

    run_threads(trainer, flipper)
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    assert len(got) == STEPS and flips[0] > 0
    assert is_grad_enabled()


# ---------------------------------------------------------------- interleaved blocks

# (mode, outer block both threads run in, probe of the mode, value inside, value outside)
SWITCHES = [
    ("no_grad", no_grad, None, is_grad_enabled, False, True),
    ("enable_grad", enable_grad, no_grad, is_grad_enabled, True, False),
    ("detect_anomaly", detect_anomaly, None, anomaly_enabled, True, False),
]


@pytest.mark.parametrize("name,switch,outer,probe,inside,outside", SWITCHES, ids=[s[0] for s in SWITCHES])
def test_interleaved_blocks_in_two_threads_leave_both_modes_as_they_were(
    name, switch, outer, probe, inside, outside
):
    # A enters, B enters, A exits, B exits: each thread must see only its own block.
    b_ready, a_in, b_in, a_out = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def outer_block():
        return outer() if outer is not None else _Nothing()

    def thread_a():
        wait(b_ready)  # B is in its outer block (if any) before A enters its own
        with outer_block():
            seen["A before"] = probe()
            with switch():
                seen["A inside"] = probe()
                a_in.set()
                wait(b_in)
                seen["A inside, B inside"] = probe()
            seen["A after"] = probe()
            a_out.set()
        seen["A grad after all"] = is_grad_enabled()

    def thread_b():
        with outer_block():
            b_ready.set()
            wait(a_in)
            seen["B before, A inside"] = probe()
            with switch():
                seen["B inside"] = probe()
                b_in.set()
                wait(a_out)
                seen["B inside, A out"] = probe()
            seen["B after"] = probe()
        seen["B grad after all"] = is_grad_enabled()

    run_threads(thread_a, thread_b, sync=[b_ready, a_in, b_in, a_out])
    assert seen == {
        "A before": outside,
        "A inside": inside,
        "A inside, B inside": inside,
        "A after": outside,
        "A grad after all": True,
        "B before, A inside": outside,
        "B inside": inside,
        "B inside, A out": inside,
        "B after": outside,
        "B grad after all": True,
    }
    assert is_grad_enabled() and not anomaly_enabled()  # the main thread was never touched


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_a_block_in_one_thread_does_not_reach_a_thread_outside_any_block():
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def evaluator():
        with no_grad(), detect_anomaly():
            inside.set()
            wait(checked)

    def trainer():
        wait(inside)
        seen["grad"], seen["records"], seen["anomaly"] = is_grad_enabled(), records_graph(), anomaly_enabled()
        checked.set()

    run_threads(evaluator, trainer, sync=[inside, checked])
    assert seen == {"grad": True, "records": True, "anomaly": False}


def test_a_new_thread_starts_with_grad_enabled():
    # PyTorch semantics: grad mode is thread-local and every thread starts with it on.
    seen = {}

    def child():
        seen["grad"], seen["records"] = is_grad_enabled(), records_graph()

    with no_grad():
        run_threads(child)
        assert not is_grad_enabled() and not records_graph()
    assert seen == {"grad": True, "records": True}


def test_a_shared_no_grad_decorator_used_from_two_threads_at_once():
    # One @no_grad() instance, entered by A (grad on) and by B (inside its own no_grad),
    # exited in the order they entered: each must get back its own mode.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    @no_grad()
    def evaluate(during: Callable[[], None]) -> bool:
        out = (Tensor([1.0], requires_grad=True) * 3.0).requires_grad
        during()
        return out

    def during_a():
        a_in.set()
        wait(b_in)

    def during_b():
        b_in.set()
        wait(a_out)

    def thread_a():
        seen["A recorded inside"] = evaluate(during_a)
        seen["A after"] = is_grad_enabled()
        seen["A records after"] = records_graph()
        a_out.set()

    def thread_b():
        wait(a_in)
        with no_grad():
            seen["B recorded inside"] = evaluate(during_b)
            seen["B after, in its own no_grad"] = is_grad_enabled()
        seen["B after all"] = is_grad_enabled()

    run_threads(thread_a, thread_b, sync=[a_in, b_in, a_out])
    assert seen == {
        "A recorded inside": False,
        "A after": True,
        "A records after": True,
        "B recorded inside": False,
        "B after, in its own no_grad": False,
        "B after all": True,
    }
    assert is_grad_enabled()
