"""A plain deep multilayer perceptron in NumPy, for the gradient-flow experiments of Exercise 2.

Hidden layers ``o_i = s_{i-1} W_i + b_i``, ``s_i = f(o_i)`` (tanh, sigmoid or ReLU), optionally with
batch normalisation of ``o_i`` (batch statistics, unit scale, zero shift) and residual connections
``s_i = s_{i-1} + f(o_i)`` between hidden layers of equal width; a linear output layer, softmax and the
mean negative log-likelihood. ``backprop`` returns the back-propagated gradients ``dC/do_i`` and the
weight gradients of every layer, as Glorot & Bengio (2010) study them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "relu")
INITS = ("glorot_standard", "glorot_normalized", "he")
BN_EPS = 1e-5


@dataclass
class MLP:
    """Weights ``W[i]`` of shape (n_in, n_out) and biases ``b[i]``; the last layer is the linear output."""

    W: list
    b: list
    activation: str
    batchnorm: bool = False
    residual: bool = False


@dataclass
class Trace:
    """The cost, the hidden pre-activations and activations, and the gradients of one backward pass."""

    cost: float
    pre: list
    post: list
    grad_pre: list
    grad_W: list
    grad_b: list


def init_weight(rng, n_in: int, n_out: int, scheme: str, dtype=np.float64):
    """One weight matrix under a named initialisation (biases start at zero under all of them)."""
    if scheme == "glorot_standard":
        bound = 1.0 / np.sqrt(n_in)
        return rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
    if scheme == "glorot_normalized":
        bound = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
    if scheme == "he":
        return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype)
    raise ValueError(f"unknown initialisation '{scheme}' (expected one of {', '.join(INITS)})")


def build(sizes, activation: str, init: str, rng, batchnorm: bool = False, residual: bool = False,
          dtype=np.float64) -> MLP:
    """An MLP with layer widths ``sizes`` (input, hidden..., classes), freshly initialised."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}' (expected one of {', '.join(ACTIVATIONS)})")
    W = [init_weight(rng, a, b, init, dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    b = [np.zeros(n, dtype) for n in sizes[1:]]
    return MLP(W, b, activation, batchnorm, residual)


def _act(name: str, o):
    if name == "tanh":
        s = np.tanh(o)
        return s, 1.0 - s * s
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-o))
        return s, s * (1.0 - s)
    return np.maximum(o, 0.0), (o > 0).astype(o.dtype)


def backprop(net: MLP, x, y) -> Trace:
    """Forward and backward pass on inputs ``x`` (N, n_in) with integer labels ``y``."""
    hidden = len(net.W) - 1
    s, pre, post, cache = x, [], [], []
    for i in range(hidden):
        o = s @ net.W[i] + net.b[i]
        z, inv_std = o, None
        if net.batchnorm:
            mu, var = o.mean(axis=0), o.var(axis=0)
            inv_std = 1.0 / np.sqrt(var + BN_EPS)
            z = (o - mu) * inv_std
        f, df = _act(net.activation, z)
        skip = net.residual and s.shape[1] == f.shape[1] and i > 0
        s_new = s + f if skip else f
        pre.append(o)
        post.append(s_new)
        cache.append((s, z, df, inv_std, skip))
        s = s_new
    logits = s @ net.W[-1] + net.b[-1]
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    n = x.shape[0]
    cost = float(-logp[np.arange(n), y].mean())
    delta = np.exp(logp)
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grad_W = [None] * (hidden + 1)
    grad_b = [None] * (hidden + 1)
    grad_pre = [None] * hidden
    grad_W[-1], grad_b[-1] = s.T @ delta, delta.sum(axis=0)
    ds = delta @ net.W[-1].T
    for i in reversed(range(hidden)):
        s_in, z, df, inv_std, skip = cache[i]
        dz = ds * df
        if net.batchnorm:
            # Gradient of (o - mean) / std through the batch statistics.
            dz = inv_std * (dz - dz.mean(axis=0) - z * (dz * z).mean(axis=0))
        grad_pre[i] = dz
        grad_W[i], grad_b[i] = s_in.T @ dz, dz.sum(axis=0)
        ds = dz @ net.W[i].T + (ds if skip else 0.0)
    return Trace(cost, pre, post, grad_pre, grad_W, grad_b)


def cost(net: MLP, x, y) -> float:
    """The mean negative log-likelihood alone (for finite-difference checks)."""
    return backprop(net, x, y).cost
