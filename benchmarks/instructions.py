"""Instructions per training step, counted by valgrind: a measure of the engine's fixed
cost that does not move with the machine's load (times on a shared 2-core machine move
by 10% from run to run; this count moves by well under 1%).

    python benchmarks/instructions.py                          # autograd, rules, tight: 8-8-8-8-8, batch 1
    python benchmarks/instructions.py --before /tmp/before     # and an older checkout's engine
    python benchmarks/instructions.py --sizes 784,128,64,32,10 --batch-size 16

At the default tiny sizes numpy's arithmetic is nearly free, so the count is the cost
of the Python around it: recording ops, walking the graph, calling the rules. Each
engine runs ``--steps`` and ``--steps`` + 200 training steps of the original MLP (SGD,
loss ``0.5 * ((out - y) ** 2).sum()`` for autograd) in a fresh process under
``valgrind --tool=cachegrind``; the difference over 200 is the count per step, so
start-up and imports cancel out. Instructions are not time (a BLAS kernel runs several
per cycle, the interpreter about one), so use ``tinygrad-mlp bench`` for ratios of
time and this for "did this change make each op cheaper". Needs valgrind
(``apt-get install valgrind``). Not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXTRA = 200  # steps between the two runs of each engine


def child(args) -> None:
    """Run the steps (inside valgrind)."""
    if args.package:
        sys.path.insert(0, args.package)
    import numpy as np

    from tinygrad_mlp import bench

    sizes = tuple(int(s) for s in args.sizes.split(","))
    rng = np.random.default_rng(0)
    model, step = bench._autograd_engine(sizes, np.dtype("float32"), 0.1, rng, "generic")
    if args.engine == "tight":
        step = bench._tight_engine(model, 0.1)
    elif args.engine == "rules":
        step = bench._rules_engine(model, args.batch_size, bench._generic_loss, 0.1)
    xs, ys = bench._batches(sizes, args.batch_size, "float32", 16, rng)
    for i in range(args.child):
        step(xs[i % 16], ys[i % 16])


def count(engine: str, steps: int, args, package: str | None) -> int:
    """valgrind's instruction count for a process that runs ``steps`` steps."""
    cmd = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--child", str(steps), "--engine", engine,
        "--sizes", args.sizes, "--batch-size", str(args.batch_size),
    ]  # fmt: skip
    if package:
        cmd += ["--package", package]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or not m:
        sys.exit(f"instructions: valgrind failed for {engine}:\n{out.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_step(engine: str, args, package: str | None = None) -> int:
    return (
        count(engine, args.steps + EXTRA, args, package) - count(engine, args.steps, args, package)
    ) // EXTRA


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="8,8,8,8,8")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=50, help="steps of the shorter run (warm-up included)")
    p.add_argument("--before", type=Path, help="an older checkout (a folder holding tinygrad_mlp/)")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--engine", default="autograd", help=argparse.SUPPRESS)
    p.add_argument("--package", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args)
        return
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        sys.exit(2)
    if args.before is not None and not (args.before / "tinygrad_mlp").is_dir():
        print(f"instructions: --before {args.before}: no tinygrad_mlp/ folder there", file=sys.stderr)
        sys.exit(2)
    here = str(Path(__file__).resolve().parent.parent)
    print(
        f"MLP {args.sizes.replace(',', '-')}, batch {args.batch_size}, float32: instructions per training step"
    )
    auto = per_step("autograd", args, here)
    rules = per_step("rules", args, here)
    tight = per_step("tight", args, here)
    print(f"autograd  {auto:>12,}")
    print(f"rules     {rules:>12,}   autograd/rules = {auto / rules:.3f}   rules/tight = {rules / tight:.3f}")
    print(f"tight     {tight:>12,}   autograd/tight = {auto / tight:.3f}")
    if args.before is not None:
        before = per_step("autograd", args, str(args.before.resolve()))
        print(f"before    {before:>12,}   now/before = {auto / before:.3f}")


if __name__ == "__main__":
    main()
