"""Mutation testing of the test suite: would the tests notice a small wrong change?

Each mutant is a copy of the package with one small deliberate change in one module,
made on the module's syntax tree (``ast``): a flipped comparison (``<`` to ``<=``,
``==`` to ``!=``, ``in`` to ``not in``), a swapped operator (``+``/``-``, ``*``/``/``,
``and``/``or``), a tweaked constant (``0`` to ``1``, ``n`` to ``n + 1``, ``x`` to
``2x``, ``True``/``False``), a removed ``not`` or unary minus, a negated ``if``, swapped
or dropped return values, a dropped statement (an assignment, a call, a ``raise``).
Docstrings, imports and type annotations are never mutated.

Each mutant runs a fast subset of the suite, or the whole suite with ``--tests tests``
(``pytest -x -q`` in a temporary copy of every file git tracks, with a timeout); the mutant is *killed* when a test fails (or the run
times out), and *survives* when every test passes. The score is killed / (killed +
survived). A survivor is either a behaviour no test pins down (write the test) or an
equivalent mutant (the change makes no observable difference; say why and move on).

Tests that already fail before any mutation are reported and deselected, so that they
do not kill every mutant. A flaky test inflates the score (its random failures count as
kills): leave it out with ``--tests``.

Usage (from the repository root; not part of the default test run):

    python tools/mutation.py                          # 40 mutants from each default module
    python tools/mutation.py --modules nn.py optim.py -n 60 --seed 1
    python tools/mutation.py --modules ops/shape.py --all   # every mutation of one module
    python tools/mutation.py --modules func.py --tests tests   # with the full suite
    python tools/mutation.py --modules nn.py --list   # print the mutations, run nothing
    python tools/mutation.py --modules tensor.py --all --match "tensor.py:273: shape" --tests tests
    python tools/mutation.py --tests tests/test_nn.py tests/test_edges.py --timeout 60
    python tools/mutation.py --modules numpy_api/__init__.py:10 numpy_api -n 3 \
        --tests tests/test_np_*.py tests/test_numpy_api.py --confirm tests   # weighted, confirmed

Options: ``--modules`` (files of the package, paths below it, or a package directory for each of
its files, each optionally ``FILE:N`` for its own sample size; default the engine's ops,
autograd.py, tensor.py, optim.py and nn.py), ``-n`` mutants sampled per module (default 40) or ``--all``,
``--seed`` (the sample; default 0), ``--tests`` (default: the fast engine, nn and optim
tests), ``--confirm`` (tests to re-run only the survivors of ``--tests`` against: a fast
subset first, then the whole suite ``tests`` for what the subset missed; a mutant a subset
kills fails the whole suite too, so the scores equal a whole-suite run on every mutant) and
``--confirm-timeout`` (default 900), ``--jobs`` (mutants run at once; at most 2, the machine has 2 cores),
``--timeout`` (seconds per mutant; default 300), ``--match TEXT...`` (only the mutations whose
``file:line: change`` holds one of the texts: re-run survivors after writing their tests). Prints killed/survived per module and
every survivor as ``file:line: what was changed``; exits 0.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "tinygrad_mlp"
DEFAULT_MODULES = [
    "ops/elementwise.py",
    "ops/reductions.py",
    "ops/shape.py",
    "autograd.py",
    "tensor.py",
    "optim.py",
    "nn.py",
]
DEFAULT_TESTS = [
    "tests/test_edges.py",
    "tests/test_ops.py",
    "tests/test_autograd.py",
    "tests/test_gradcheck.py",
    "tests/test_nn.py",
    "tests/test_optim.py",
    "tests/test_threads.py",
    "tests/test_random_graphs.py",
]
MAX_JOBS = 2

COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.MatMult: ast.Mult,
}


@dataclass(frozen=True)
class Mutation:
    """One change: the module, the node's position in ``ast.walk`` order, which variant."""

    module: str
    node_index: int
    variant: int
    line: int
    description: str


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside a type annotation (never evaluated here)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for a in annotations:
            skip.update(id(n) for n in ast.walk(a))
    return skip


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _variants(node: ast.AST) -> list[tuple[str, object]]:
    """The mutations of one node: (description, function node -> replacement node)."""
    out: list[tuple[str, object]] = []
    src = _short(node)
    if isinstance(node, ast.Compare):
        for k, op in enumerate(node.ops):
            new = COMPARE_SWAPS.get(type(op))
            if new is not None:

                def flip(n, k=k, new=new):
                    n.ops[k] = new()
                    return n

                out.append((f"{src}: {_op(op)} -> {_op(new())}", flip))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        new = BINOP_SWAPS.get(type(node.op))
        if new is not None:

            def swap(n, new=new):
                n.op = new()
                return n

            out.append((f"{src}: {_op(node.op)} -> {_op(new())}", swap))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And

        def bool_swap(n, new=new):
            n.op = new()
            return n

        out.append((f"{src}: {_op(node.op)} -> {_op(new())}", bool_swap))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append((f"{src}: drop {_op(node.op)}", lambda n: n.operand))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        v = node.value
        if isinstance(v, bool):
            options = [not v]
        elif v == 0:
            options = [1]
        elif v == 1:
            options = [0, 2]
        elif isinstance(v, int):
            options = [v + 1]
        else:
            options = [v * 2]
        for new_value in options:
            out.append((f"constant {v!r} -> {new_value!r}", lambda n, nv=new_value: ast.Constant(nv)))
    elif isinstance(node, ast.If):
        out.append(
            (f"if {_short(node.test)}: negated", lambda n: _replace_test(n, ast.UnaryOp(ast.Not(), n.test)))
        )
    elif isinstance(node, ast.Return) and node.value is not None:
        if isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 2:

            def swap_returns(n):
                n.value.elts[0], n.value.elts[1] = n.value.elts[1], n.value.elts[0]
                return n

            out.append((f"{src}: first two return values swapped", swap_returns))
        out.append((f"{src}: returns None", lambda n: ast.Return(ast.Constant(None))))
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr, ast.Raise)) and not _is_docstring(node):
        out.append((f"{_short(node)}: statement dropped", lambda n: ast.Pass()))
    return out


def _replace_test(node: ast.If, test: ast.expr) -> ast.If:
    node.test = test
    return node


def _op(op: ast.AST) -> str:
    names = {
        ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
        ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+",
        ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
        ast.MatMult: "@", ast.And: "and", ast.Or: "or", ast.Not: "not", ast.USub: "-",
    }  # fmt: skip
    return names.get(type(op), type(op).__name__)


def _short(node: ast.AST, width: int = 60) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def mutations_of(module: str, source: str) -> list[Mutation]:
    """Every mutation of a module's source, in a deterministic order."""
    tree = ast.parse(source)
    skip = _annotation_nodes(tree)
    skip.update(id(n) for node in ast.walk(tree) if _is_docstring(node) for n in ast.walk(node))
    skip.update(
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for n in ast.walk(node)
    )
    out = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for variant, (description, _) in enumerate(_variants(node)):
            out.append(Mutation(module, index, variant, getattr(node, "lineno", 0), description))
    return out


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, change) -> None:
        self.target, self.change = target, change

    def generic_visit(self, node):
        if node is self.target:
            return ast.copy_location(self.change(node), node)
        return super().generic_visit(node)


def mutated_source(source: str, mutation: Mutation) -> str:
    """The module's source with one mutation applied (unparsed from the changed tree)."""
    tree = ast.parse(source)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == mutation.node_index)
    _, change = _variants(node)[mutation.variant]
    new_tree = _Apply(node, change).visit(tree)
    return ast.unparse(ast.fix_missing_locations(new_tree))


# ---------------------------------------------------------------- running the tests


def _tracked_files() -> list[str]:
    """Every file git tracks (or, outside a git checkout, every file but caches): what the suite
    may read: the package, tests, examples and notebooks, README.md and README.ko.md, docs."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, text=True
        ).stdout
        return [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
        return [
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(REPO).parts)
        ]


def _copy_repo(dest: Path) -> None:
    """A copy of the whole checkout (its tracked files, as they are on disk now), so no test
    fails for a file it could not find and gets deselected before any mutation."""
    for rel in _tracked_files():
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _pytest(workdir: Path, tests: list[str], deselect: list[str], timeout: float, stop_first: bool):
    """Run pytest in ``workdir`` on its own package copy; returns (status, output), status
    "pass", "fail" or "timeout"."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-rf"]
    cmd += ["-x"] if stop_first else []
    cmd += [*tests] + [arg for d in deselect for arg in ("--deselect", d)]
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1")
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # 2 jobs on 2 cores
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: pytest and anything it started
        proc.communicate()
        return "timeout", ""
    return ("pass" if proc.returncode == 0 else "fail"), out


def baseline_failures(tests: list[str], timeout: float) -> list[str]:
    """The tests that fail on the unmutated code (to deselect), or exit if pytest cannot run."""
    with tempfile.TemporaryDirectory(prefix="mutation-base-") as tmp:
        _copy_repo(Path(tmp))
        status, out = _pytest(Path(tmp), tests, [], timeout * 3, stop_first=False)
    if status == "timeout":
        sys.exit("mutation: the unmutated test run timed out; raise --timeout")
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", out, flags=re.M)  # ids may hold spaces: [sum(0, True)]
    if status == "fail" and not failed:
        sys.exit("mutation: the unmutated test run failed without naming a test:\n" + out[-2000:])
    return sorted(set(failed))


def run_mutant(
    mutation: Mutation,
    tests: list[str],
    deselect: list[str],
    timeout: float,
    confirm: list[str] | None = None,
    confirm_deselect: list[str] | None = None,
    confirm_timeout: float = 900,
) -> str:
    """'killed', 'survived' or 'timeout' (a timeout counts as killed).

    With ``confirm``, a mutant that survives ``tests`` (a fast subset) runs again against
    ``confirm`` (e.g. the whole suite) and that run decides: a test that fails in the subset
    fails in the whole suite too, so the result is the one the whole suite alone would give."""
    source = (REPO / PACKAGE / mutation.module).read_text()
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        _copy_repo(Path(tmp))
        (Path(tmp) / PACKAGE / mutation.module).write_text(mutated_source(source, mutation))
        status, _ = _pytest(Path(tmp), tests, deselect, timeout, stop_first=True)
        if status == "pass" and confirm:
            status, _ = _pytest(Path(tmp), confirm, confirm_deselect or [], confirm_timeout, stop_first=True)
    return {"pass": "survived", "fail": "killed", "timeout": "timeout"}[status]


def expand_modules(specs: list[str], n: int) -> list[tuple[str, int]]:
    """``--modules`` entries as (module, mutants to sample): a file below the package
    (``tensor.py``, ``numpy_api/construct.py``), a package directory standing for each of its
    files (``numpy_api``), either with ``:N`` to sample N from it instead of ``-n``
    (``numpy_api/__init__.py:10``), so a package's sample can be weighted to some files; a file
    named on its own keeps its own count, whatever the order."""
    out: dict[str, int] = {}
    explicit: set[str] = set()
    for spec in specs:
        name, _, count = spec.partition(":")
        if count and not count.isdigit():
            raise ValueError(f"--modules {spec}: the part after ':' must be a number of mutants")
        path = REPO / PACKAGE / name
        if path.is_dir():  # each file not named on its own
            for f in sorted(path.glob("*.py")):
                rel = str(f.relative_to(REPO / PACKAGE))
                if rel not in explicit:
                    out[rel] = int(count) if count else n
        elif path.is_file() and name.endswith(".py"):
            out[name] = int(count) if count else n
            explicit.add(name)
        else:
            raise ValueError(f"--modules: no module or package {name} in {PACKAGE}/")
    return list(out.items())


def main(argv: list[str] | None = None) -> int:
    """Sample mutants, run the tests against each, print the scores and the survivors."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--modules",
        nargs="+",
        default=DEFAULT_MODULES,
        help="files or packages below the package to mutate, each optionally FILE:N",
    )
    parser.add_argument("-n", type=int, default=40, help="mutants sampled per module (default 40)")
    parser.add_argument("--all", action="store_true", help="run every mutation instead of a sample")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="test files to run per mutant")
    parser.add_argument(
        "--confirm",
        nargs="+",
        default=None,
        help="tests to re-run each survivor of --tests against (e.g. the whole suite: tests)",
    )
    parser.add_argument(
        "--confirm-timeout", type=float, default=900, help="seconds per --confirm run (default 900)"
    )
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help="mutants at once (1 or 2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant (default 300)")
    parser.add_argument("--list", action="store_true", help="print the sampled mutations and stop")
    parser.add_argument(
        "--match",
        nargs="+",
        default=None,
        help="keep only the sampled mutations whose 'file:line: change' holds one of these texts",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs must be 1 or {MAX_JOBS} (the machine has {MAX_JOBS} cores)")
    try:
        modules = expand_modules(args.modules, args.n)
    except ValueError as e:
        parser.error(str(e))

    rng = random.Random(args.seed)
    sample: list[Mutation] = []
    for module, n in modules:
        every = mutations_of(module, (REPO / PACKAGE / module).read_text())
        chosen = (
            every
            if args.all
            else sorted(
                rng.sample(every, min(n, len(every))), key=lambda m: (m.line, m.node_index, m.variant)
            )
        )
        print(f"{module}: {len(every)} possible mutations, {len(chosen)} chosen")
        sample += chosen
    if args.match is not None:
        sample = [m for m in sample if any(t in f"{m.module}:{m.line}: {m.description}" for t in args.match)]
        print(f"{len(sample)} of them match {' or '.join(map(repr, args.match))}")
    if args.list:
        for m in sample:
            print(f"{PACKAGE}/{m.module}:{m.line}: {m.description}")
        return 0

    start = time.monotonic()
    runs = [args.tests] + ([args.confirm] if args.confirm else [])
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # both unmutated runs at once
        timeouts = [args.timeout, args.confirm_timeout / 3]  # baseline_failures triples it
        deselect, *confirm_deselect = pool.map(baseline_failures, runs, timeouts)
    for name, failing in zip(["--tests", "--confirm"], [deselect, *confirm_deselect]):
        if failing:
            print(f"{len(failing)} tests of {name} fail before any mutation; deselected:")
            for d in failing:
                print(f"  {d}")
    results: dict[Mutation, str] = {}

    def one(m: Mutation) -> None:
        results[m] = run_mutant(
            m,
            args.tests,
            deselect,
            args.timeout,
            args.confirm,
            (confirm_deselect or [None])[0],
            args.confirm_timeout,
        )
        print(
            f"[{len(results)}/{len(sample)}] {results[m]:8} {PACKAGE}/{m.module}:{m.line}: {m.description}",
            flush=True,
        )

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, sample))

    print(f"\n{'module':24} killed  timeout  survived  score   ({time.monotonic() - start:.0f} s)")
    names = [module for module, _ in modules]
    packages = sorted({n.rpartition("/")[0] for n in names if "/" in n})
    rows = [(n, lambda m, n=n: m.module == n) for n in names]
    rows += [(p + "/ (all)", lambda m, p=p: m.module.startswith(p + "/")) for p in packages]
    rows += [("all", lambda m: True)]
    for label, belongs in rows:
        r = [results[m] for m in sample if belongs(m)]
        if not r and label != "all":  # a module none of whose mutations was run (--match)
            continue
        killed, timeouts, survived = r.count("killed"), r.count("timeout"), r.count("survived")
        score = (killed + timeouts) / len(r) if r else float("nan")
        print(f"{label:24} {killed:6} {timeouts:8} {survived:9}  {score:6.1%}")
    survivors = [m for m in sample if results[m] == "survived"]
    print(f"\n{len(survivors)} survivors:")
    for m in survivors:
        print(f"  {PACKAGE}/{m.module}:{m.line}: {m.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
