"""Products on Tensors: dot (matmul is a ufunc, in elementwise)."""

from __future__ import annotations

import numpy as np

from ._util import _is_tensor, _lift_like


def dot(a, b):
    """numpy.dot for Tensors: a matmul for 1-D and 2-D operands, a product for scalars."""
    t = a if _is_tensor(a) else b
    a, b = _lift_like(a, t), _lift_like(b, t)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise TypeError(f"numpy.dot of {a.ndim}-D and {b.ndim}-D Tensors is not supported (use np.matmul)")
    return a @ b


FUNCTIONS = {
    np.dot: dot,
}
