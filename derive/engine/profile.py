"""Where a training step's time goes, layer by layer: this engine against PyTorch, forward and backward.

Both engines are timed inside whole training steps, so that each layer meets the caches as a
step leaves them: this engine through the very per-layer functions its network calls (one
thread, the branches one after the other), with the time spent in matrix products told apart
from the rest (:mod:`derive.engine.products` keeps a clock); PyTorch (one thread) in its default
and its channels-last memory formats, with hooks that stamp when each layer's gradient is done.
Times are the median over the repeats, summed over both branches.
"""

from __future__ import annotations

import json
import time

import numpy as np

from derive.engine import layers as ops
from derive.engine import products
from derive.engine.network import Cache, Network


def numpy_layers(net: Network, x1, x2, l, repeats: int) -> dict:
    """{(layer, "forward"|"backward"): (seconds, seconds in products)}, with "loss" and "update" rows."""
    runs = []
    for _ in range(repeats + 1):
        times = {}
        cache = Cache(l)
        for b, x in enumerate((x1, x2)):
            h, hp = np.ascontiguousarray(x, dtype=net.dtype), None
            for i, layer in enumerate(net.layers):
                with _clock(times, (layer.name, "forward")):
                    h, hp = net.forward_layer(i, h, hp, b, cache)
        with _clock(times, ("loss", "forward")):
            last = net.names[-1]
            cache.pair_loss, cache.D, ga, gb = ops.pair_loss(cache.out[0][last], cache.out[1][last], l)
            cache.grad_out, cache.loss = [ga, gb], cache.pair_loss
        grads = [{}, {}]
        for b in (0, 1):
            g = cache.grad_out[b]
            for i in range(len(net.layers) - 1, -1, -1):
                with _clock(times, (net.layers[i].name, "backward")):
                    g = net.backward_layer(i, g, b, cache, grads[b])
        with _clock(times, ("update", "backward")):
            for b in (0, 1):
                for k, v in grads[b].items():
                    net.params[net.key(k.split(".")[0], b) + "." + k.split(".")[1]] -= 1e-4 * v
        runs.append(times)
    return _median(runs[1:])


class _clock:
    """Adds the block's wall time and product time to ``times[key]``."""

    def __init__(self, times: dict, key):
        self.times, self.key = times, key

    def __enter__(self):
        self.timing = products.timing()
        self.box = self.timing.__enter__()
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.start
        self.timing.__exit__(*exc)
        before = self.times.get(self.key, (0.0, 0.0))
        self.times[self.key] = (before[0] + wall, before[1] + self.box[0])


def _median(runs: list[dict]) -> dict:
    return {k: tuple(float(np.median([r[k][j] for r in runs])) for j in range(2)) for k in runs[0]}


def torch_layers(net: Network, x1, x2, l, repeats: int, channels_last: bool) -> dict:
    """{(layer, "forward"|"backward"): seconds} of the PyTorch twin, timed inside whole steps.

    Each layer's forward pass is timed as it runs; the backward pass is split at the two branches'
    outputs (the loss's gradient first, then each branch from its output), and hooks on every
    layer's input stamp the time its gradient is complete.
    """
    import torch

    from derive.engine.torch_twin import TorchTwin

    twin = TorchTwin(net, torch.float32, channels_last=channels_last)
    lt = torch.as_tensor(np.asarray(l), dtype=torch.float32)
    inputs = [twin.tensor(x1), twin.tensor(x2)]
    params = list(twin.params.values())
    names = [layer.name for layer in net.layers]
    runs = []
    for _ in range(repeats + 1):
        times: dict = {}
        for p in params:
            p.grad = None
        ends, stamps = [], [{}, {}]
        for b in (0, 1):
            h = inputs[b]
            for i, name in enumerate(names):
                start = time.perf_counter()
                h = twin.layer(i, h, b)
                times[(name, "forward")] = times.get((name, "forward"), 0.0) + time.perf_counter() - start
                if i + 1 < len(names):
                    h.register_hook(lambda g, done=stamps[b], i=i: done.__setitem__(i, time.perf_counter()))
            ends.append(h)
        start = time.perf_counter()
        diff = (ends[0] - ends[1]).reshape(len(lt), -1)
        D = 0.5 * (diff * diff).sum(dim=1)
        loss = torch.mean(lt * torch.nn.functional.relu(1 - D) + (1 - lt) * D)
        mid = time.perf_counter()
        grads = torch.autograd.grad(loss, ends)
        times[("loss", "forward")], times[("loss", "backward")] = mid - start, time.perf_counter() - mid
        for b in (0, 1):
            start = time.perf_counter()
            ends[b].backward(grads[b])
            done, last = time.perf_counter(), start
            for i in range(len(names) - 1, -1, -1):  # layer i's gradient is complete when its input's hook runs
                at = stamps[b].get(i - 1, done) if i > 0 else done
                key = (names[i], "backward")
                times[key] = times.get(key, 0.0) + at - last
                last = at
        start = time.perf_counter()
        with torch.no_grad():
            for p in params:
                p -= 1e-4 * p.grad
        times[("update", "backward")] = time.perf_counter() - start
        runs.append(times)
    return {k: float(np.median([r[k] for r in runs[1:]])) for k in runs[0]}


class Profile:
    """Per-layer times of both engines, and their rendering."""

    def __init__(self, net: Network, rows: list[dict], note: str):
        self.net, self.rows, self.note = net, rows, note

    def as_dict(self) -> dict:
        """JSON-ready: one row per layer (and loss, update) with every engine's forward and backward ms."""
        return {"rows": self.rows, "note": self.note}

    def render(self, fmt: str = "text") -> str:
        """A table (layer, numpy forward/backward and their products' share, PyTorch default, channels-last),
        or one line of JSON."""
        if fmt == "json":
            return json.dumps(self.as_dict(), sort_keys=True) + "\n"
        head = (f"{'layer':<7} {'':<22} {'numpy fwd':>9} {'(prod.)':>7} {'bwd':>7} {'(prod.)':>7}   "
                f"{'torch fwd':>9} {'bwd':>7}   {'chl-last fwd':>12} {'bwd':>7}")
        lines = [f"per-layer profile of one step, ms (both branches, one thread each; {self.note})", head]
        total = {}
        for r in self.rows:
            cells = [f"{r['layer']:<7} {r['what']:<22}",
                     f"{r['numpy_forward_ms']:9.2f} {r['numpy_forward_products_ms']:7.2f} "
                     f"{r['numpy_backward_ms']:7.2f} {r['numpy_backward_products_ms']:7.2f}"]
            for key, width in (("torch", 9), ("torch_channels_last", 12)):
                fwd, bwd = r.get(f"{key}_forward_ms"), r.get(f"{key}_backward_ms")
                cells.append(f"{_ms(fwd, width)} {_ms(bwd, 7)}")
            lines.append("   ".join(cells))
            for k, v in r.items():
                if k.endswith("_ms") and v is not None:
                    total[k] = total.get(k, 0.0) + v
        sums = [f"{'total':<7} {'':<22}",
                f"{total['numpy_forward_ms']:9.2f} {total['numpy_forward_products_ms']:7.2f} "
                f"{total['numpy_backward_ms']:7.2f} {total['numpy_backward_products_ms']:7.2f}"]
        for key, width in (("torch", 9), ("torch_channels_last", 12)):
            sums.append(f"{_ms(total.get(f'{key}_forward_ms'), width)} {_ms(total.get(f'{key}_backward_ms'), 7)}")
        lines.append("   ".join(sums))
        return "\n".join(lines) + "\n"


def _ms(value, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.2f}"


def describe(layer) -> str:
    """A layer in a few characters: conv 3x3/2 32, dense 256, maxpool 2x2/2."""
    if layer.type == "conv":
        return f"conv {layer.kernel[0]}x{layer.kernel[1]}/{layer.stride[0]} {layer.filters} {layer.activation}"
    if layer.type == "maxpool":
        return f"maxpool {layer.kernel[0]}x{layer.kernel[1]}/{layer.stride[0]}"
    return f"dense {layer.units} {layer.activation}"


def run(spec, *, batch: int = 64, repeats: int = 10, seed: int = 0, use_torch: bool = True) -> Profile:
    """Profile one training step of the spec's network, per layer, in both engines (one thread each)."""
    from derive.runtime.tuning import blas_threads

    rng = np.random.default_rng(seed)
    shape = (batch,) + tuple(spec.input)
    x1, x2 = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    l = (np.arange(batch) % 2).astype(np.int64)
    net = Network(spec, dtype=np.float32, seed=seed, threads=1)
    with blas_threads(1):
        mine = numpy_layers(net, x1, x2, l, repeats)
    theirs, note = {}, "PyTorch not requested"
    if use_torch:
        try:
            import torch
        except ImportError:
            note = "PyTorch is not installed"
        else:
            torch.set_num_threads(1)
            theirs = {fmt: torch_layers(net, x1, x2, l, repeats, fmt == "channels_last")
                      for fmt in ("default", "channels_last")}
            note = f"PyTorch {torch.__version__}"
    rows = []
    for name, what in [(layer.name, describe(layer)) for layer in net.layers] + [("loss", "pair loss"),
                                                                                  ("update", "SGD update")]:
        row = {"layer": name, "what": what}
        for phase in ("forward", "backward"):
            wall, prod = mine.get((name, phase), (0.0, 0.0))
            row[f"numpy_{phase}_ms"], row[f"numpy_{phase}_products_ms"] = wall * 1e3, prod * 1e3
            for fmt, key in (("default", "torch"), ("channels_last", "torch_channels_last")):
                t = theirs.get(fmt, {}).get((name, phase))
                row[f"{key}_{phase}_ms"] = None if t is None else t * 1e3
        rows.append(row)
    return Profile(net, rows, note)
