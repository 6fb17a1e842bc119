"""The operations of the engine: one small class per op, its derivatives beside it.

Every op is a :class:`Function` with three methods:

- ``forward(*arrays)``: numpy arrays in, a numpy array out;
- ``vjp(g, out, *inputs)``: the vector-Jacobian product, run by backward: from
  ``g`` = dL/d(out), one gradient per input (``None`` for an input that needs none);
- ``jvp(tangents, out, *inputs)``: the tangent rule, run by forward mode
  (``func.jvp``): from one tangent per input, the tangent of the output.

Each rule carries its math in a one-line comment. The derivative of an op is
written once: ``vjp`` and ``jvp`` use only arithmetic, Tensor-style methods
(``.sum(axis, keepdims)``, ``.reshape``, ``.T``, indexing) and numpy functions that
Tensors implement (``np.where``, ``np.exp``, ``np.broadcast_to`` ...). So the same
code runs on arrays for a first derivative (fast: plain numpy) and on Tensors when
``grad(create_graph=True)`` records the backward pass to differentiate it again:
higher derivatives come for free, as in HIPS autograd.

Rules read the op's inputs and output as arguments rather than keeping them, and
keep on ``self`` only constants (axes, shapes, masks). Nothing holds the output
Tensor, so a graph has no reference cycles and is freed by reference counting.

The ops live in one module per family, as numpy groups its functions: ``core``
(Function and the helpers), ``elementwise``, ``trig`` (trigonometric, hyperbolic, sinc,
arctan2, hypot), ``steps`` (floor, round, sign ...), ``reductions``, ``shape``, ``products``, ``linalg`` and ``losses`` (the
softmax family and fused losses); this package
re-exports them all, so ``ops.Add`` and ``from tinygrad_mlp.ops import Sum`` work.

To add an op: write a ``Function`` subclass in its family's module (forward, vjp, jvp), then a Tensor
method in ``tensor.py`` that calls ``_apply(YourOp, ...)``, then a line in the op
table of ``tests/test_ops.py``. An op of your own may instead define the
first-round ``backward(g)`` on arrays (as ``torch.autograd.Function``); it then has
first derivatives only.

This module imports numpy only; it knows nothing of Tensor.
"""

from . import core as core
from .core import *  # noqa: F403
from .core import _call, _engine_apply, _keepdims_shape, _normalize_axis, _value  # noqa: F401
from .elementwise import *  # noqa: F403
from .linalg import *  # noqa: F403
from .losses import *  # noqa: F403
from .products import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shape import *  # noqa: F403
from .steps import *  # noqa: F403
from .trig import *  # noqa: F403
