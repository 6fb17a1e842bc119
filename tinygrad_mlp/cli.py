"""The command line: ``tinygrad-mlp COMMAND`` (also ``python -m tinygrad_mlp COMMAND``).

Commands: ``train``, ``verify``, ``graph``, ``bench``. Each one's work is imported only
when it runs, so ``--help`` stays fast. Bad values give a one-line error and exit
status 2, never a traceback; output into a closed pipe (``| head -1``) ends quietly
with status 141, as a Unix tool stopped by SIGPIPE does.

Files: ``--save``, ``--out`` and ``--graph`` write into a folder that must exist (a
missing one is an error before any work starts, so a typo never scatters folders);
``--steps DIR`` creates DIR itself when its parent exists, and says so. A symbolic link
is written through to its target; a device or a pipe (``--out /dev/stdout``) is streamed
into; a folder, a disk or a socket is refused (``_files`` says how each is written).

Flags: every option shows its default in ``--help``; an option that does not apply to the
others given (``--momentum`` with Adam, ``verify --lr`` without ``--steps``) is an error
naming both, and so is one that contradicts the checkpoint ``--resume`` continues. Every
check runs before any work starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__


class CliError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already says it: a
    switch's is "off", a list's is written as it is typed (784,128,10)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0 and action.default is False:
            return f"{text} (default: off)"
        if action.default is None:
            return text
        value = action.default
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else "%(default)s"
        return f"{text} (default: {shown})"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2), a flag must be
    spelled out (``--los`` is not taken for ``--loss``), and help shows every default."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"every number must be at least 1, got {text!r}")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(v for v in text.replace(" ", "").split(",") if v)
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


# bench's engines (bench.run), for --engines; "torch" is timed when installed
ENGINES = ("autograd", "manual", "rules", "jit", "tight", "gemm", "torch")


def whole_number(least: int, below: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for a whole number >= ``least`` (and < ``below``), with a
    one-line message for anything else (the examples use it too)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if below is not None and not least <= value < below:
            raise argparse.ArgumentTypeError(f"must be between {least} and {below - 1}, got {value}")
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    return parse


_seed = whole_number(0, 2**32)
_positive_int = whole_number(1)


TRAIN_LOSSES = ("sse", "cross_entropy", "mse")
LOSS_HELP = (
    "sse = 0.5*sum((y_pred-y)^2), the original's; mse = mean((y_pred-y)^2); "
    "cross_entropy = softmax cross-entropy on logits, mean over the batch"
)


def _add_model_options(
    p: argparse.ArgumentParser,
    defaults_from: str,
    losses: Sequence[str] = TRAIN_LOSSES,
    loss_help: str = "; default sse",
    dtype_default: str = "float32",
) -> None:
    """Options that say which network and loss (shared by train, verify and graph)."""
    p.add_argument(
        "--sizes", type=_int_list, help=f"layer widths, e.g. 784,128,64,32,10 (default: {defaults_from})"
    )
    p.add_argument(
        "--hidden",
        type=_int_list,
        help="hidden widths only, e.g. 128,64,32 (784 and 10 added; default: as --sizes)",
    )
    p.add_argument(
        "--activation",
        choices=("sigmoid", "relu", "tanh"),
        help=f"hidden-layer activation (default: {defaults_from})",
    )
    p.add_argument(
        "--output-activation",
        choices=("sigmoid", "relu", "tanh", "none"),
        help="output activation (default: none, i.e. logits, for cross_entropy; else sigmoid, "
        "or, with train --resume, the checkpoint's)",
    )
    p.add_argument("--loss", choices=losses, help=LOSS_HELP + loss_help)
    p.add_argument(
        "--init",
        choices=("original", "xavier", "he"),
        help=f"weight initialisation (default: {defaults_from})",
    )
    p.add_argument(
        "--dtype", choices=("float32", "float64"), help=f"floating point type (default: {dtype_default})"
    )
    p.add_argument("--seed", type=_seed, help="random seed for initialisation and shuffling (default: 0)")


DATA_HELP = (
    "MNIST folder, which must exist (default: $TINYGRAD_MLP_DATA, else the first data/ folder holding "
    "MNIST from here up to the clone's top, else the clone's data/, downloaded into)"
)


def _add_data_options(p: argparse.ArgumentParser, synthetic: bool) -> None:
    """Where MNIST comes from: one rule for every command (tinygrad_mlp.data.find_data_dir)."""
    p.add_argument("--data", metavar="DIR", help=DATA_HELP)
    p.add_argument(
        "--no-download", action="store_true", help="never download MNIST (a missing file is an error)"
    )
    if synthetic:
        p.add_argument(
            "--synthetic",
            action="store_true",
            help="use a batch of uniform noise images instead of MNIST (never done unless asked)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (each command's ``run`` is set as a default)."""
    parser = _Parser(
        prog="tinygrad-mlp",
        description="A small autodiff engine over numpy, and the MNIST MLP trained on it. Exit status: 0 done, "
        "1 a check that did not pass (verify) or a missing Graphviz (graph), 2 bad input (one line on stderr), "
        "130 interrupted, 141 output into a closed pipe.",
    )
    parser.add_argument("--version", action="version", version=f"tinygrad-mlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="train the MLP on MNIST",
        description="Train on MNIST; one line per epoch: loss, train and test accuracy, seconds. "
        "The default is the original notebook's recipe; --recipe better is a modern MLP.",
    )
    t.add_argument(
        "--recipe",
        choices=("original", "better"),
        help="the defaults to start from (default: original; with --resume, the checkpoint's)",
    )
    _add_model_options(
        t, "the recipe's", loss_help="; default: the recipe's (original: sse, better: cross_entropy)"
    )
    t.add_argument(
        "--optimizer", choices=("sgd", "adam"), help="optimizer (default: the recipe's: sgd, adam)"
    )
    t.add_argument("--lr", type=float, help="learning rate (default: the recipe's: 0.1, 0.001)")
    t.add_argument("--momentum", type=float, help="SGD momentum, with --optimizer sgd only (default: 0)")
    t.add_argument(
        "--lr-decay",
        type=float,
        help="multiply the learning rate by this after each epoch (default: the recipe's: 1, 0.8)",
    )
    t.add_argument(
        "--epochs",
        type=int,
        help="epochs to train (default: the recipe's: 2, 10); with --resume, epochs more (default: as many "
        "as the checkpoint's run had; 0 evaluates it)",
    )
    t.add_argument("--batch-size", type=int, help="examples per step (default: the recipe's: 125, 128)")
    t.add_argument(
        "--jit", action="store_true", help="compile the training step (tinygrad_mlp.jit; default: eager)"
    )
    t.add_argument(
        "--subset",
        type=_positive_int,
        help="train on the first N training images only (quick runs; default: all 60000)",
    )
    _add_data_options(t, synthetic=False)
    t.add_argument(
        "--threads",
        type=_positive_int,
        help="BLAS threads (default: as numpy's BLAS set itself up; on a busy or shared machine 1 is often "
        "fastest)",
    )
    t.add_argument(
        "--save",
        metavar="PATH",
        help="write a checkpoint (.npz) after training, holding what --resume needs; its folder must exist "
        "(checked before training; default: none)",
    )
    t.add_argument(
        "--resume",
        metavar="PATH",
        help="continue the run a checkpoint saved, exactly (optimizer state, learning-rate schedule, epoch, "
        "shuffling); flags that contradict it are errors; with --epochs 0: evaluate it (default: none)",
    )
    t.add_argument(
        "--grad-norms", action="store_true", help="print each layer's mean gradient norm per epoch"
    )
    t.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, help="progress bar (default: on a terminal)"
    )
    t.set_defaults(run=_run_train)

    v = sub.add_parser(
        "verify",
        help="automatic vs hand-written vs numerical gradients, side by side",
        description="Compare, on one MNIST batch, the autograd gradients of the chosen loss with the "
        "hand-written network's (dout = y_pred - y, the gradient of 0.5*SSE whatever the loss) and with "
        "float64 finite differences. Exit status 0 exactly when the last line says all gradients agree "
        "(1 on a mismatch, 2 on bad input). Only --loss sse can agree; for the others a note explains the "
        "difference. --loss printed_ce is the loss the original notebook printed, -sum(y log y_pred)/N "
        "on sigmoid outputs: its gradient is not what the notebook computed.",
    )
    _add_model_options(
        v,
        "the original network",
        (*TRAIN_LOSSES, "printed_ce"),
        "; printed_ce = -sum(y*log(y_pred))/N, the original notebook's printed loss (sigmoid outputs only); "
        "default sse",
        dtype_default="float64",
    )
    v.add_argument("--batch-size", type=_positive_int, default=125, help="examples in the checked batch")
    v.add_argument(
        "--steps",
        type=whole_number(0),
        help="also train both networks K SGD steps and compare weights (default: 0)",
    )
    v.add_argument("--lr", type=float, help="learning rate for --steps (default: 0.1)")
    v.add_argument("--samples", type=_positive_int, default=5, help="finite-difference entries per parameter")
    _add_data_options(v, synthetic=True)
    v.add_argument(
        "--graph",
        metavar="FILE",
        help="also draw the step's graph, parameters coloured by agreement; .svg, .png, .pdf or .dot, in a "
        "folder that exists (default: none)",
    )
    v.add_argument(
        "--layers",
        action="store_true",
        help="check the notebook's own FCLayer and MLP instead (takes --seed, --batch-size, --samples only)",
    )
    v.set_defaults(run=_run_verify)

    g = sub.add_parser(
        "graph",
        help="render the computation graph of one training step",
        description="Build one training step of the MLP (forward, loss, backward) and draw its graph "
        "with Graphviz. Needs Graphviz's dot program (apt-get install graphviz / brew install graphviz); "
        "without it the .dot file is written and the command to render it printed.",
    )
    g.add_argument(
        "--out",
        default="graph.svg",
        help="output file in an existing folder, its suffix the format; or a device or pipe to stream into "
        "(--out /dev/stdout --format dot)",
    )
    g.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "dot"),
        help="the format, for an --out without a suffix (default: --out's suffix; must agree with it)",
    )
    _add_model_options(g, "the original network")
    g.add_argument("--batch-size", type=_positive_int, default=125, help="examples in the step")
    g.add_argument("--show-data", action="store_true", help="print the values of small tensors")
    g.add_argument("--show-grad", action=argparse.BooleanOptionalAction, default=True, help="show gradients")
    g.add_argument("--direction", choices=("forward", "backward"), default="forward", help="edge direction")
    g.add_argument(
        "--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right"
    )
    g.add_argument(
        "--max-nodes", type=_positive_int, help="cut the graph after this many tensors (default: no limit)"
    )
    g.add_argument("--legend", action="store_true", help="draw the colour legend")
    g.add_argument(
        "--steps",
        metavar="DIR",
        help="also write one picture per backward step and DIR/index.html (DIR is created if missing; "
        "default: none)",
    )
    _add_data_options(g, synthetic=True)
    g.set_defaults(run=_run_graph)

    b = sub.add_parser(
        "bench",
        help="time autograd and hand-written training steps side by side",
        description="Time training steps of the original MLP (sigmoid, 0.5*SSE, SGD) done by the autograd "
        "engine, by the hand-written numpy network and, when installed, by PyTorch, interleaved in one "
        "process, beside the engine's op rules alone (rules: what they cost without the engine's "
        "bookkeeping), a tight hand-written numpy step (tight) and the step's matrix products alone "
        "(gemm: the floor); print median times and ratios. "
        "Timings belong here, never in the tests.",
    )
    b.add_argument("--sizes", type=_int_list, default=(784, 128, 64, 32, 10), help="layer widths")
    b.add_argument("--batch-size", type=_positive_int, help="examples per step (default: 125)")
    b.add_argument(
        "--batch-sizes",
        type=_int_list,
        help="a sweep: time every engine at each of these batch sizes (e.g. 1,16,125,1024) and print "
        "the ratios per size (default: none, one --batch-size)",
    )
    b.add_argument(
        "--loss",
        choices=("sse", "generic"),
        help="autograd's loss, --mode step only: sse, the fused 0.5*SSE op (default); generic, "
        "0.5 * ((out - y) ** 2).sum() as a learner writes it",
    )
    b.add_argument(
        "--dtype", choices=("float32", "float64", "both"), default="both", help="floating point type"
    )
    b.add_argument(
        "--steps", type=_positive_int, default=300, help="timed steps per engine (after 20 of warm-up)"
    )
    b.add_argument(
        "--threads",
        type=_positive_int,
        help="BLAS (and torch) threads (default: as numpy's BLAS set itself up)",
    )
    b.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    b.add_argument(
        "--engines",
        type=_name_list,
        help="time only these engines, --mode step only (e.g. autograd,jit for a large network, "
        f"where each step takes seconds); of {','.join(ENGINES)} (default: all)",
    )
    b.add_argument(
        "--profile", action="store_true", help="split the autograd step into its parts (--mode step only)"
    )
    b.add_argument(
        "--mode",
        choices=("step", "hvp", "memory"),
        default="step",
        help="step: training steps (default); hvp: a jvp and a Hessian-vector product of the loss "
        "against a forward and a gradient (with torch.func beside them when installed); memory: "
        "peak bytes of one step of autograd, jit and tight (tracemalloc)",
    )
    b.set_defaults(run=_run_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    command = "tinygrad-mlp"
    try:
        args = parser.parse_args(argv)  # --help prints here, and may meet a closed pipe too
        command = f"tinygrad-mlp {args.command}"
        if args.command is None:
            parser.print_usage(sys.stderr)
            print("tinygrad-mlp: error: give a command (see tinygrad-mlp --help)", file=sys.stderr)
            status = 2
        else:
            status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit, where it would print a traceback
        return status
    except CliError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, as a tool stopped by SIGPIPE does.
        # What is left in stdout's buffer goes to /dev/null, so the flush at exit cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _writable_file(path: str, flag: str) -> str:
    """Check, before any work, that ``path`` can be written as ``_files.atomic_write``
    writes it: a device or pipe must be writable; for a file (or a link to one) its folder
    must exist (none is created) and a file can be made there. A folder, a disk or a
    socket is refused. Returns the kind of write, "file" or "stream"."""
    from ._files import target_path, write_kind

    try:
        kind = write_kind(path)
    except OSError as exc:
        raise CliError(f"{flag} {path}: {exc.strerror}") from None
    if kind == "stream":
        if not os.access(path, os.W_OK):
            raise CliError(f"{flag} {path}: not writable")
        return kind
    folder = os.path.dirname(os.path.abspath(target_path(path)))
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise CliError(f"{flag} {path}: {folder} is a file, not a folder")
        raise CliError(f"{flag} {path}: the folder {folder} does not exist (create it first)")
    _probe(folder, f"{flag} {path}")
    return kind


GRAPH_SUFFIXES = {"svg": (".svg",), "png": (".png",), "pdf": (".pdf",), "dot": (".dot", ".gv")}


def _graph_format(path: str, flag: str, given: str | None = None) -> str:
    """The picture format of ``path``: its suffix's, which ``--format`` (``given``) must
    agree with; a path without a suffix (a device, a pipe) takes ``given``, else svg."""
    suffix = os.path.splitext(path)[1].lower()
    by_suffix = next((fmt for fmt, ends in GRAPH_SUFFIXES.items() if suffix in ends), None)
    if given is not None:
        if suffix and by_suffix != given:
            raise CliError(
                f"{flag} {path} ends in {suffix} but --format {given} writes {given.upper()}: name it "
                f"{os.path.splitext(path)[0]}{GRAPH_SUFFIXES[given][0]}, or drop --format"
            )
        return given
    if by_suffix is None and suffix:
        raise CliError(
            f"{flag} {path}: cannot tell the format from {suffix}; end it in .svg, .png, .pdf or .dot"
        )
    return by_suffix or "svg"


def _not_applicable(args: argparse.Namespace, flags: Sequence[str], because: str) -> None:
    """Refuse the first of ``flags`` (attribute names) the user gave: it does not apply
    ``because`` (a phrase naming the other flag)."""
    for name in flags:
        value = getattr(args, name, None)
        if value is not None and value is not False:
            flag = "--" + name.replace("_", "-")
            shown = (
                ""
                if value is True
                else " " + (",".join(map(str, value)) if isinstance(value, tuple) else str(value))
            )
            raise CliError(f"{flag}{shown} does not apply {because}")


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _warn_threads(command: str, threads: int | None) -> None:
    """One line when ``--threads`` asks for more threads than there are cores."""
    cores = _cores()
    if threads is not None and threads > cores:
        print(
            f"tinygrad-mlp {command}: warning: --threads {threads} is more than the {cores} core"
            f"{'s' if cores > 1 else ''} this process may use; the extra threads only wait for each other",
            file=sys.stderr,
        )


def _probe(folder: str, what: str) -> None:
    """Make and remove a temporary file in ``folder``: the one sure test that it is writable."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".tinygrad-mlp-probe.", dir=folder)
    except OSError as exc:
        raise CliError(f"{what}: cannot write in {folder}: {exc.strerror}") from None
    os.close(fd)
    os.remove(tmp)


def _writable_folder(path: str, flag: str) -> bool:
    """Check that files can be written into the folder ``path``; create it (only it, not
    its parents) if missing. Returns True when it was created."""
    if os.path.isdir(path):
        _probe(path, f"{flag} {path}")
        return False
    if os.path.exists(path):
        raise CliError(f"{flag} {path}: is a file, not a folder")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(f"{flag} {path}: the folder {parent} does not exist (create it first)")
    try:
        os.mkdir(path)
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot create the folder: {exc.strerror}") from None
    return True


# ---------------------------------------------------------------- helpers shared by commands


def _model_config(args: argparse.Namespace, base):
    """The TrainConfig ``base`` with the model options the user gave. Unless told, the
    output activation is none (logits) for cross_entropy, which takes logits, and
    the base's (else sigmoid) for the other losses."""
    from dataclasses import replace

    changes = {}
    if args.sizes and args.hidden:
        raise CliError("give --sizes or --hidden, not both")
    if args.sizes:
        changes["sizes"] = args.sizes
    if args.hidden:
        changes["sizes"] = (784, *args.hidden, 10)
    for key in ("activation", "loss", "dtype", "seed", "init"):
        if getattr(args, key, None) is not None:
            changes[key] = getattr(args, key)
    cfg = replace(base, **changes)
    out_act = args.output_activation
    if out_act is None:
        out_act = None if cfg.loss == "cross_entropy" else (base.output_activation or "sigmoid")
    return replace(cfg, output_activation=None if out_act == "none" else out_act)


def _load_data(args: argparse.Namespace):
    """MNIST by the one lookup rule; a missing or broken folder or file is a CliError naming it."""
    from .data import DataError, load_mnist

    try:
        return load_mnist(args.data, download=not args.no_download, given_as="--data")
    except DataError as exc:
        raise CliError(str(exc).replace("\n", " ")) from None


# ---------------------------------------------------------------- train


# The options that define a training run: given with --resume, each must agree with the checkpoint.
RUN_OPTIONS = (
    "sizes",
    "activation",
    "output_activation",
    "loss",
    "init",
    "dtype",
    "seed",
    "optimizer",
    "lr",
    "momentum",
    "lr_decay",
    "batch_size",
    "subset",
)


def _flag_value(args: argparse.Namespace, key: str):
    """The value the user gave for a run option, as TrainConfig holds it (``--hidden 16`` as
    sizes (784, 16, 10), ``--output-activation none`` as "none"); None when not given."""
    if key == "sizes":
        if args.sizes and args.hidden:
            raise CliError("give --sizes or --hidden, not both")
        return args.sizes or ((784, *args.hidden, 10) if args.hidden else None)
    return getattr(args, key)


def _shown(key: str, value) -> str:
    """A run option as its flag: ``--sizes 784,16,10``, ``--output-activation none``."""
    if value is None and key == "output_activation":
        value = "none"
    return f"--{key.replace('_', '-')} {','.join(map(str, value)) if isinstance(value, tuple) else value}"


def _resume_config(args: argparse.Namespace, path: str):
    """Read the checkpoint ``path``: the model, the optimizer's arrays, its meta, and the
    TrainConfig of its run. Every run option the user also gave must agree with it."""
    from dataclasses import replace

    from . import nn
    from .train import config_from_dict

    try:
        model, extra, meta = nn.load_checkpoint(path)
    except OSError as exc:
        raise CliError(f"--resume {path}: cannot read the checkpoint: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        cfg = config_from_dict(meta.get("train", {}))
    except (TypeError, ValueError):
        raise CliError(f"{path}: the checkpoint's 'meta' entry has a malformed 'train' part") from None
    cfg = replace(cfg, **{k: v for k, v in model.config().items() if k != "sizes"}, sizes=model.sizes)
    known = set(meta.get("train", {})) | {"sizes", "activation", "output_activation", "dtype"}
    recipe = meta.get("recipe")
    if args.recipe is not None and recipe is not None and args.recipe != recipe:
        raise CliError(f"--recipe {args.recipe} contradicts {path}, a run of --recipe {recipe}")
    for key in RUN_OPTIONS:
        given = _flag_value(args, key)
        if given is None or key not in known or (key == "momentum" and cfg.optimizer != "sgd"):
            continue  # (momentum with Adam: refused below as not applying)
        held = getattr(cfg, key)
        if given == held or (given == "none" and held is None):
            continue
        raise CliError(
            f"{_shown(key, given)} contradicts {path}, a run of {_shown(key, held)}: drop the flag to "
            f"continue that run, or train a new one without --resume"
        )
    return model, extra, meta, cfg


def _run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .train import (
        RECIPES,
        build,
        check_config,
        config_to_dict,
        fit,
        make_optimizer,
        make_rng,
        restore_training_state,
        training_state,
    )

    model, meta = None, {}
    if args.resume:
        model, extra, meta, cfg = _resume_config(args, args.resume)
        recipe = meta.get("recipe") or args.recipe
        if args.epochs is not None:
            cfg = replace(cfg, epochs=args.epochs)
        if cfg.epochs and "resume" not in meta:
            raise CliError(
                f"--resume {args.resume}: this checkpoint holds the weights but not the training state a run "
                f"needs to continue (optimizer step, learning-rate schedule, epoch, shuffling): it was saved "
                f"by an older version; --epochs 0 evaluates it"
            )
    else:
        recipe = args.recipe or "original"
        cfg = _model_config(args, RECIPES[recipe])
        for key in ("optimizer", "lr", "momentum", "lr_decay", "epochs", "batch_size", "subset"):
            if getattr(args, key) is not None:
                cfg = replace(cfg, **{key: getattr(args, key)})
    if cfg.optimizer != "sgd":
        source = f" (the checkpoint {args.resume}'s)" if args.resume else f" (the {recipe} recipe's)"
        source = "" if args.optimizer else source
        _not_applicable(args, ("momentum",), f"to --optimizer {cfg.optimizer}{source}: momentum is SGD's")
    cfg = replace(cfg, grad_norms=args.grad_norms)
    try:
        check_config(cfg)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.save:
        _writable_file(args.save, "--save")  # before training, not after it
    _warn_threads("train", args.threads)

    data = _load_data(args)
    rng = make_rng(cfg.seed)
    first_epoch = 0
    model_is_new = model is None
    if model_is_new:
        model, opt = build(cfg, rng)
    else:
        opt = make_optimizer(cfg, model)
        if "resume" in meta:
            try:
                opt.load_state_dict(extra)
                first_epoch = restore_training_state(meta["resume"], opt, rng)
            except (KeyError, ValueError) as exc:
                raise CliError(
                    f"--resume {args.resume}: the checkpoint's training state is broken: {exc}"
                ) from None
    decay = f" (x{cfg.lr_decay} per epoch)" if cfg.lr_decay != 1 else ""
    momentum = f" momentum {cfg.momentum}" if cfg.momentum else ""
    print(
        f"{model!r}, loss {cfg.loss}, {cfg.optimizer} lr {cfg.lr}{decay}{momentum}, batch {cfg.batch_size}, "
        f"seed {cfg.seed}"
    )
    if first_epoch:
        print(f"resumed {args.resume} after epoch {first_epoch}, learning rate now {opt.lr:.6g}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        history = fit(
            model, opt, cfg, data, rng, progress=args.progress, first_epoch=first_epoch, jit=args.jit
        )
        if not history:
            from .train import accuracy

            print(f"test acc {accuracy(model, data[2].astype(model.dtype), data[3]):.2%}")
    if args.save:
        from . import nn

        meta_out = {"train": config_to_dict(cfg), "recipe": recipe}
        if model_is_new or "resume" in meta:  # an old checkpoint's evaluation cannot be continued
            meta_out["resume"] = training_state(opt, rng, first_epoch + len(history))
        try:
            nn.save_checkpoint(args.save, model, extra=opt.state_dict(), meta=meta_out)
        except OSError as exc:
            raise CliError(f"--save {args.save}: cannot write the checkpoint: {exc.strerror}") from None
        print(f"saved {os.path.abspath(args.save)}")
    return 0


# ---------------------------------------------------------------- verify


def _check_synthetic(args: argparse.Namespace) -> None:
    if args.synthetic:
        _not_applicable(args, ("data", "no_download"), "with --synthetic (noise images, no MNIST)")


def _one_batch(args: argparse.Namespace, mnist, size: int, rng):
    """A batch drawn with ``rng`` from ``mnist`` (loaded by :func:`_load_data`), or of noise
    when it is None (--synthetic)."""
    import numpy as np

    if mnist is None:
        note = "a synthetic batch of uniform noise images (--synthetic)"
        return rng.uniform(0, 1, (size, 784)).astype(np.float32), rng.randint(0, 10, size), note
    from .data import find_data_dir

    X, y, _, _ = mnist
    folder = find_data_dir(args.data)
    idx = rng.choice(len(X), size=min(size, len(X)), replace=False)
    note = f"a batch of {len(idx)} real MNIST training images from {folder}"
    if size > len(X):
        note += f" (--batch-size {size} is more than the {len(X)} there are: all of them are used)"
    return X[idx], y[idx], note


def _run_verify(args: argparse.Namespace) -> int:
    if args.layers:  # the original notebook's classes, their own numpy code: layercheck.check_backward
        _not_applicable(
            args,
            (
                "sizes",
                "hidden",
                "activation",
                "output_activation",
                "loss",
                "init",
                "dtype",
                "steps",
                "lr",
                "data",
                "no_download",
                "synthetic",
                "graph",
            ),
            "with --layers (it checks the notebook's own FCLayer and MLP on random images: "
            "it takes --seed, --batch-size and --samples)",
        )
        from .layercheck import verify_layers

        return verify_layers(args.seed, args.batch_size, args.samples)
    from dataclasses import replace

    import numpy as np

    from . import nn
    from .train import ORIGINAL, check_config, make_rng
    from .verify import check_loss, compare_gradients

    cfg = _model_config(args, replace(ORIGINAL, dtype="float64"))
    if not args.steps:
        _not_applicable(args, ("lr",), "without --steps K (the learning rate of the K training steps)")
    steps, lr = args.steps or 0, 0.1 if args.lr is None else args.lr
    try:
        check_config(replace(cfg, lr=lr, loss="sse"))
        check_loss(cfg.loss, cfg.output_activation)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _check_synthetic(args)
    if args.graph:
        _graph_format(args.graph, "--graph")
        _writable_file(args.graph, "--graph")
    mnist = None if args.synthetic else _load_data(args)
    rng = make_rng(cfg.seed)
    model = nn.MLP(cfg.sizes, cfg.activation, cfg.output_activation, cfg.init, np.dtype(cfg.dtype), rng)
    x, labels, note = _one_batch(args, mnist, args.batch_size, rng)
    report = compare_gradients(
        model, x, labels, loss=cfg.loss, steps=steps, lr=lr, samples=args.samples, seed=cfg.seed
    )
    print(f"{model!r}, init {cfg.init}; {note}")
    print(report)
    if args.graph:
        _verify_graph(args.graph, model, cfg, x, labels, report)
    return 0 if report.passed else 1


def _verify_graph(path: str, model, cfg, x, labels, report) -> None:
    """Draw the verified step's graph with each parameter coloured by its agreement."""
    from . import nn
    from .tensor import Tensor
    from .verify import loss_fn
    from .viz import GraphvizMissing, render_graph

    target = Tensor(nn.one_hot(labels, cfg.sizes[-1], cfg.dtype), name="y")
    loss = loss_fn(cfg.loss)(model(Tensor(x.astype(cfg.dtype), name="x")), target)
    loss.backward()
    try:
        render_graph(loss, path, params=dict(model.named_parameters()), agreement=report.agreement())
        print(f"wrote {path} (green: the parameter's gradients agree; red: they do not)")
    except GraphvizMissing as exc:
        print(f"tinygrad-mlp verify: {exc}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        raise CliError(f"--graph {path}: {exc}") from None


# ---------------------------------------------------------------- graph


def _run_graph(args: argparse.Namespace) -> int:

    import numpy as np

    from . import nn
    from .tensor import Tensor
    from .train import ORIGINAL, check_config, loss_of, make_rng
    from .viz import GraphvizMissing, render_backward_steps, render_graph

    cfg = _model_config(args, ORIGINAL)
    try:
        check_config(cfg)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.out == "-":
        raise CliError(
            "--out - is not supported: give a file name such as graph.svg, or --out /dev/stdout --format dot"
        )
    fmt = _graph_format(args.out, "--out", args.format)
    streamed = _writable_file(args.out, "--out") == "stream"
    if streamed and fmt != "dot":
        import shutil

        if shutil.which("dot") is None:  # else the .dot file would be written beside a device
            raise CliError(
                f"--out {args.out}: Graphviz's dot is not installed, so only --format dot can stream"
            )
    _check_synthetic(args)
    mnist = None if args.synthetic else _load_data(args)
    # What is said goes to stderr when the picture itself streams out (--out /dev/stdout).
    say = sys.stderr if streamed else sys.stdout
    if args.steps and _writable_folder(args.steps, "--steps"):
        print(f"created the folder {args.steps}", file=say)
    rng = make_rng(cfg.seed)
    model = nn.MLP(cfg.sizes, cfg.activation, cfg.output_activation, cfg.init, np.dtype(cfg.dtype), rng)
    x, labels, note = _one_batch(args, mnist, args.batch_size, rng)
    params = dict(model.named_parameters())
    options = dict(
        params=params,
        show_data=args.show_data,
        show_grad=args.show_grad,
        rankdir=args.rankdir,
        max_nodes=args.max_nodes,
        direction=args.direction,
        legend=args.legend,
    )

    def step():
        return loss_of(cfg, model(Tensor(np.asarray(x, dtype=cfg.dtype), name="x")), labels)

    try:
        if args.steps:
            page = render_backward_steps(step(), args.steps, **options)
            model.zero_grad()  # the picture below shows one step's gradients, not two
            print(f"wrote the step-by-step pictures and {page}", file=say)
        loss = step()
        loss.backward()
        path = render_graph(loss, args.out, format=fmt, **options)
    except GraphvizMissing as exc:
        print(f"tinygrad-mlp graph: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename}: {exc.strerror}") from None
    print(f"{model!r}; {note}", file=say)
    print(f"wrote {path}", file=say)
    return 0


# ---------------------------------------------------------------- bench


def _run_bench(args: argparse.Namespace) -> int:
    # PyTorch's OpenMP threads spin after each op by default, taking the cores from
    # numpy's BLAS threads that run next; interleaved timing needs them to sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from . import bench

    if len(args.sizes) < 2:
        raise CliError(f"--sizes needs at least two widths, got {','.join(map(str, args.sizes))}")
    if args.mode == "hvp":
        _not_applicable(args, ("profile", "loss", "batch_sizes"), "to --mode hvp (it times a jvp and an hvp)")
    if args.batch_sizes:
        _not_applicable(args, ("batch_size", "profile"), "with --batch-sizes (a sweep over several sizes)")
    if args.mode != "step":
        _not_applicable(args, ("engines",), f"to --mode {args.mode}")
    unknown = [e for e in args.engines or () if e not in ENGINES]
    if unknown:
        raise CliError(f"--engines: unknown engine {unknown[0]!r}; the engines are {', '.join(ENGINES)}")
    args.batch_size = args.batch_size or 125
    args.loss = args.loss or "sse"
    _warn_threads("bench", args.threads)
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    if args.mode == "hvp":
        for dtype in dtypes:
            steps = min(args.steps, 100)
            res = bench.run_higher(
                args.sizes, args.batch_size, dtype, steps, threads=args.threads, use_torch=not args.no_torch
            )
            print(bench.report_higher(res, args.sizes, args.batch_size, dtype, steps))
        return 0
    if args.mode == "memory":
        for dtype in dtypes:
            peaks = bench.peak_memory(args.sizes, args.batch_size, dtype, loss=args.loss)
            print(bench.report_memory(peaks, args.sizes, args.batch_size, dtype))
        return 0
    loss = "fused 0.5*SSE" if args.loss == "sse" else "0.5*((out - y)**2).sum()"
    threads = args.threads or bench._blas_threads()
    cores = os.cpu_count() or 1
    if args.threads is None and threads > 1 and threads >= cores:
        print(
            f"note: numpy's BLAS runs {threads} threads on {cores} cores, where everything else on the "
            f"machine competes with them, so ratios move from run to run; --threads 1 gives steadier ones"
        )
    for batch in args.batch_sizes or (args.batch_size,):  # each >= 1: the parser checked
        print(
            f"MLP {'-'.join(map(str, args.sizes))}, sigmoid, autograd loss {loss}, SGD, batch {batch}; "
            f"{args.steps} steps per engine and dtype, {threads} BLAS thread{'s' if threads > 1 else ''}"
        )
        results = bench.run(
            sizes=args.sizes,
            batch=batch,
            dtypes=dtypes,
            steps=args.steps,
            threads=args.threads,
            use_torch=not args.no_torch,
            loss=args.loss,
            engines=args.engines,
        )
        print(bench.report(results, batch))
    wanted_torch = not args.no_torch and (not args.engines or "torch" in args.engines)
    if not any(r.engine == "torch" for r in results) and wanted_torch:
        print("(PyTorch is not installed: pip install torch==2.13.0 adds it to the comparison)")
    if args.profile:
        for dtype in dtypes:
            totals = bench.profile(args.sizes, args.batch_size, dtype, args.steps)
            print(f"\nprofile, {dtype}:")
            print(bench.profile_report(totals, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
