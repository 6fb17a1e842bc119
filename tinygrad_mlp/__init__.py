"""tinygrad_mlp: a small, fast, honest autodiff engine over numpy, and the MLP on it.

    from tinygrad_mlp import Tensor, no_grad
    from tinygrad_mlp import nn, optim
    from tinygrad_mlp import grad, func     # higher derivatives, forward mode
    from tinygrad_mlp import jit            # compile a training step
    from tinygrad_mlp import check_backward  # your own numpy layer's backward, checked

The engine is ``tensor`` (the Tensor), ``ops`` (one class per op) and ``autograd``
(the backward pass); see the README's architecture section for the module map.
"""

from . import func
from .autograd import detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad
from .jit import jit
from .ops import Function, ShapeError
from .tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "Function",
    "grad",
    "func",
    "jit",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "detect_anomaly",
    "check_backward",
    "ShapeError",
    "__version__",
]


def __getattr__(name: str):
    # check_backward is imported on first use (PEP 562): its module costs a tenth of the
    # package's import time, which a training script need not pay
    if name == "check_backward":
        from .layercheck import check_backward

        return check_backward
    raise AttributeError(f"module 'tinygrad_mlp' has no attribute {name!r}")
