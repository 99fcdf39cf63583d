"""Exercise 2, Q3: a CNN's "convolution" is a cross-correlation; signal processing flips the kernel.

For every conv layer of the spec (and a few extra strides, paddings and kernel shapes) the engine's
convolution is compared, channel by channel, with ``scipy.signal.correlate`` and with
``scipy.signal.convolve`` given the kernel flipped in both spatial axes, then with the kernel left
as it is. The sheet draws its convolution diagram itself (:mod:`derive.sheet.figures`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from derive.engine import layers
from derive.experiments.runner import Outcome

QUESTION = "Ex. 2 Q3"
TITLE = "The engine's convolution is a cross-correlation; signal processing flips the kernel"
NEEDS = frozenset({"spec"})
SIZES = {"quick": {"batch": 1, "max_size": 12}, "full": {"batch": 2, "max_size": 32}}
# Extra configurations beside the spec's own conv layers: (h, w, c_in, kh, kw, c_out, stride, padding)
EXTRA = (
    (9, 11, 2, 3, 5, 3, (1, 1), "valid"),
    (10, 10, 3, 4, 4, 2, (2, 2), "same"),
    (7, 8, 4, 2, 3, 2, (1, 2), "same"),
)


def compute(ctx) -> Outcome:
    """Compare the engine with scipy.signal on every configuration."""
    z = ctx.sizes
    rng = ctx.rng(6)
    rows = []
    for name, cfg in _configs(ctx.spec, z["max_size"]):
        rows.append({"layer": name, **_compare(cfg, z["batch"], rng)})
    conclusion = {
        "max_error_vs_correlate": max(r["max_error_vs_correlate"] for r in rows),
        "max_error_vs_convolve_flipped": max(r["max_error_vs_convolve_flipped"] for r in rows),
        "min_relative_gap_vs_convolve_unflipped": min(r["relative_gap_vs_convolve_unflipped"] for r in rows),
        "configurations": len(rows), "seed": ctx.seed,
    }
    return Outcome({"configurations": rows}, conclusion)


def _configs(spec, max_size: int):
    """The spec's conv layers on their real input shapes (capped in size), then the extra ones."""
    shape = tuple(spec.input)
    for layer, out in zip(spec.layers, spec.shapes()):
        if layer.type == "conv" and len(shape) == 3:
            h, w, c = min(shape[0], max_size), min(shape[1], max_size), shape[2]
            yield layer.name, (h, w, c, *layer.kernel, layer.filters, layer.stride, layer.padding)
        shape = out
    for i, cfg in enumerate(EXTRA, 1):
        yield f"extra{i}", cfg


def _compare(cfg, batch: int, rng) -> dict:
    h, w, c_in, kh, kw, c_out, stride, padding = cfg
    x = rng.standard_normal((batch, h, w, c_in))
    W = rng.standard_normal((kh, kw, c_in, c_out))
    b = rng.standard_normal(c_out)
    engine, _ = layers.conv(x, W, b, stride, padding)
    pads = layers.conv_pads(h, w, (kh, kw), stride, padding)
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    oh, ow = engine.shape[1:3]
    ref = {"correlate": np.zeros_like(engine), "flipped": np.zeros_like(engine), "unflipped": np.zeros_like(engine)}
    for n in range(batch):
        for k in range(c_out):
            for key, fn in (("correlate", lambda a, f: signal.correlate(a, f, mode="valid")),
                            ("flipped", lambda a, f: signal.convolve(a, f[::-1, ::-1], mode="valid")),
                            ("unflipped", lambda a, f: signal.convolve(a, f, mode="valid"))):
                total = sum(fn(xp[n, :, :, c], W[:, :, c, k]) for c in range(c_in))
                ref[key][n, :, :, k] = total[::stride[0], ::stride[1]][:oh, :ow] + b[k]
    scale = float(np.max(np.abs(engine)))
    return {"input": [h, w, c_in], "kernel": [kh, kw, c_in, c_out], "stride": list(stride), "padding": padding,
            "output": [oh, ow, c_out],
            "max_error_vs_correlate": float(np.max(np.abs(engine - ref["correlate"]))) / scale,
            "max_error_vs_convolve_flipped": float(np.max(np.abs(engine - ref["flipped"]))) / scale,
            "relative_gap_vs_convolve_unflipped": float(np.max(np.abs(engine - ref["unflipped"]))) / scale}


def summary(c) -> str:
    """One line: the engine against scipy's correlate and convolve."""
    return (f"over {c['configurations']} configurations, engine vs correlate {c['max_error_vs_correlate']:.1e}, "
            f"vs convolve with the kernel flipped {c['max_error_vs_convolve_flipped']:.1e}, vs convolve unflipped "
            f"at least {c['min_relative_gap_vs_convolve_unflipped']:.2f} (relative to max |o|; seed {c['seed']})")
