"""Each operation of the network with its forward and backward side by side, on NHWC arrays.

Conventions (shared with the rest of the tool): conv weights are HWIO ``(kh, kw, c_in, c_out)``,
dense weights ``(n_in, n_out)`` so that ``o = x @ W + b``; TensorFlow's SAME padding puts the
odd pixel after; kinks follow PyTorch: ReLU'(0) = 0, PReLU'(0) = a, the hinge's derivative at
D = 1 is 0, and a max-pool tie sends the gradient to the first maximum of the window (row-major).
Every ``*_grad`` function returns gradients of the same scalar whose gradient it receives.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from derive.shapes import out_size, same_padding

# --- convolution (im2col: one strided view, one copy, one matrix product) -------------------------

def conv_pads(h: int, w: int, kernel, stride, padding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding ((top, bottom), (left, right)) of a conv layer on an h x w input."""
    if padding == "valid":
        return (0, 0), (0, 0)
    return same_padding(h, kernel[0], stride[0]), same_padding(w, kernel[1], stride[1])


def _padded(x: np.ndarray, pads) -> np.ndarray:
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    xp[:, pt:pt + h, pl:pl + w] = x
    return xp


def windows(x: np.ndarray, kernel, stride, padding: str) -> np.ndarray:
    """A strided view (N, OH, OW, kh, kw, C) of every window of the (padded) input; no copy."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    pads = conv_pads(h, w, kernel, stride, padding)
    xp = np.ascontiguousarray(_padded(x, pads))
    oh, ow = out_size(h, kh, sh, padding), out_size(w, kw, sw, padding)
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(xp, (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c), writeable=False)


def conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride, padding: str):
    """Convolution (cross-correlation, as in every framework): returns the pre-activation and a context."""
    kh, kw, c_in, c_out = W.shape
    view = windows(x, (kh, kw), stride, padding)
    n, oh, ow = view.shape[:3]
    cols = view.reshape(n * oh * ow, kh * kw * c_in)  # the one copy of im2col
    o = cols @ W.reshape(-1, c_out)
    o += b
    return o.reshape(n, oh, ow, c_out), (cols, x.shape, stride, padding)


def conv_grad(do: np.ndarray, ctx, W: np.ndarray, need_dx: bool = True):
    """Gradients (dx, dW, db) of a convolution; dx is None when not needed (first layer)."""
    cols, x_shape, stride, padding = ctx
    c_out = W.shape[3]
    do2 = do.reshape(-1, c_out)
    dW = (cols.T @ do2).reshape(W.shape)
    db = _column_sums(do2)
    dx = conv_input_grad(do2, W, x_shape, stride, padding, do.shape[1:3]) if need_dx else None
    return dx, dW, db


def _column_sums(a: np.ndarray) -> np.ndarray:
    """Sum over rows as a matrix-vector product: BLAS reads the rows once, ten times faster than sum."""
    return np.ones(a.shape[0], dtype=a.dtype) @ a


def conv_input_grad(do2: np.ndarray, W: np.ndarray, x_shape, stride, padding: str, out_hw) -> np.ndarray:
    """dL/dx of a convolution: per kernel tap, one matrix product added onto a strided slice.

    This is col2im without the (N, OH, OW, kh, kw, C) intermediate: each tap's product is
    contiguous, so the kh*kw strided adds read memory in order.
    """
    n, h, w, c = x_shape
    kh, kw = W.shape[:2]
    sh, sw = stride
    oh, ow = out_hw
    (pt, pb), (pl, pr) = conv_pads(h, w, (kh, kw), stride, padding)
    # VALID may leave trailing rows unused; the buffer covers every position a window touches.
    hp, wp = max(h + pt + pb, (oh - 1) * sh + kh), max(w + pl + pr, (ow - 1) * sw + kw)
    dxp = np.zeros((n, hp, wp, c), dtype=do2.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += (do2 @ W[i, j].T).reshape(n, oh, ow, c)
    return dxp[:, pt:pt + h, pl:pl + w]


# --- max-pooling (no padding, as in Keras) ---------------------------------------------------------

def maxpool(x: np.ndarray, size, stride):
    """Max-pooling over windows of ``size`` moved by ``stride``; returns the output and a context."""
    view = windows(x, size, stride, "valid")
    n, oh, ow, kh, kw, c = view.shape
    flat = view.reshape(n, oh, ow, kh * kw, c)
    arg = flat.argmax(axis=3)  # first maximum on ties, as PyTorch
    out = np.take_along_axis(flat, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    return out, (arg, x.shape, size, stride)


def maxpool_grad(do: np.ndarray, ctx) -> np.ndarray:
    """Gradient of max-pooling: each output's gradient goes to the input it took its maximum from."""
    arg, x_shape, (kh, kw), (sh, sw) = ctx
    n, oh, ow, c = do.shape
    dx = np.zeros(x_shape, dtype=do.dtype)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        dx[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += np.where(arg == k, do, 0)
    return dx


# --- dense ------------------------------------------------------------------------------------------

def dense(x: np.ndarray, W: np.ndarray, b: np.ndarray):
    """Fully connected layer o = x @ W + b on a flattened input (N, n_in)."""
    o = x @ W
    o += b
    return o


def dense_grad(do: np.ndarray, x: np.ndarray, W: np.ndarray, need_dx: bool = True):
    """Gradients (dx, dW, db) of a dense layer."""
    return (do @ W.T if need_dx else None), x.T @ do, _column_sums(do)


# --- activations: forward(o, a) -> s and backward(ds, o, s, a) -> (do, da) --------------------------

def relu(o, a=None):
    """ReLU: max(o, 0)."""
    return np.maximum(o, 0)


def relu_grad(ds, o, s, a=None):
    """ReLU backward, with ReLU'(0) = 0 (a product with the mask: no unpredictable branches)."""
    return ds * (o > 0), None


def prelu(o, a):
    """PReLU (He et al. 2015): o where o > 0, a·o elsewhere; ``a`` broadcasts from the right."""
    return np.maximum(o, 0) + a * np.minimum(o, 0)


def prelu_grad(ds, o, s, a):
    """PReLU backward: (dL/do, dL/da) with PReLU'(0) = a; da summed to the shape of ``a``."""
    pos = o > 0
    do = ds * pos + (a * ds) * ~pos
    contrib = ds * np.minimum(o, 0)
    # sum over every axis that a was broadcast along (batch, and spatial axes for 'channel')
    lead = contrib.ndim - np.ndim(a)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(np.shape(a))
                                      if n == 1 and contrib.shape[lead + i] != 1)
    da = contrib.sum(axis=axes).reshape(np.shape(a))
    return do.astype(ds.dtype, copy=False), da.astype(ds.dtype, copy=False)


def linear(o, a=None):
    """Identity activation f(o) = o."""
    return o


def linear_grad(ds, o, s, a=None):
    """Identity backward."""
    return ds, None


def tanh(o, a=None):
    """Hyperbolic tangent."""
    return np.tanh(o)


def tanh_grad(ds, o, s, a=None):
    """tanh backward: 1 - tanh²."""
    return ds * (1 - s * s), None


def sigmoid(o, a=None):
    """Logistic sigmoid through e = exp(-|o|): never overflows, and keeps its relative accuracy
    for very negative o (where 1/(1 + exp(-o)) would be e/(1 + e))."""
    e = np.exp(-np.abs(o))
    return np.where(o >= 0, 1, e) / (1 + e)


def sigmoid_grad(ds, o, s, a=None):
    """Sigmoid backward: σ(1 - σ)."""
    return ds * s * (1 - s), None


ACTIVATIONS = {
    "relu": (relu, relu_grad),
    "prelu": (prelu, prelu_grad),
    "linear": (linear, linear_grad),
    "tanh": (tanh, tanh_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
}


# --- dropout (inverted scaling) ---------------------------------------------------------------------

def dropout_mask(shape, rate: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """A mask of 0 and 1/(1 - rate): multiplying by it drops units and keeps the expectation."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) / dtype(1 - rate) if rate else np.ones(shape, dtype)


# --- the exam's loss and the KL sparsity term -------------------------------------------------------

def pair_loss(s6a: np.ndarray, s6b: np.ndarray, l: np.ndarray):
    """Mean over pairs of l·max(1 - D, 0) + (1 - l)·D, D = ½‖s6a - s6b‖²: (loss, D, dL/ds6a, dL/ds6b)."""
    m = s6a.shape[0]
    diff = (s6a - s6b).reshape(m, -1)
    D = 0.5 * np.einsum("ij,ij->i", diff, diff)
    l = np.asarray(l, dtype=diff.dtype)
    loss = np.mean(l * np.maximum(1 - D, 0) + (1 - l) * D)
    # dL/dD per pair: -l where D < 1 (hinge active), 0 at and beyond D = 1; plus (1 - l)
    dD = (np.where(D < 1, -l, 0) + (1 - l)) / m
    g = (dD[:, None] * diff).reshape(s6a.shape).astype(diff.dtype, copy=False)
    return loss, D, g, -g


def kl_divergence(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    """Bernoulli KL(ρ‖ρ̂) = ρ log(ρ/ρ̂) + (1 - ρ) log((1 - ρ)/(1 - ρ̂)) per unit (nan outside (0, 1))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def kl_penalty(s: np.ndarray, rho: float, beta: float, reading: str):
    """β·Σ_g KL(ρ‖ρ̂_g), ρ̂_g the batch mean of unit g: (value, dvalue/ds, ρ̂, defined).

    ``literal``: ρ̂ from s itself, defined only when every ρ̂_g lies in (0, 1); otherwise the value
    and the gradient are nan and ``defined`` is False. ``sigmoid``: ρ̂ from σ(s), always defined.
    """
    m = s.shape[0]
    if reading == "sigmoid":
        act = sigmoid(s)
        dact = act * (1 - act)
    elif reading == "literal":
        act, dact = s, None
    else:
        raise ValueError(f"unknown KL reading {reading!r}")
    rho_hat = act.mean(axis=0)
    defined = bool(np.all((rho_hat > 0) & (rho_hat < 1)))
    if not defined:
        return float("nan"), np.full_like(s, np.nan), rho_hat, False
    value = beta * kl_divergence(rho, rho_hat).sum()
    d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / m
    grad = np.broadcast_to(d_rho_hat, s.shape) if dact is None else d_rho_hat * dact
    return value, np.ascontiguousarray(grad, dtype=s.dtype), rho_hat, True
