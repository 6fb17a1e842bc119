"""Layers written the way learners write them, in two styles, each correct and with one
planted bug. Written for these tests (not copied from any course or book).

Course style (function pairs with a cache): ``f_forward(*inputs) -> (out, cache)``,
``f_backward(dout, cache) -> (dx, dw, ...)``. Book style: classes with ``forward`` and
``backward``, gradients in ``dW`` attributes or in ``params``/``grads`` lists.
"""

from collections import OrderedDict

import numpy as np

# ---------------------------------------------------------------- course style: function pairs


def affine_forward(x, w, b):
    flat = x.reshape(x.shape[0], -1)
    out = flat.dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def affine_backward_bug(dout, cache):  # db averaged over the batch
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw, np.mean(dout, axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def relu_backward_bug(dout, cache):  # the mask forgotten
    return dout.copy()


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean", np.zeros(x.shape[1], dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(x.shape[1], dtype=x.dtype))
    if mode == "train":
        mu = x.mean(axis=0)
        var = np.var(x, axis=0)
        xhat = (x - mu) / np.sqrt(var + eps)
        out = gamma * xhat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (xhat, gamma, var + eps)
    else:
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out, cache = gamma * xhat + beta, None
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, var_eps = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var_eps))
    return dx, dgamma, dbeta


def batchnorm_backward_bug(dout, cache):  # the mean's term left out of dx
    xhat, gamma, var_eps = cache
    n = dout.shape[0]
    dxhat = dout * gamma
    dx = (n * dxhat - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var_eps))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = np.mean(x, axis=1, keepdims=True)
    var = np.var(x, axis=1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var + eps)


def layernorm_backward(dout, cache):
    xhat, gamma, var_eps = cache
    d = dout.shape[1]
    dxhat = dout * gamma
    dx = (d * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (
        d * np.sqrt(var_eps)
    )
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_backward_bug(dout, cache):  # dgamma without xhat
    dx, _, dbeta = layernorm_backward(dout, cache)
    return dx, dout.sum(axis=0), dbeta


def groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    n, c, h, w = x.shape
    grouped = x.reshape(n, G, -1)
    mu = grouped.mean(axis=2, keepdims=True)
    var = grouped.var(axis=2, keepdims=True)
    xhat = ((grouped - mu) / np.sqrt(var + eps)).reshape(n, c, h, w)
    return gamma * xhat + beta, (xhat, gamma, var + eps, G)


def groupnorm_backward(dout, cache):
    xhat, gamma, var_eps, G = cache
    n, c, h, w = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(n, G, -1)
    xg = xhat.reshape(n, G, -1)
    m = xg.shape[2]
    dx = (m * dxhat - dxhat.sum(axis=2, keepdims=True) - xg * (dxhat * xg).sum(axis=2, keepdims=True)) / (
        m * np.sqrt(var_eps)
    )
    return dx.reshape(n, c, h, w), dgamma, dbeta


def groupnorm_backward_bug(dout, cache):  # dx left at zeros
    _, dgamma, dbeta = groupnorm_backward(dout, cache)
    return np.zeros_like(dout), dgamma, dbeta


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    out = x
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p  # unseeded: a new mask on every call
        out = x * mask
    out = out.astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def dropout_backward_bug(dout, cache):  # the mask forgotten
    return dout


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, h, wd = x.shape
    f, _, hh, ww = w.shape
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((n, f, ho, wo))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(window * w[k]) + b[k]
    return out, (x, w, b, conv_param)


def conv_forward_zeros_pad(x, w, b, conv_param):
    """The same convolution, padded by writing x into an array of zeros."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    xp[:, :, pad : pad + h, pad : pad + wd] = x
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, ho, wo))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(window * w[k]) + b[k]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    n, f, ho, wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    rows, cols = slice(r * stride, r * stride + hh), slice(s * stride, s * stride + ww)
                    dw[k] += xp[i, :, rows, cols] * dout[i, k, r, s]
                    dxp[i, :, rows, cols] += w[k] * dout[i, k, r, s]
    dx = dxp[:, :, pad : dxp.shape[2] - pad, pad : dxp.shape[3] - pad]
    return dx, dw, db


def conv_backward_bug(dout, cache):  # dw left at zeros
    dx, dw, db = conv_backward_naive(dout, cache)
    return dx, np.zeros_like(dw), db


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    ho, wo = 1 + (h - ph) // stride, 1 + (w - pw) // stride
    out = np.zeros((n, c, ho, wo))
    for r in range(ho):
        for s in range(wo):
            window = x[:, :, r * stride : r * stride + ph, s * stride : s * stride + pw]
            out[:, :, r, s] = np.max(window, axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for i in range(n):
        for j in range(c):
            for r in range(ho):
                for s in range(wo):
                    window = x[i, j, r * stride : r * stride + ph, s * stride : s * stride + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[i, j, r * stride + a, s * stride + b] += dout[i, j, r, s]
    return dx


def max_pool_backward_bug(dout, cache):  # left as a stub
    return np.zeros_like(cache[0])


def svm_loss(x, y):
    n = x.shape[0]
    correct = x[np.arange(n), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(n), y] = 0  # written after it was read
    loss = np.sum(margins) / n
    positive = (margins > 0).astype(x.dtype)
    positive[np.arange(n), y] -= positive.sum(axis=1)
    return loss, positive / n


def svm_loss_bug(x, y):  # the gradient not divided by the batch
    loss, dx = svm_loss(x, y)
    return loss, dx * x.shape[0]


def softmax_loss(x, y):
    n = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    P = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.sum(np.log(P[range(n), y])) / n
    P[range(n), y] -= 1  # after P was read
    return loss, P / n


def softmax_loss_bug(x, y):  # the one-hot term forgotten
    n = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    P = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    return -np.sum(np.log(P[range(n), y])) / n, P / n


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def rnn_step_backward_bug(dnext_h, cache):  # dWh without tanh's derivative
    dx, dprev_h, dWx, _, db = rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, dWx, cache[1].T.dot(dnext_h), db


def rnn_forward(x, h0, Wx, Wh, b):
    n, t, _ = x.shape
    h = np.zeros((n, t, h0.shape[1]))
    prev, caches = h0, []
    for step in range(t):
        prev, cache = rnn_step_forward(x[:, step, :], prev, Wx, Wh, b)
        h[:, step, :] = prev
        caches.append(cache)
    return h, caches


def rnn_backward(dh, caches, last_db_only=False):
    n, t, _ = dh.shape
    x0, _, Wx, Wh, _ = caches[0]
    dx = np.zeros((n, t, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dprev = np.zeros((n, Wh.shape[0]))
    for step in reversed(range(t)):
        dx[:, step, :], dprev, dwx, dwh, dbt = rnn_step_backward(dh[:, step, :] + dprev, caches[step])
        dWx += dwx
        dWh += dwh
        db = dbt if last_db_only else db + dbt
    return dx, dprev, dWx, dWh, db


def rnn_backward_bug(dh, caches):  # db of one step only
    return rnn_backward(dh, caches, last_db_only=True)


def sigmoid(x):
    """A numerically stable sigmoid: exp of negative numbers only."""
    pos = x >= 0
    z = np.zeros_like(x)
    z[pos] = np.exp(-x[pos])
    z[~pos] = np.exp(x[~pos])
    top = np.ones_like(x)
    top[~pos] = z[~pos]
    return top / (1 + z)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 2 * H : 3 * H])
    g = np.tanh(a[:, 3 * H :])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache, forget_f=False):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    dprev_c = dc if forget_f else dc * f
    da = np.hstack(
        [dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o), dc * i * (1 - g**2)]
    )
    return da.dot(Wx.T), da.dot(Wh.T), dprev_c, x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def lstm_step_backward_bug(dnext_h, dnext_c, cache):  # dprev_c without the forget gate
    return lstm_step_backward(dnext_h, dnext_c, cache, forget_f=True)


def word_embedding_forward(x, W):
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def word_embedding_backward_bug(dout, cache):  # buffered: repeated words counted once
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] += dout
    return dW


# ---------------------------------------------------------------- book style: classes


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W.T).reshape(*self.shape)


class AffineBug(Affine):  # dW averaged over the batch
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW / dout.shape[0]
        return dx


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class ReluBug(Relu):
    def backward(self, dout):
        return dout


class Sigmoid:
    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SigmoidBug(Sigmoid):
    def backward(self, dout):
        return dout * self.out


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, softmax_rows(x)
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx * dout / n


class SoftmaxWithLossBug(SoftmaxWithLoss):
    def backward(self, dout=1):
        return super().backward(dout) * self.t.shape[0]


class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = self.running_var = None

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        mu = x.mean(axis=0)
        self.xc = x - mu
        var = np.mean(self.xc**2, axis=0)
        self.std = np.sqrt(var + 10e-7)
        self.xn = self.xc / self.std
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum(dxn * self.xc / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc = dxc + (2.0 / n) * self.xc * dvar
        return dxc - np.sum(dxc, axis=0) / n


class BatchNormalizationBug(BatchNormalization):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dgamma = dout.sum(axis=0)
        return dx


class Dropout:
    def __init__(self, ratio=0.5):
        self.ratio = ratio

    def forward(self, x, train_flg=True):
        self.mask = np.random.rand(*x.shape) > self.ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class DropoutBug(Dropout):
    def backward(self, dout):
        return dout


def im2col(x, fh, fw, stride=1, pad=0):
    """Each receptive field as a row: (N * out_h * out_w, C * fh * fw)."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for dy in range(fh):
        for dx in range(fw):
            col[:, :, dy, dx, :, :] = padded[
                :, :, dy : dy + stride * oh : stride, dx : dx + stride * ow : stride
            ]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0):
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for dy in range(fh):
        for dx in range(fw):
            img[:, :, dy : dy + stride * oh : stride, dx : dx + stride * ow : stride] += col[
                :, :, dy, dx, :, :
            ]
    return img[:, :, pad : h + pad, pad : w + pad]


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh, ow = (h + 2 * self.pad - fh) // self.stride + 1, (w + 2 * self.pad - fw) // self.stride + 1
        self.x, self.col = x, im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)


class ConvolutionBug(Convolution):  # db averaged
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = self.db / dout.shape[0]
        return dx


class Pooling:
    def __init__(self, ph, pw, stride=1, pad=0):
        self.ph, self.pw, self.stride, self.pad = ph, pw, stride, pad

    def forward(self, x):
        n, c, h, w = x.shape
        oh, ow = (h - self.ph) // self.stride + 1, (w - self.pw) // self.stride + 1
        col = im2col(x, self.ph, self.pw, self.stride, self.pad).reshape(-1, self.ph * self.pw)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.ph * self.pw
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(*dout.shape, size).reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.ph, self.pw, self.stride, self.pad)


class PoolingBug(Pooling):  # a stub
    def backward(self, dout):
        return np.zeros_like(self.x)


class RNNCell:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = dt.sum(axis=0)
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


class TimeRNN:
    def __init__(self, Wx, Wh, b, stateful=False, drop_db=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers, self.h, self.dh, self.stateful, self.drop_db = None, None, None, stateful, drop_db

    def forward(self, xs):
        Wx, _, _ = self.params
        n, t, _ = xs.shape
        hidden = Wx.shape[1]
        self.layers = []
        hs = np.empty((n, t, hidden), dtype="f")
        if not self.stateful or self.h is None:
            self.h = np.zeros((n, hidden), dtype="f")
        for step in range(t):
            layer = RNNCell(*self.params)
            self.h = layer.forward(xs[:, step, :], self.h)
            hs[:, step, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, _, _ = self.params
        n, t, _ = dhs.shape
        dxs = np.empty((n, t, Wx.shape[0]), dtype="f")
        dh, total = 0, [0, 0, 0]
        for step in reversed(range(t)):
            dx, dh = self.layers[step].backward(dhs[:, step, :] + dh)
            dxs[:, step, :] = dx
            for i, g in enumerate(self.layers[step].grads):
                total[i] = total[i] + g
        if self.drop_db:
            total[2] = self.layers[0].grads[2]
        for i, g in enumerate(total):
            self.grads[i][...] = g
        self.dh = dh
        return dxs


class LSTMCell:
    """Two outputs: forward(x, h_prev, c_prev) -> (h_next, c_next)."""

    def __init__(self, Wx, Wh, b, forget_f=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.forget_f = forget_f

    def forward(self, x, h_prev, c_prev):
        h_next, c_next, self.cache = lstm_step_forward(x, h_prev, c_prev, *self.params)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh_next, dc_next, self.cache, self.forget_f)
        self.grads[0][...], self.grads[1][...], self.grads[2][...] = dWx, dWh, db
        return dx, dh_prev, dc_prev


class TimeLSTM:
    def __init__(self, Wx, Wh, b, forget_f=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.h = self.c = None
        self.forget_f = forget_f

    def forward(self, xs):
        Wx, Wh, _ = self.params
        n, t, _ = xs.shape
        hidden = Wh.shape[0]
        self.layers = []
        hs = np.empty((n, t, hidden), dtype="f")
        self.h, self.c = np.zeros((n, hidden), dtype="f"), np.zeros((n, hidden), dtype="f")
        for step in range(t):
            layer = LSTMCell(*self.params, forget_f=self.forget_f)
            self.h, self.c = layer.forward(xs[:, step, :], self.h, self.c)
            hs[:, step, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, _, _ = self.params
        n, t, _ = dhs.shape
        dxs = np.empty((n, t, Wx.shape[0]), dtype="f")
        dh, dc, total = 0, 0, [0, 0, 0]
        for step in reversed(range(t)):
            dx, dh, dc = self.layers[step].backward(dhs[:, step, :] + dh, dc)
            dxs[:, step, :] = dx
            for i, g in enumerate(self.layers[step].grads):
                total[i] = total[i] + g
        for i, g in enumerate(total):
            self.grads[i][...] = g
        return dxs


class TwoLayerNet:
    def __init__(self, rng, sizes=(6, 5, 3), bug=False):
        d, h, c = sizes
        self.params = {
            "W1": 0.5 * rng.standard_normal((d, h)),
            "b1": 0.1 * rng.standard_normal(h),
            "W2": 0.5 * rng.standard_normal((h, c)),
            "b2": 0.1 * rng.standard_normal(c),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])  # the same arrays
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.last = SoftmaxWithLoss()
        self.bug = bug

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last.forward(self.predict(x), t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db * (2 if self.bug else 1)}
