"""numpy.linalg on Tensors."""

from __future__ import annotations

FUNCTIONS: dict = {}
