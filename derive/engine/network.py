"""The NumPy twin of a spec: two branches, the exam's pair loss, dropout, the KL sparsity term.

The parameters are built from the spec (never kept in a second table): keys ``"L1.W"``,
``"L1.b"``, ``"L5.a"`` for the first branch and ``"L1'.W"`` ... for the second, which exist only
when the branches are untied. Under tied weights both branches read the unprimed arrays and their
gradients add up. The operations themselves live in :mod:`derive.layers`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from derive.engine import convolution as conv_kernels
from derive.engine import layers as ops
from derive.errors import DeriveError, quote
from derive.runtime.tuning import blas_threads
from derive.spec import Spec

INITS = ("default", "glorot_standard", "glorot_normalized", "he")
KL_READINGS = ("literal", "sigmoid")
PRELU_INIT = 0.25  # He et al. (2015), section 2.2


@dataclass(frozen=True)
class KL:
    """The KL sparsity term β·Σ_g KL(ρ‖ρ̂_g) on one layer of the first branch (exam Q7).

    ρ̂_g is the batch mean of unit g of the layer's output as the next layer sees it (after
    dropout, if the layer has some); see :func:`derive.layers.kl_penalty` for the two readings.
    """

    layer: str = "L6"
    rho: float = 0.1
    beta: float = 1e-3
    reading: str = "literal"

    def __post_init__(self):
        if not 0 < self.rho < 1:
            raise DeriveError(f"KL sparsity target rho must lie in (0, 1), got {self.rho}")
        if not self.beta >= 0:
            raise DeriveError(f"KL weight beta must be >= 0, got {self.beta}")
        if self.reading not in KL_READINGS:
            raise DeriveError(f"KL reading must be one of {', '.join(KL_READINGS)}, got {self.reading!r}")


class Cache:
    """Everything one forward pass computed, per branch b in (0, 1) and layer name.

    ``inp[b][name]``: the layer's input (flattened for a dense layer after a conv/pool layer);
    ``o[b][name]``: pre-activation; ``s[b][name]``: activation, before dropout; ``out[b][name]``:
    what the next layer sees (after dropout); ``masks[b][name]``: the dropout masks used (0 or
    1/(1 - p)); ``D``: distance per pair; ``pair_loss``: the mean exam loss; ``kl``: the KL term
    (0 without one); ``loss``: their sum. ``kl_defined`` is False when a ρ̂ lies outside (0, 1)
    (the literal reading; the sigmoid one only if σ rounds to 0 or 1); then ``kl`` and ``loss``
    are nan and so are the gradients backward returns.
    A conv layer whose activation's derivative needs only s (all but PReLU) does not keep o:
    ``o[b][name]`` computes it again on first access, from the layer's input and its weights as
    they were in the pass.
    """

    def __init__(self, l):
        self.l = l
        self.inp, self.s, self.out = ([{}, {}] for _ in range(3))
        self.o = [Later(), Later()]
        self.masks, self.ctx = [{}, {}], [{}, {}]
        self.D = self.pair_loss = self.loss = None
        self.kl, self.kl_defined, self.rho_hat, self.kl_grad = 0.0, True, None, None
        self.grad_out = [None, None]

    def flat(self, b: int = 0) -> np.ndarray | None:
        """The flattened input of the first dense layer of branch b (None without a dense layer)."""
        return next((v for v in self.inp[b].values() if v.ndim == 2), None)


class Later(dict):
    """A dict whose entries may be left as recipes, computed (and kept) on first access by key.

    ``in`` and ``[key]`` see them; iteration, ``len`` and ``get`` see only the computed entries.
    """

    def __init__(self):
        super().__init__()
        self.recipes = {}

    def later(self, key, recipe) -> None:
        """Leave ``recipe()`` to compute the entry ``key`` when it is first read."""
        self.recipes[key] = recipe

    def __missing__(self, key):
        if key not in self.recipes:
            raise KeyError(key)
        value = self[key] = self.recipes.pop(key)()
        return value

    def __contains__(self, key) -> bool:
        return super().__contains__(key) or key in self.recipes


class Network:
    """A two-branch network built from a spec, with forward, backward and its parameters.

    ``threads=2`` runs the two branches at once, each with single-threaded BLAS: the fastest
    setting on two cores; ``threads=1`` runs them one after the other, on one BLAS thread too.
    Both give the same results.
    """

    def __init__(self, spec: Spec, *, dtype=np.float64, init: str = "default", seed: int = 0,
                 dropout: dict | None = None, kl: KL | None = None, threads: int = 1):
        if init not in INITS:
            raise DeriveError(f"unknown initialisation '{init}' (expected one of {', '.join(INITS)})")
        self.spec, self.dtype, self.init, self.seed = spec, np.dtype(dtype).type, init, seed
        self.layers = spec.layers
        self.names = tuple(layer.name for layer in spec.layers)
        self.shapes = spec.shapes()
        self.tied = spec.shared_weights
        self.dropout = dict(dropout or {})
        for name, rate in self.dropout.items():
            if name not in self.names:
                raise DeriveError(f"dropout on unknown layer {quote(name)} (layers: {', '.join(self.names)})")
            if not 0 <= rate < 1:
                raise DeriveError(f"dropout rate of layer {quote(name)} must lie in [0, 1), got {rate}")
        if kl is not None and kl.layer not in self.names:
            raise DeriveError(f"KL term on unknown layer '{kl.layer}' (layers: {', '.join(self.names)})")
        self.kl = kl
        if threads not in (1, 2):
            raise DeriveError(f"a network runs its branches on 1 or 2 threads, got {threads!r}")
        self.threads = threads
        ins = [tuple(spec.input)] + self.shapes[:-1]
        self.kernels = {layer.name: conv_kernels.kernel(layer.kernel, layer.stride, layer.padding, in_shape)
                        for layer, in_shape in zip(self.layers, ins) if layer.type == "conv"}
        self.rng = np.random.default_rng([seed, 1])  # dropout stream, apart from the init stream
        self.params = self._init_params(np.random.default_rng(seed))

    # --- parameters ---------------------------------------------------------------------------

    def key(self, name: str, b: int) -> str:
        """Parameter-key prefix of layer ``name`` in branch b (primed for the untied second branch)."""
        return name + "'" if b == 1 and not self.tied else name

    def _init_params(self, rng) -> dict[str, np.ndarray]:
        params: dict[str, np.ndarray] = {}
        ins = [tuple(self.spec.input)] + self.shapes[:-1]
        for b in (0,) if self.tied else (0, 1):
            for layer, in_shape, out_shape in zip(self.layers, ins, self.shapes):
                if layer.type == "maxpool":
                    continue
                if layer.type == "conv":
                    kh, kw = layer.kernel
                    w_shape = (kh, kw, in_shape[2], layer.filters)
                    fan_in, fan_out = kh * kw * in_shape[2], kh * kw * layer.filters
                else:
                    w_shape = (int(np.prod(in_shape)), layer.units)
                    fan_in, fan_out = w_shape
                W, bias = _draw(self.init, rng, w_shape, fan_in, fan_out)
                k = self.key(layer.name, b)
                params[k + ".W"] = W.astype(self.dtype)
                params[k + ".b"] = bias.astype(self.dtype)
                if layer.activation == "prelu":
                    params[k + ".a"] = np.full(_slope_shape(out_shape, self.spec.prelu), PRELU_INIT, self.dtype)
        return params

    # --- forward ------------------------------------------------------------------------------

    def forward(self, x1, x2, l, *, train: bool = False, masks=None, rng=None) -> Cache:
        """Both branches and the loss on a batch of pairs; dropout masks are drawn when ``train``.

        ``masks`` (e.g. ``cache.masks`` of an earlier pass) fixes the masks of the layers it names;
        ``rng`` replaces the network's own seeded dropout stream.
        """
        l = np.asarray(l)
        if np.shape(x1) != np.shape(x2) or l.shape != (len(x1),):
            raise DeriveError(f"a batch of pairs needs x1, x2 of one shape and one label each, got "
                              f"{np.shape(x1)}, {np.shape(x2)}, {l.shape}")
        cache = Cache(l)
        rng = rng or self.rng
        for b in (0, 1):  # drawn in a fixed order before any branch runs: the same masks for any threads
            given = masks[b] if masks is not None else {}
            for name, shape in zip(self.names, self.shapes):
                if given.get(name) is not None:
                    cache.masks[b][name] = given[name]
                elif train and self.dropout.get(name):
                    cache.masks[b][name] = ops.dropout_mask((len(l),) + shape, self.dropout[name], rng, self.dtype)
        self.both(lambda b: self._branch((x1, x2)[b], b, cache))
        last = self.names[-1]
        cache.pair_loss, cache.D, ga, gb = ops.pair_loss(cache.out[0][last], cache.out[1][last], l)
        cache.grad_out = [ga, gb]
        cache.loss = cache.pair_loss
        if self.kl is not None:
            k = self.kl
            cache.kl, cache.kl_grad, cache.rho_hat, cache.kl_defined = ops.kl_penalty(
                cache.out[0][k.layer], k.rho, k.beta, k.reading)
            cache.loss = cache.pair_loss + cache.kl
        return cache

    def embed(self, x, b: int = 0) -> np.ndarray:
        """The output of branch b on images x (no dropout), e.g. to compute D on many pairs."""
        cache = Cache(None)
        self._branch(x, b, cache)
        return cache.out[b][self.names[-1]]

    def both(self, fn):
        """fn(0), fn(1), with one BLAS thread each: in two threads when ``threads`` > 1, else one after the other.

        One BLAS thread always: the products are many and small, BLAS's own threads would only wait
        on each other (and on those of the second BLAS library SciPy loads), and a result's bytes
        then do not depend on the machine's core count.
        """
        with blas_threads(1):
            if self.threads <= 1:
                return [fn(0), fn(1)]
            state = np.geterr()  # NumPy's error state is per thread: carry the caller's into the workers

            def run(b):
                with np.errstate(**state):
                    return fn(b)

            return list(_pool().map(run, (0, 1)))

    def _branch(self, x, b, cache):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != tuple(self.spec.input):
            raise DeriveError(f"images of shape {'x'.join(map(str, x.shape[1:]))} do not fit the spec's input "
                              f"{'x'.join(map(str, self.spec.input))}")
        h, hp = np.ascontiguousarray(x, dtype=self.dtype), None
        for i in range(len(self.layers)):
            h, hp = self.forward_layer(i, h, hp, b, cache)

    def forward_layer(self, i: int, h, hp, b: int, cache: Cache):
        """Layer i of branch b on input h (``hp``: h inside the zero border of a conv layer, or None).

        Returns the layer's output and, when the next layer is a convolution and no dropout mask
        intervenes, that output inside the border the next layer reads: the activation is written
        there directly, so that no layer copies its input to pad it.
        """
        layer = self.layers[i]
        name, k, p = layer.name, self.key(layer.name, b), self.params
        if layer.type == "dense" and h.ndim == 4:
            h = h.reshape(len(h), -1)  # (h, w, c) row-major: TensorFlow's flatten order
        cache.inp[b][name] = h
        mask = cache.masks[b].get(name)
        nxt = self.kernels.get(self.names[i + 1]) if i + 1 < len(self.layers) else None
        out, hp_next = None, None
        if nxt is not None and mask is None:
            hp_next, out = conv_kernels.padded_empty(len(h), self.shapes[i], nxt.pads(), self.dtype)
        act, a = ops.ACTIVATIONS[layer.activation][0], p.get(k + ".a")
        if layer.type == "conv":
            kernel = self.kernels[name]
            xp = hp if hp is not None else conv_kernels.padded(h, kernel.pads())
            keep = layer.activation in ops.NEEDS_PRE_ACTIVATION
            o, s, cache.ctx[b][name] = kernel.forward(xp, p[k + ".W"], p[k + ".b"], act, a, out, keep=keep)
            if o is None:
                W, bias = p[k + ".W"].copy(), p[k + ".b"].copy()  # as they are now: a step may change them
                cache.o[b].later(name, lambda: kernel.forward(xp, W, bias, ops.linear)[0])
        else:
            if layer.type == "maxpool":
                o, cache.ctx[b][name] = ops.maxpool(h, layer.kernel, layer.stride)
            else:
                o = ops.dense(h, p[k + ".W"], p[k + ".b"])
            s = act(o, a, out=out)
        if o is not None:
            cache.o[b][name] = o
        cache.s[b][name] = s
        if mask is not None:
            s = s * mask
        cache.out[b][name] = s
        return s, hp_next

    # --- backward -----------------------------------------------------------------------------

    def backward(self, cache: Cache, *, split: bool = False) -> dict[str, np.ndarray]:
        """Gradient of ``cache.loss`` for every parameter, keyed like ``params``.

        With ``split=True`` and tied weights, each branch's share comes back under its own key
        (primed for the second branch) instead of their sum.
        """
        parts = self.both(lambda b: self._branch_backward(cache, b))
        if split or not self.tied:
            grads = {**parts[0], **{_primed(k): v for k, v in parts[1].items()}}
        else:
            grads = {k: parts[0][k] + parts[1][k] for k in parts[0]}
        order = list(self.params) + ([_primed(key) for key in self.params] if split and self.tied else [])
        return {key: grads[key] for key in order if key in grads}

    def _branch_backward(self, cache: Cache, b: int) -> dict[str, np.ndarray]:
        """Gradients of branch b's parameters, under unprimed keys."""
        grads: dict[str, np.ndarray] = {}
        g = cache.grad_out[b]
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.backward_layer(i, g, b, cache, grads)
        return grads

    def backward_layer(self, i: int, g, b: int, cache: Cache, grads: dict):
        """Layer i of branch b backward: from g = dL/d(its output) to dL/d(its input); fills ``grads``."""
        layer = self.layers[i]
        name, pk, p = layer.name, self.key(layer.name, b), self.params
        # a gradient computed here is scratch and may be overwritten; the one the cache holds may not
        own = i < len(self.layers) - 1
        if self.kl is not None and b == 0 and name == self.kl.layer:
            g, own = g + cache.kl_grad, True
        mask = cache.masks[b].get(name)
        if mask is not None:
            g, own = g * mask, True
        o, s, a = cache.o[b].get(name), cache.s[b][name], p.get(pk + ".a")  # o: None if left for later
        act_grad = ops.ACTIVATIONS[layer.activation][1]
        need_dx = i > 0
        if layer.type == "conv":  # the kernel applies the activation's derivative block by block
            g, dW, db, da = self.kernels[name].backward(g, cache.ctx[b][name], p[pk + ".W"], act_grad, o, s, a,
                                                        need_dx)
        else:
            do, da = act_grad(g, o, s, a, out=g if own and g.flags.c_contiguous else None)
            if layer.type == "maxpool":
                g, dW, db = ops.maxpool_grad(do, cache.ctx[b][name]), None, None
            else:
                g, dW, db = ops.dense_grad(do, cache.inp[b][name], p[pk + ".W"], need_dx)
                if need_dx and self.layers[i - 1].type != "dense":
                    g = g.reshape((len(g),) + self.shapes[i - 1])
        if da is not None:
            grads[name + ".a"] = da
        if dW is not None:
            grads[name + ".W"], grads[name + ".b"] = dW, db
        return g

    def copy(self) -> Network:
        """A network of the same spec and settings holding its own copy of the parameters."""
        twin = Network(self.spec, dtype=self.dtype, init=self.init, seed=self.seed, dropout=self.dropout, kl=self.kl,
                       threads=self.threads)
        twin.params = {k: v.copy() for k, v in self.params.items()}
        return twin

    def n_params(self) -> int:
        """Number of parameter values held (one branch if tied, both otherwise)."""
        return sum(v.size for v in self.params.values())


_POOL = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="derive-branch")
    return _POOL


def _primed(key: str) -> str:
    name, kind = key.rsplit(".", 1)
    return f"{name}'.{kind}"


def _slope_shape(out_shape: tuple[int, ...], convention: str) -> tuple[int, ...]:
    if convention == "scalar":
        return ()
    if convention == "channel":
        return (out_shape[-1],)
    return tuple(out_shape)


def _draw(init: str, rng: np.random.Generator, shape, fan_in: int, fan_out: int):
    """Initial weights and biases (float64) under one of the named schemes."""
    n_out = shape[-1]
    if init == "default":  # PyTorch's kaiming_uniform(a=√5) and its bias rule
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape), rng.uniform(-bound, bound, n_out)
    if init == "glorot_standard":  # Glorot & Bengio (2010), eq. 1
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape), np.zeros(n_out)
    if init == "glorot_normalized":  # Glorot & Bengio (2010), eq. 16
        bound = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape), np.zeros(n_out)
    return rng.normal(0, np.sqrt(2 / fan_in), shape), np.zeros(n_out)  # He et al. (2015)
