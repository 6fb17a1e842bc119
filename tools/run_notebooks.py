"""Execute the example notebooks in place, on the full data, so that the outputs
committed with them (graphs, tables, curves) are current: GitHub shows those outputs to
a reader who never runs anything.

    python tools/run_notebooks.py                           # every examples/*.ipynb
    python tools/run_notebooks.py examples/tutorial.ipynb   # one of them

Run it from the repository's root after changing a notebook or anything its output
shows, then commit the notebook. It needs the test extras (``pip install -e ".[dev]"``:
nbclient, ipykernel, matplotlib) and Graphviz's ``dot``, and reads MNIST from
``$TINYGRAD_MLP_DATA``, else the clone's ``data/`` (the one lookup rule of
``tinygrad_mlp.data.find_data_dir``). Variables that shrink a run
(``TUTORIAL_SUBSET`` and the like) are cleared, so the committed outputs are those of
a full run. A notebook whose execution fails is left as it was, and the exit status is 1.

``tests/test_examples.py`` re-executes the tutorial on a small subset and checks that
its text outputs still match the committed ones (see the comments there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHRINKING = ("TUTORIAL_SUBSET", "TUTORIAL_ORIGINAL_EPOCHS", "TUTORIAL_BETTER_EPOCHS")


def execute(path: Path, timeout: int = 1800) -> None:
    """Run every cell of the notebook at ``path`` (working folder: the repository's root)
    and write it back with its outputs; raises nbclient's CellExecutionError on failure."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,  # no timestamps in the file: a rerun changes only what changed
        resources={"metadata": {"path": str(REPO)}},
    ).execute()
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks named on the command line (default: examples/*.ipynb)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: examples/*.ipynb")
    args = parser.parse_args(argv)
    for name in SHRINKING:
        os.environ.pop(name, None)  # the kernel inherits this environment
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    paths = args.notebooks or sorted((REPO / "examples").glob("*.ipynb"))
    failed = 0
    for path in paths:
        start = time.perf_counter()
        try:
            execute(path)
        except Exception as exc:  # CellExecutionError, a dead kernel, a timeout
            failed += 1
            print(f"{path}: FAILED, left unchanged: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            continue
        print(f"{path}: executed in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
