"""Each operation of the network with its forward and backward side by side, on NHWC arrays.

Conventions (shared with the rest of the tool): conv weights are HWIO ``(kh, kw, c_in, c_out)``,
dense weights ``(n_in, n_out)`` so that ``o = x @ W + b``; TensorFlow's SAME padding puts the
odd pixel after; kinks follow PyTorch: ReLU'(0) = 0, PReLU'(0) = a, the hinge's derivative at
D = 1 is 0, and a max-pool tie sends the gradient to the first maximum of the window (row-major).
Every ``*_grad`` function returns gradients of the same scalar whose gradient it receives.
"""

from __future__ import annotations

import numpy as np

from derive.engine.convolution import Blocked, conv_pads, padded, windows  # noqa: F401  (re-exported)
from derive.engine.products import column_sums, matmul

# --- convolution (the kernels live in derive.engine.convolution) ------------------------------------

def conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride, padding: str):
    """Convolution (cross-correlation, as in every framework): returns the pre-activation and a context."""
    kernel = Blocked(W.shape[:2], stride, padding, x.shape[1:])
    o, _, ctx = kernel.forward(padded(x, kernel.pads()), W, b, linear)
    return o, (kernel, ctx)


def conv_grad(do: np.ndarray, ctx, W: np.ndarray, need_dx: bool = True):
    """Gradients (dx, dW, db) of a convolution; dx is None when not needed (first layer)."""
    kernel, inner = ctx
    return kernel.backward(do, inner, W, linear_grad, need_dx=need_dx)[:3]


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
    o = matmul(x, W)
    o += b
    return o


def dense_grad(do: np.ndarray, x: np.ndarray, W: np.ndarray, need_dx: bool = True):
    """Gradients (dx, dW, db) of a dense layer."""
    return (matmul(do, W.T) if need_dx else None), matmul(x.T, do), column_sums(do)


# --- activations: forward(o, a, out) -> s and backward(ds, o, s, a, out) -> (do, da) -------------------
# ``out`` (optional) receives the result: the forward pass writes an activation straight into the
# padded buffer of the conv layer that reads it; the backward pass overwrites a gradient it owns.

def relu(o, a=None, out=None):
    """ReLU: max(o, 0)."""
    return np.maximum(o, 0, out=out)


def relu_grad(ds, o, s, a=None, out=None):
    """ReLU backward, with ReLU'(0) = 0: s > 0 exactly where o > 0 (a product with the mask, no branches)."""
    return np.multiply(ds, s > 0, out=out), None


def prelu(o, a, out=None):
    """PReLU (He et al. 2015): o where o > 0, a·o elsewhere; ``a`` broadcasts from the right."""
    return np.add(np.maximum(o, 0), a * np.minimum(o, 0), out=out)


def prelu_grad(ds, o, s, a, out=None):
    """PReLU backward: (dL/do, dL/da) with PReLU'(0) = a; da summed to the shape of ``a``."""
    pos = o > 0
    contrib = ds * np.minimum(o, 0)  # before ``out``, which may be ds itself, is written
    do = np.add(ds * pos, (a * ds) * ~pos, out=out)
    # sum over every axis that a was broadcast along (batch, and spatial axes for 'channel')
    lead = contrib.ndim - np.ndim(a)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(np.shape(a))
                                      if n == 1 and contrib.shape[lead + i] != 1)
    da = contrib.sum(axis=axes).reshape(np.shape(a))
    return do.astype(ds.dtype, copy=False), da.astype(ds.dtype, copy=False)


def linear(o, a=None, out=None):
    """Identity activation f(o) = o."""
    if out is None:
        return o
    out[...] = o
    return out


def linear_grad(ds, o, s, a=None, out=None):
    """Identity backward."""
    return linear(ds, out=out), None


def tanh(o, a=None, out=None):
    """Hyperbolic tangent."""
    return np.tanh(o, out=out)


def tanh_grad(ds, o, s, a=None, out=None):
    """tanh backward: 1 - tanh²."""
    return np.multiply(ds, 1 - s * s, out=out), None


def sigmoid(o, a=None, out=None):
    """Logistic sigmoid through e = exp(-|o|): never overflows, and keeps its relative accuracy
    for very negative o (where 1/(1 + exp(-o)) would be e/(1 + e))."""
    e = np.exp(-np.abs(o))
    return np.divide(np.where(o >= 0, 1, e), 1 + e, out=out)


def sigmoid_grad(ds, o, s, a=None, out=None):
    """Sigmoid backward: σ(1 - σ)."""
    return np.multiply(ds, s * (1 - s), out=out), None


NEEDS_PRE_ACTIVATION = ("prelu",)  # activations whose derivative reads o, not only s

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
