"""The command line: ``tinygrad-mlp COMMAND`` (also ``python -m tinygrad_mlp COMMAND``).

Commands: ``train``, ``verify``, ``graph``, ``bench``. Each one's work is imported only
when it runs, so ``--help`` stays fast. Bad values give a one-line error and exit
status 2, never a traceback; output into a closed pipe (``| head -1``) ends quietly
with status 141, as a Unix tool stopped by SIGPIPE does.

Files: ``--save``, ``--out`` and ``--graph`` write into a folder that must exist (a
missing one is an error before any work starts, so a typo never scatters folders);
``--steps DIR`` creates DIR itself when its parent exists, and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__


class CliError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2), and a flag must be
    spelled out (``--los`` is not taken for ``--loss``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
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
) -> None:
    """Options that say which network and loss (shared by train, verify and graph)."""
    p.add_argument(
        "--sizes", type=_int_list, help=f"layer widths, e.g. 784,128,64,32,10 (default: {defaults_from})"
    )
    p.add_argument("--hidden", type=_int_list, help="hidden widths only, e.g. 128,64,32 (784 and 10 added)")
    p.add_argument("--activation", choices=("sigmoid", "relu", "tanh"), help="hidden-layer activation")
    p.add_argument(
        "--output-activation",
        choices=("sigmoid", "relu", "tanh", "none"),
        help="output activation (default: none, i.e. logits, for cross_entropy; else sigmoid, "
        "or, with train --resume, the checkpoint's)",
    )
    p.add_argument("--loss", choices=losses, help=LOSS_HELP + loss_help)
    p.add_argument("--init", choices=("original", "xavier", "he"), help="weight initialisation")
    p.add_argument("--dtype", choices=("float32", "float64"), help="floating point type")
    p.add_argument("--seed", type=_seed, help="random seed for initialisation and shuffling (default 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (each command's ``run`` is set as a default)."""
    parser = _Parser(
        prog="tinygrad-mlp",
        description="A small autodiff engine over numpy, and the MNIST MLP trained on it.",
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
        "--recipe", choices=("original", "better"), default="original", help="the defaults to start from"
    )
    _add_model_options(
        t, "the recipe's", loss_help="; default: the recipe's (original: sse, better: cross_entropy)"
    )
    t.add_argument("--optimizer", choices=("sgd", "adam"))
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--momentum", type=float, help="SGD momentum (default 0)")
    t.add_argument("--lr-decay", type=float, help="multiply the learning rate by this after each epoch")
    t.add_argument("--epochs", type=int)
    t.add_argument("--jit", action="store_true", help="compile the training step (tinygrad_mlp.jit)")
    t.add_argument("--batch-size", type=int)
    t.add_argument(
        "--subset", type=_positive_int, help="train on the first N training images only (quick runs)"
    )
    t.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data)")
    t.add_argument("--no-download", action="store_true", help="never download MNIST")
    t.add_argument(
        "--save",
        metavar="PATH",
        help="write a checkpoint (.npz) after training; its folder must exist (checked before training)",
    )
    t.add_argument("--resume", metavar="PATH", help="start from a checkpoint (with --epochs 0: evaluate it)")
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
    )
    v.add_argument("--batch-size", type=_positive_int, default=125)
    v.add_argument(
        "--steps", type=int, default=0, help="also train both networks K SGD steps and compare weights"
    )
    v.add_argument("--lr", type=float, default=0.1, help="learning rate for --steps")
    v.add_argument("--samples", type=_positive_int, default=5, help="finite-difference entries per parameter")
    v.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data); never downloads")
    v.add_argument(
        "--graph",
        metavar="FILE",
        help="also draw the step's graph, parameters coloured by agreement (its folder must exist)",
    )
    v.add_argument("--layers", action="store_true", help="check the notebook's own FCLayer and MLP instead")
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
        help="output file in an existing folder; its suffix gives the format (default graph.svg)",
    )
    g.add_argument("--format", choices=("svg", "png", "pdf", "dot"), help="override the format")
    _add_model_options(g, "the original network")
    g.add_argument("--batch-size", type=_positive_int, default=125)
    g.add_argument("--show-data", action="store_true", help="print the values of small tensors")
    g.add_argument("--show-grad", action=argparse.BooleanOptionalAction, default=True, help="show gradients")
    g.add_argument("--direction", choices=("forward", "backward"), default="forward", help="edge direction")
    g.add_argument(
        "--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right"
    )
    g.add_argument("--max-nodes", type=_positive_int, help="cut the graph after this many tensors")
    g.add_argument("--legend", action="store_true", help="draw the colour legend")
    g.add_argument(
        "--steps",
        metavar="DIR",
        help="also write one picture per backward step and DIR/index.html (DIR is created if missing)",
    )
    g.add_argument("--data", help="MNIST folder (default: $TINYGRAD_MLP_DATA, else ./data); never downloads")
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
    b.add_argument("--batch-size", type=_positive_int, default=125, help="examples per step (default: 125)")
    b.add_argument(
        "--batch-sizes",
        type=_int_list,
        help="a sweep: time every engine at each of these batch sizes (e.g. 1,16,125,1024) and print "
        "the ratios per size",
    )
    b.add_argument(
        "--loss",
        choices=("sse", "generic"),
        default="sse",
        help="autograd's loss: sse, the fused 0.5*SSE op (default); generic, 0.5 * ((out - y) ** 2).sum() "
        "as a learner writes it",
    )
    b.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    b.add_argument(
        "--steps", type=_positive_int, default=300, help="timed steps per engine (after 20 of warm-up)"
    )
    b.add_argument("--threads", type=_positive_int, help="BLAS (and torch) threads (default: as set up)")
    b.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    b.add_argument("--profile", action="store_true", help="split the autograd step into its parts")
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
            parser.print_help()
            status = 0
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


def _writable_file(path: str, flag: str) -> None:
    """Check, before any work, that ``path`` can be written: its folder exists (none is
    created) and a file can be made there, and ``path`` is not a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CliError(f"{flag} {path}: is a folder; give a file name")
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise CliError(f"{flag} {path}: {folder} is a file, not a folder")
        raise CliError(f"{flag} {path}: the folder {folder} does not exist (create it first)")
    _probe(folder, f"{flag} {path}")


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
    from .data import DataError, load_mnist

    try:
        return load_mnist(args.data, download=not getattr(args, "no_download", False))
    except DataError as exc:
        raise CliError(str(exc).replace("\n", " ")) from None


# ---------------------------------------------------------------- train


def _run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from . import nn
    from .train import (
        RECIPES,
        build,
        check_config,
        config_from_dict,
        config_to_dict,
        fit,
        make_optimizer,
        make_rng,
    )

    base = RECIPES[args.recipe]
    model = opt = None
    extra = {}
    if args.resume:
        try:
            model, extra, meta = nn.load_checkpoint(args.resume)
        except OSError as exc:
            raise CliError(f"--resume {args.resume}: cannot read the checkpoint: {exc.strerror}") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
        try:
            base = config_from_dict(meta.get("train", {}))
        except (TypeError, ValueError):
            raise CliError(
                f"{args.resume}: the checkpoint's 'meta' entry has a malformed 'train' part"
            ) from None
        base = replace(base, **{k: v for k, v in model.config().items() if k != "sizes"}, sizes=model.sizes)
    cfg = _model_config(args, base)
    for key in ("optimizer", "lr", "momentum", "lr_decay", "epochs", "batch_size", "subset"):
        if getattr(args, key) is not None:
            cfg = replace(cfg, **{key: getattr(args, key)})
    cfg = replace(cfg, grad_norms=args.grad_norms)
    try:
        check_config(cfg)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if model is not None and (tuple(cfg.sizes) != model.sizes or cfg.dtype != model.dtype.name):
        raise CliError(f"{args.resume} holds a {model!r}; its sizes and dtype cannot change on resume")
    if args.save:
        _writable_file(args.save, "--save")  # before training, not after it

    data = _load_data(args)
    rng = make_rng(cfg.seed)
    if model is None:
        model, opt = build(cfg, rng)
    else:
        model.activation, model.output_activation = cfg.activation, cfg.output_activation
        opt = make_optimizer(cfg, model)
        if extra and meta.get("train", {}).get("optimizer") == cfg.optimizer:
            opt.load_state_dict(extra)
    decay = f" (x{cfg.lr_decay} per epoch)" if cfg.lr_decay != 1 else ""
    print(
        f"{model!r}, loss {cfg.loss}, {cfg.optimizer} lr {cfg.lr}{decay}, batch {cfg.batch_size}, seed {cfg.seed}"
    )
    history = fit(model, opt, cfg, data, rng, progress=args.progress, jit=args.jit)
    if not history:
        from .train import accuracy

        print(f"test acc {accuracy(model, data[2].astype(model.dtype), data[3]):.2%}")
    if args.save:
        try:
            nn.save_checkpoint(args.save, model, extra=opt.state_dict(), meta={"train": config_to_dict(cfg)})
        except OSError as exc:
            raise CliError(f"{args.save}: cannot write the checkpoint: {exc.strerror}") from None
        print(f"saved {os.path.abspath(args.save)}")
    return 0


# ---------------------------------------------------------------- verify


def _one_batch(args: argparse.Namespace, size: int, rng):
    """A batch of real MNIST if it can be found (never downloaded), else a synthetic one."""
    import numpy as np

    from .data import DataError, default_data_dir, load_mnist

    folder = args.data or default_data_dir()
    try:
        X, y, _, _ = load_mnist(folder, download=False)
    except DataError:
        note = f"no MNIST in {folder}: using a synthetic batch of uniform noise images"
        return rng.uniform(0, 1, (size, 784)).astype(np.float32), rng.randint(0, 10, size), note
    idx = rng.choice(len(X), size=min(size, len(X)), replace=False)
    note = f"a batch of {len(idx)} real MNIST training images from {folder}"
    if size > len(X):
        note += f" (--batch-size {size} is more than the {len(X)} there are: all of them are used)"
    return X[idx], y[idx], note


def _run_verify(args: argparse.Namespace) -> int:
    if args.layers:  # the original notebook's classes, their own numpy code: layercheck.check_backward
        from .layercheck import verify_layers

        return verify_layers(args.seed, args.batch_size, args.samples)
    from dataclasses import replace

    import numpy as np

    from . import nn
    from .train import ORIGINAL, check_config, make_rng
    from .verify import check_loss, compare_gradients

    cfg = _model_config(args, replace(ORIGINAL, dtype="float64"))
    try:
        check_config(replace(cfg, lr=args.lr, loss="sse"))
        check_loss(cfg.loss, cfg.output_activation)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.steps < 0:
        raise CliError(f"--steps must be >= 0, got {args.steps}")
    if args.graph:
        _writable_file(args.graph, "--graph")
    rng = make_rng(cfg.seed)
    model = nn.MLP(cfg.sizes, cfg.activation, cfg.output_activation, cfg.init, np.dtype(cfg.dtype), rng)
    x, labels, note = _one_batch(args, args.batch_size, rng)
    report = compare_gradients(
        model, x, labels, loss=cfg.loss, steps=args.steps, lr=args.lr, samples=args.samples, seed=cfg.seed
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
        raise CliError("--out - (standard output) is not supported: give a file name such as graph.svg")
    fmt = args.format or os.path.splitext(args.out)[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise CliError(
            f"cannot tell the format of --out {args.out}; end it in .svg, .png, .pdf or .dot, or give --format"
        )
    _writable_file(args.out, "--out")
    if args.steps and _writable_folder(args.steps, "--steps"):
        print(f"created the folder {args.steps}")
    rng = make_rng(cfg.seed)
    model = nn.MLP(cfg.sizes, cfg.activation, cfg.output_activation, cfg.init, np.dtype(cfg.dtype), rng)
    x, labels, note = _one_batch(args, args.batch_size, rng)
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
            print(f"wrote the step-by-step pictures and {page}")
        loss = step()
        loss.backward()
        path = render_graph(loss, args.out, format=fmt, **options)
    except GraphvizMissing as exc:
        print(f"tinygrad-mlp graph: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename}: {exc.strerror}") from None
    print(f"{model!r}; {note}")
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------- bench


def _run_bench(args: argparse.Namespace) -> int:
    # PyTorch's OpenMP threads spin after each op by default, taking the cores from
    # numpy's BLAS threads that run next; interleaved timing needs them to sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from . import bench

    if len(args.sizes) < 2:
        raise CliError(f"--sizes needs at least two widths, got {','.join(map(str, args.sizes))}")
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
        )
        print(bench.report(results, batch))
    if not any(r.engine == "torch" for r in results) and not args.no_torch:
        print("(PyTorch is not installed: pip install torch==2.13.0 adds it to the comparison)")
    if args.profile:
        for dtype in dtypes:
            totals = bench.profile(args.sizes, args.batch_size, dtype, args.steps)
            print(f"\nprofile, {dtype}:")
            print(bench.profile_report(totals, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
