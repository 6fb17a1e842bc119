"""Shape ops: reshape, broadcast, transpose, indexing, assignment, stacking, concatenation.

The numpy shape family (flip, roll, pad, tile, repeat, diag, sort ...) is built in
``numpy_api/shape.py`` from these few ops: index (a gather, whose adjoint is a scatter-add),
setitem, reshape, broadcast, transpose and concatenate."""

from __future__ import annotations

import numpy as np

from .core import Function, ShapeError, _call, unbroadcast

# ---------------------------------------------------------------- shape ops


class Reshape(Function):
    """A new shape, same data."""

    name = "reshape"

    def forward(self, a, shape=()):
        self.target = tuple(shape)
        return a.reshape(shape)

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(
            f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {self.target}"
        )

    def vjp(self, g, out, a):
        # d(reshape a)/da = g reshaped back to a's shape
        return (g.reshape(a.shape),)

    def jvp(self, t, out, a):
        # d(reshape a) = reshape(da)
        return t[0].reshape(out.shape)


class BroadcastTo(Function):
    """np.broadcast_to(a, shape): a read-only broadcast view."""

    name = "broadcast_to"

    def forward(self, a, shape=()):
        return np.broadcast_to(a, shape)

    def vjp(self, g, out, a):
        # d broadcast(a)/da = g summed over the broadcast axes
        return (unbroadcast(g, a.shape),)

    def jvp(self, t, out, a):
        # d broadcast(a) = broadcast(da)
        return np.broadcast_to(t[0], out.shape)


class Transpose(Function):
    """Permute axes (None: reverse them)."""

    name = "transpose"

    def forward(self, a, axes=None):
        if axes is not None:
            if any(not -a.ndim <= x < a.ndim for x in axes) or sorted(
                int(x) % max(a.ndim, 1) for x in axes
            ) != list(range(a.ndim)):
                raise ShapeError(
                    f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes "
                    f"of shape {a.shape} (to swap two axes, use swapaxes)"
                )
            axes = tuple(int(x) % a.ndim for x in axes)
        self.axes = axes
        return np.transpose(a, axes)

    def vjp(self, g, out, a):
        # d(transpose a)/da = g transposed back by the inverse permutation
        return (np.transpose(g, None if self.axes is None else tuple(np.argsort(self.axes))),)

    def jvp(self, t, out, a):
        # d(transpose a) = transpose(da)
        return np.transpose(t[0], self.axes)


class Index(Function):
    """``a[index]`` with basic slices, ints, None, Ellipsis, and integer or boolean arrays."""

    name = "index"

    def forward(self, a, index=()):
        self.index = index
        return a[index]

    def shape_error(self, exc: Exception, a: np.ndarray) -> ShapeError:
        return ShapeError(f"index: cannot index a tensor of shape {a.shape}: {exc}")

    def vjp(self, g, out, a):
        # d(a[i])/da = g scattered back to position i; repeated indices add up
        return (_call(Scatter, g, shape=a.shape, index=self.index),)

    def jvp(self, t, out, a):
        # d(a[i]) = da[i]
        return t[0][self.index]


class Scatter(Function):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up): the
    backward of indexing, an op of its own so that it can be differentiated again."""

    name = "scatter"

    def forward(self, g, shape=(), index=()):
        self.index = index
        grad = np.zeros(shape, dtype=g.dtype)
        if any(isinstance(i, np.ndarray) and i.dtype != bool for i in index):
            np.add.at(grad, index, g)  # integer arrays can repeat an index
        else:
            grad[index] = g
        return grad

    def vjp(self, gg, out, g):
        # d scatter(g)/dg = gg[i]
        return (gg[self.index],)

    def jvp(self, t, out, g):
        # d scatter(g) = scatter(dg)
        return _call(Scatter, t[0], shape=out.shape, index=self.index)


class SetItem(Function):
    """``a`` with ``a[index] = v`` written in (a new array; ``a`` itself is unchanged): how
    an assignment into a tensor, ``out[mask] = 0``, is recorded."""

    name = "setitem"

    def forward(self, a, v, index=()):
        self.index = index
        out = a.copy()
        out[index] = v
        return out

    def shape_error(self, exc: Exception, a: np.ndarray, v: np.ndarray) -> ShapeError:
        return ShapeError(
            f"setitem: cannot assign a value of shape {v.shape} into a tensor of shape {a.shape}: {exc}"
        )

    def vjp(self, g, out, a, v):
        # d/da = g with the assigned positions zeroed; d/dv = g at the assigned positions
        need_a, need_b = self.needs_input_grad
        ga = _call(SetItem, g, np.zeros((), g.dtype), index=self.index) if need_a else None
        gv = unbroadcast(g[self.index], v.shape) if need_b else None
        return ga, gv

    def jvp(self, t, out, a, v):
        # d(a with a[i] = v) = da with da[i] = dv
        return _call(SetItem, t[0], t[1], index=self.index)


class Stack(Function):
    """np.stack of several arrays of one shape along a new first axis."""

    name = "stack"

    def forward(self, *arrays):
        return np.stack(arrays)

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        return ShapeError(f"stack: all inputs must have one shape, got {[a.shape for a in arrays]}")

    def vjp(self, g, out, *inputs):
        # d stack(a_0, ..., a_n)/da_i = g[i]
        return tuple(g[i] if need else None for i, need in enumerate(self.needs_input_grad))

    def jvp(self, t, out, *inputs):
        # d stack(a_i) = stack(da_i)
        return _call(Stack, *t)


class Concatenate(Function):
    """np.concatenate of several arrays along ``axis`` (their other axes equal). The one
    op behind concatenate, hstack, vstack, dstack, column_stack, append, np.r_ and np.c_;
    its adjoint splits the gradient back into the inputs' spans by slicing."""

    name = "concatenate"

    def forward(self, *arrays, axis=0):
        nd = arrays[0].ndim if arrays else 0
        self.axis = int(axis) % nd if nd and -nd <= axis < nd else axis  # else numpy says why
        out = np.concatenate(arrays, axis=self.axis)
        ends = np.cumsum([a.shape[self.axis] for a in arrays])
        lead = (slice(None),) * self.axis
        self.spans = tuple(lead + (slice(int(e - a.shape[self.axis]), int(e)),) for a, e in zip(arrays, ends))
        return out

    def shape_error(self, exc: Exception, *arrays: np.ndarray) -> ShapeError:
        shapes = [a.shape for a in arrays]
        return ShapeError(f"concatenate: cannot join shapes {shapes} along axis {self.axis}: {exc}")

    def vjp(self, g, out, *inputs):
        # d concat(a_0, ..., a_n)/da_i = g[span of a_i along axis]
        return tuple(g[s] if need else None for s, need in zip(self.spans, self.needs_input_grad))

    def jvp(self, t, out, *inputs):
        # d concat(a_i) = concat(da_i)
        return _call(Concatenate, *t, axis=self.axis)
