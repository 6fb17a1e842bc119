"""Is the engine slower than it was? Time this checkout's training step against another
checkout's (an older commit), interleaved in one process, so a noisy machine slows both.

    git worktree add /tmp/before <commit>        # the engine to compare with
    python benchmarks/ab_engines.py /tmp/before --batch-sizes 16,125 --steps 1000

The other checkout's package is loaded under another name (``tinygrad_mlp_before``), so
both engines run side by side: the original MLP (784-128-64-32-10, sigmoid, SGD), float32,
with the fused 0.5*SSE loss and with the loss written from primitives. Prints the median
time of each and their ratio (new/before). Not a test: timings belong here.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

SIZES = (784, 128, 64, 32, 10)


def load_before(checkout: Path):
    """The other checkout's package, imported as ``tinygrad_mlp_before``."""
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(checkout / "tinygrad_mlp", tmp / "tinygrad_mlp_before")
    sys.path.insert(0, str(tmp))
    for sub in ("", ".nn", ".optim"):
        importlib.import_module("tinygrad_mlp_before" + sub)
    return sys.modules["tinygrad_mlp_before"]


def engine(pkg, batch: int, loss: str):
    model = pkg.nn.MLP(SIZES, dtype=np.float32, rng=np.random.default_rng(0))
    opt = pkg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        out = model(pkg.Tensor(x))
        target = pkg.Tensor(y)
        value = pkg.nn.sse_loss(out, target) if loss == "sse" else 0.5 * ((out - target) ** 2).sum()
        opt.zero_grad()
        value.backward()
        opt.step()

    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path, help="the other checkout (a folder holding tinygrad_mlp/)")
    p.add_argument("--batch-sizes", default="16,125")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1: steadier)")
    args = p.parse_args(argv)
    import tinygrad_mlp as now
    import tinygrad_mlp.nn
    import tinygrad_mlp.optim  # noqa: F401

    before = load_before(args.before)
    rng = np.random.default_rng(1)
    with threadpool_limits(args.threads):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            xs = [rng.random((batch, SIZES[0])).astype(np.float32) for _ in range(8)]
            ys = [np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)] for _ in range(8)]
            for loss in ("sse", "generic"):
                steps = {"before": engine(before, batch, loss), "now": engine(now, batch, loss)}
                times: dict[str, list[float]] = {k: [] for k in steps}
                for i in range(args.steps + 20):
                    for k in ("before", "now") if i % 2 else ("now", "before"):
                        t0 = time.perf_counter()
                        steps[k](xs[i % 8], ys[i % 8])
                        if i >= 20:
                            times[k].append(time.perf_counter() - t0)
                med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
                print(
                    f"batch {batch:5d}, loss {loss:7}: before {med['before']:.3f} ms, now {med['now']:.3f} ms, "
                    f"now/before {med['now'] / med['before']:.3f}"
                )


if __name__ == "__main__":
    main()
