"""Regenerate every figure README.md quotes, each printed under the command that made it.

    python benchmarks/readme_figures.py                      # everything: several minutes on 2 cores
    python benchmarks/readme_figures.py --only train,verify  # some sections
    python benchmarks/readme_figures.py --seeds 0,1,2 --better-seeds 0

Sections: tensor (the gradient printed in "A Tensor and its gradients"), graph (the |g|
of the first and last sigmoid), verify (both verify tables and the numbers read off the
second), train (the original recipe's log, its range over seeds and the hand-written
network on the same random stream), better (the better recipe over seeds, and PyTorch on
a similar recipe when it is installed), bench (three bench runs: the range of each ratio),
determinism (what reproduces bit for bit).

What reproduces, and what does not:
- float64 training on one machine is bit-exact run to run; so is float32 with the same
  BLAS library and thread count (the determinism section checks both).
- Across machines, float32 results depend on the BLAS kernels (the order of the sums in
  each matmul), and the original recipe's stall amplifies any difference: how many epochs
  it lasts, and so the accuracy at epochs 3 to 6, varies. The ranges over seeds printed
  here show how much; accuracies after the stall vary far less.
- verify's tables are float64 with fixed seeds: the same run after run; on another machine
  the entries made of round-off (max |auto-manual|, rel diff where the two agree, num vs
  auto) change in their digits, while the verdicts and the mismatch sizes stay.
- Times and time ratios vary from run to run (other processes, CPU frequency): compare
  ratios from one run, never times from two.

Needs real MNIST ($TINYGRAD_MLP_DATA or --data) and runs from a checkout (or an install).
Not run by the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np

SECTIONS = ("tensor", "graph", "verify", "train", "better", "bench", "determinism")
THREAD_ENV: dict[str, str] = {}  # set by --threads, for the commands run in subprocesses


def _command(args: list[str], data: str) -> str:
    """Run ``tinygrad-mlp ARGS`` (as ``python -m tinygrad_mlp``), print it and its output, return the output."""
    print(f"$ tinygrad-mlp {' '.join(args)}", flush=True)
    env = {**os.environ, "TINYGRAD_MLP_DATA": data, **THREAD_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_mlp", *args], capture_output=True, text=True, env=env
    )
    print(result.stdout.rstrip())
    if result.stderr.strip():
        print(result.stderr.rstrip())
    print(f"(exit status {result.returncode})\n", flush=True)
    return result.stdout


def _head(title: str) -> None:
    print(f"\n{'=' * 8} {title} {'=' * (70 - len(title))}\n", flush=True)


def _span(values) -> str:
    values = list(values)
    return f"{min(values):.2%} to {max(values):.2%}"


# ---------------------------------------------------------------- sections


def tensor_section(args) -> None:
    _head("A Tensor and its gradients (README: the first code block)")
    from tinygrad_mlp import Tensor

    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([4.0, 5.0, 6.0], requires_grad=True)
    loss = (a * b + a.sigmoid()).sum()
    loss.backward()
    print(a.grad, b.grad)


def graph_section(args) -> None:
    _head("The graph: |g| at the last and the first sigmoid")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mlp_graph.dot")
        _command(["graph", "--out", path], args.data)
        with open(path) as f:
            dot = f.read()
    # labels are tables of one row per line: <TD>sigmoid</TD> ... <TD>grad |g| = 0.0001</TD>
    norms = re.findall(r"<TD>sigmoid</TD>(?:(?!</TABLE>).)*?\|g\| ?= ?([0-9.e+-]+)</TD>", dot)
    if not norms:  # the labels changed: say so rather than print an empty figure
        sys.exit("readme_figures: no '|g| = ...' on a sigmoid box in the graph; update graph_section")
    print(f"|g| of the sigmoids, first layer to last: {', '.join(norms)}")
    print(f"README: it shrinks from {norms[-1]} at the last sigmoid to {float(norms[0]):.1e} at the first")


def verify_section(args) -> None:
    _head("Automatic vs hand-written vs numerical")
    _command(["verify"], args.data)
    out = _command(["verify", "--loss", "printed_ce", "--steps", "20"], args.data)
    rows = [line.split() for line in out.splitlines() if line.startswith("layers.")]
    head = next(line for line in out.splitlines() if line.startswith("param"))
    has_tol = "num tol" in head
    num_auto = [float(r[4]) for r in rows]
    num_manual = [float(r[5]) for r in rows]
    weights = [float(r[7 if has_tol else 6]) for r in rows]
    print(f"README: autograd matches the numerical derivative to {max(num_auto):.0e} or better (relative);")
    print(
        f"the hand-written gradient's distance from it is {min(num_manual):.0f} to {max(num_manual):.0f} "
        f"times the true gradient's size; after 20 SGD steps the weights differ by up to {max(weights):.0%}"
    )


def _manual_run(cfg, data, epochs: int) -> list[float]:
    """The hand-written network trained on the same random stream as ``train`` (seed, then
    the weights layer by layer, then one permutation per epoch): test accuracy per epoch."""
    from tinygrad_mlp.manual import ManualMLP
    from tinygrad_mlp.nn import one_hot
    from tinygrad_mlp.train import build, make_rng

    X, y, X_test, y_test = data
    X, X_test = X.astype(cfg.dtype), X_test.astype(cfg.dtype)
    rng = make_rng(cfg.seed)
    model, _ = build(cfg, rng)
    manual = ManualMLP.from_mlp(model)
    accs = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            target = one_hot(y[idx], 10, X.dtype)
            manual.backward(manual.predict(X[idx]) - target)
            manual.update(cfg.lr)
        accs.append(float((manual.predict(X_test).argmax(1) == y_test).mean()))
    return accs


def train_section(args, data) -> None:
    from tinygrad_mlp.train import ORIGINAL, build, fit, make_rng

    _head("Training: the original recipe")
    _command(["train", "--epochs", "10", "--no-progress"], args.data)
    cfg = replace(ORIGINAL, epochs=10)
    print(f"over seeds {args.seeds} (test accuracy per epoch; the stall ends at the first epoch above 50%):")
    table = {}
    for seed in args.seeds:
        rng = make_rng(seed)
        model, opt = build(replace(cfg, seed=seed), rng)
        history = fit(model, opt, replace(cfg, seed=seed), data, rng, progress=False, log=lambda s: None)
        accs = [h.test_acc for h in history]
        table[seed] = accs
        takeoff = next((i + 1 for i, a in enumerate(accs) if a > 0.5), None)
        print(f"  seed {seed}: " + " ".join(f"{a:.2%}" for a in accs) + f"   above 50% from epoch {takeoff}")
    for epoch in (2, 4, 5, 10):
        print(f"  epoch {epoch:2d}: {_span(t[epoch - 1] for t in table.values())}")
    manual = _manual_run(cfg, data, 10)
    print(
        f"the hand-written network on seed 0's stream: {manual[1]:.2%} after 2 epochs, {manual[9]:.2%} after 10 "
        f"(autograd: {table.get(0, [np.nan] * 10)[1]:.2%} and {table.get(0, [np.nan] * 10)[9]:.2%})"
    )


def _torch_similar(data, epochs: int = 10) -> tuple[float, float] | None:
    """PyTorch on a similar recipe (784-512-256-10, ReLU, softmax CE, Adam 1e-3 x0.8 per
    epoch, batch 128): (seconds, test accuracy), or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    X, y, X_test, y_test = (torch.from_numpy(np.ascontiguousarray(a)) for a in data)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.8)
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), 128):
            idx = order[start : start + 128]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad():
            acc = float((model(X_test).argmax(1) == y_test).float().mean())
    return time.perf_counter() - t0, acc


def better_section(args, data) -> None:
    from tinygrad_mlp.train import BETTER, build, fit, make_rng

    _head("Training: the better recipe")
    t0 = time.perf_counter()
    _command(["train", "--recipe", "better", "--no-progress"], args.data)
    print(f"(the whole command, loading MNIST included: {time.perf_counter() - t0:.1f} s)\n")
    finals = {}
    for seed in args.better_seeds:
        cfg = replace(BETTER, seed=seed)
        rng = make_rng(seed)
        model, opt = build(cfg, rng)
        history = fit(model, opt, cfg, data, rng, progress=False, log=lambda s: None)
        finals[seed] = history[-1].test_acc
        seconds = sum(h.seconds for h in history)
        print(f"  seed {seed}: test acc {history[-1].test_acc:.2%}, {seconds:.1f} s of training steps")
    print(f"over seeds {args.better_seeds}: {_span(finals.values())}")
    torch_run = _torch_similar(data)
    if torch_run is None:
        print("PyTorch is not installed: no comparison")
    else:
        print(
            f"PyTorch 784-512-256-10 similar recipe, 10 epochs: {torch_run[0]:.1f} s, test acc {torch_run[1]:.2%}"
        )


def bench_section(args) -> None:
    _head("Speed: bench, three runs")
    ratios: dict[str, list[float]] = {}
    generic = ["--loss", "generic", "--batch-sizes", "16,125", "--dtype", "float32", "--no-torch"]
    for label, flags in (("", []), ("generic loss, ", generic)):
        for _ in range(3):
            out = _command(["bench", "--steps", "400", *flags], args.data)
            batch = ""
            for line in out.splitlines():
                b = re.search(r"batch (\d+);", line)
                if b and flags:
                    batch = f"batch {b.group(1)}, "
                m = re.match(r"(float\d\d)\s+\w+\s+[\d.]+\s+[\d.]+\s+(\w+/\w+) = ([\d.]+)", line)
                if m:
                    ratios.setdefault(f"{label}{batch}{m.group(1)} {m.group(2)}", []).append(
                        float(m.group(3))
                    )
                if line.startswith("the op rules alone"):  # rules/tight = x, rules/gemm = y (float32); ...
                    for part in line.split(": ", 1)[1].split("; "):
                        dtype = re.search(r"\((float\d\d)\)", part).group(1)
                        for name, value in re.findall(r"(rules/\w+) = ([\d.]+)", part):
                            ratios.setdefault(f"{label}{batch}{dtype} {name}", []).append(float(value))
    for name, values in ratios.items():
        print(f"  {name}: {min(values):.3f} to {max(values):.3f} over {len(values)} runs")


def determinism_section(args, data) -> None:
    from tinygrad_mlp.train import ORIGINAL, build, fit, make_rng

    _head("What reproduces bit for bit")
    for dtype in ("float64", "float32"):
        cfg = replace(ORIGINAL, dtype=dtype, epochs=2)
        weights = []
        for _ in range(2):
            rng = make_rng(0)
            model, opt = build(cfg, rng)
            fit(model, opt, cfg, data, rng, progress=False, log=lambda s: None)
            weights.append([p.data.copy() for p in model.parameters()])
        same = all(np.array_equal(a, b) for a, b in zip(*weights))
        print(
            f"  {dtype}, original recipe, 2 epochs, run twice in one process: bit-identical weights: {same}"
        )
    cfg = replace(ORIGINAL, epochs=1, subset=6000)
    digests = {}
    from threadpoolctl import threadpool_limits

    for threads in (1, 2):
        with threadpool_limits(threads):
            rng = make_rng(0)
            model, opt = build(cfg, rng)
            fit(model, opt, cfg, data, rng, progress=False, log=lambda s: None)
        digests[threads] = [p.data.copy() for p in model.parameters()]
    same = all(np.array_equal(a, b) for a, b in zip(digests[1], digests[2]))
    print(f"  float32, 1 epoch on 6,000 images, 1 BLAS thread vs 2: bit-identical weights: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, from {','.join(SECTIONS)}")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="seeds for the original recipe")
    parser.add_argument("--better-seeds", default="0,1,2", help="seeds for the better recipe")
    parser.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    parser.add_argument(
        "--threads", type=int, help="BLAS threads, here and in the commands run (default: as set up)"
    )
    args = parser.parse_args()
    only = args.only.split(",")
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.better_seeds = [int(s) for s in args.better_seeds.split(",")]
    except ValueError:
        parser.error("--seeds and --better-seeds take comma-separated whole numbers")

    from threadpoolctl import threadpool_info, threadpool_limits

    from tinygrad_mlp.data import default_data_dir, load_mnist

    if args.threads:
        threadpool_limits(args.threads)
        THREAD_ENV.update(
            {k: str(args.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        )
    libs = ", ".join(
        f"{i['internal_api']} {i['version']}, {i['num_threads']} threads" for i in threadpool_info()
    )

    args.data = args.data or default_data_dir()
    data = load_mnist(args.data, download=False) if {"train", "better", "determinism"} & set(only) else None
    print(f"python {sys.version.split()[0]}, numpy {np.__version__} ({libs}), {os.cpu_count()} cores")
    print(f"MNIST from {args.data}")
    t0 = time.perf_counter()
    for name in SECTIONS:
        if name not in only:
            continue
        if name in ("train", "better", "determinism"):
            globals()[f"{name}_section"](args, data)
        else:
            globals()[f"{name}_section"](args)
    print(f"\n(all figures in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
