"""The command line: ``tinygrad-mlp COMMAND`` (also ``python -m tinygrad_mlp COMMAND``).

Each command lives in its own module and is imported only when it runs, so
``--help`` stays fast. Bad values give a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


class CliError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-mlp",
        description="A small autodiff engine over numpy, and the MNIST MLP trained on it.",
    )
    parser.add_argument("--version", action="version", version=f"tinygrad-mlp {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except CliError as exc:
        print(f"tinygrad-mlp {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
