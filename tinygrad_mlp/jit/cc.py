"""Compiling the fusion pass's C: a C compiler found on the machine, a cache of what it built.

Two things are built, each at most once per machine (kept in the cache directory, keyed by
a hash of the source, the compiler's flags and the Python and numpy versions):

- the runtime (``_fuse_rt.c``, a Python extension): ``run(kernel, spec, *arrays)`` checks
  each array and calls a kernel with their data pointers, about 0.2 us a call;
- a compiled step's kernels: plain C, one function per fused chain, loaded with ctypes.

The cache is ``$TINYGRAD_MLP_CACHE`` or ``~/.cache/tinygrad_mlp`` (a temporary directory
when neither can be written). A library is compiled into a temporary file and renamed into
place, so a half-written file is never loaded. Where no compiler works, :func:`unavailable`
says why and the pass leaves the program to numpy.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import types
from pathlib import Path

import numpy as np

# Exactly numpy's arithmetic: no fused multiply-add (one rounding where numpy has two), no
# fast-math (it reorders and drops the inf/NaN cases the traps test).
KERNEL_FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared")
NATIVE = ("-march=native",)  # the machine's vector instructions (the cache is per machine)
_state: dict = {}


def cache_dir() -> Path:
    """Where built libraries are kept (made if missing)."""
    if "dir" in _state:
        return _state["dir"]
    wanted = os.environ.get("TINYGRAD_MLP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinygrad_mlp"
    )
    path = Path(wanted).resolve() / "kernels"  # (absolute: a later chdir must not move it)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):  # (can it be written?)
            pass
    except OSError:
        path = Path(tempfile.mkdtemp(prefix="tinygrad_mlp_kernels_"))
    _state["dir"] = path
    return path


def compiler() -> str | None:
    """The C compiler's command (``$CC``, else ``cc``, ``gcc`` or ``clang`` on the PATH)."""
    for cand in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cand and shutil.which(cand.split()[0]):
            return cand
    return None


def _key(source: str, flags: tuple) -> str:
    text = "\0".join((source, " ".join(flags), sys.version, np.__version__, _cpu()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _cpu() -> str:
    """The processor's model line (a library built with -march=native runs only on its kind)."""
    try:
        with open("/proc/cpuinfo") as f:
            return "".join(line for line in f if line.startswith(("model name", "flags")))[:4096]
    except OSError:
        return sys.platform


def build(source: str, stem: str, flags: tuple, include: tuple = ()) -> Path:
    """The shared library built from ``source`` (from the cache when built before).
    Raises OSError with the compiler's first error line when it fails."""
    cc = compiler()
    if cc is None:
        raise OSError("no C compiler (set CC, or install gcc)")
    target = cache_dir() / f"{stem}_{_key(source, (cc, *flags, *include))}.so"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        src = Path(tmp) / f"{stem}.c"
        src.write_text(source)
        out = Path(tmp) / "out.so"
        cmd = [*cc.split(), *flags, *(f"-I{i}" for i in include), str(src), "-o", str(out), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            first = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip())
            raise OSError(f"{' '.join(cmd[:2])} failed: {first[:300]}")
        os.replace(out, target)  # (atomic: another process sees the whole file or none)
    return target


def runtime() -> types.ModuleType:
    """The runtime module (``run``), built at its first use; OSError when it cannot be (and,
    for the rest of the process, at every later call: a failed build is not retried)."""
    if "runtime" in _state:
        if isinstance(_state["runtime"], OSError):
            raise _state["runtime"]
        return _state["runtime"]
    try:
        source = (Path(__file__).with_name("_fuse_rt.c")).read_text()
        include = (sysconfig.get_paths()["include"], np.get_include())
        if not Path(include[0], "Python.h").exists():
            raise OSError(f"no Python.h in {include[0]} (install Python's headers, python3-dev)")
        flags = ("-O2", "-fPIC", "-shared") + (
            ("-undefined", "dynamic_lookup") if sys.platform == "darwin" else ()
        )
        path = build(source, "_tinygrad_mlp_fuse_rt", flags, include)
        loader = importlib.machinery.ExtensionFileLoader("_tinygrad_mlp_fuse_rt", str(path))
        spec = importlib.util.spec_from_file_location("_tinygrad_mlp_fuse_rt", str(path), loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (OSError, ImportError) as exc:
        _state["runtime"] = OSError(str(exc))
        raise _state["runtime"] from None
    _state["runtime"] = module
    return module


def kernels(source: str, names: list[str]) -> tuple[ctypes.CDLL, dict[str, int]]:
    """Build and load a step's kernels: the library (keep it alive) and each kernel's address."""
    try:
        path = build(source, "kernels", KERNEL_FLAGS + NATIVE)
    except OSError:  # a compiler without -march=native
        path = build(source, "kernels", KERNEL_FLAGS)
    lib = ctypes.CDLL(str(path))
    return lib, {n: ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names}


def unavailable() -> str | None:
    """Why C kernels cannot be used here (None when they can)."""
    if os.environ.get("TINYGRAD_MLP_FUSE", "1") == "0":
        return "TINYGRAD_MLP_FUSE=0"
    try:
        runtime()
    except OSError as exc:
        return str(exc)
    return None
