"""Exercise 2, Q3: a CNN's "convolution" is a cross-correlation; signal processing flips the kernel.

For every conv layer of the spec (and a few extra strides, paddings and kernel shapes) the engine's
convolution is compared, channel by channel, with ``scipy.signal.correlate`` and with
``scipy.signal.convolve`` given the kernel flipped in both spatial axes, then with the kernel left
as it is. The figure draws a 3-D kernel sliding over a multi-channel input.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from derive import layers
from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 2 Q3"
TITLE = "The engine's convolution is a cross-correlation; signal processing flips the kernel"
NEEDS = frozenset({"spec"})
USES = ("derive.layers", "derive.shapes")
SIZES = {"quick": {"batch": 1, "max_size": 12}, "full": {"batch": 2, "max_size": 32}}
# Extra configurations beside the spec's own conv layers: (h, w, c_in, kh, kw, c_out, stride, padding)
EXTRA = (
    (9, 11, 2, 3, 5, 3, (1, 1), "valid"),
    (10, 10, 3, 4, 4, 2, (2, 2), "same"),
    (7, 8, 4, 2, 3, 2, (1, 2), "same"),
)


def compute(ctx) -> Outcome:
    """Compare the engine with scipy.signal on every configuration; draw the sliding-kernel diagram."""
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
    return Outcome({"configurations": rows}, conclusion, {"convolution": _diagram()})


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


# Oblique projection of (x: width, y: height, z: channel depth) onto the page.
DEPTH_DX, DEPTH_DY = 0.5, 0.38


def _p(x, y, z):
    return x + z * DEPTH_DX, y + z * DEPTH_DY


def _cuboid(ax, x, y, z, w, h, d, face, alpha, edge=(0.25, 0.25, 0.25), grid=True, zorder=1):
    """Front, top and right faces of a box, with unit grid lines on each visible face."""
    from matplotlib.patches import Polygon

    faces = (
        [(x, y, z), (x + w, y, z), (x + w, y + h, z), (x, y + h, z)],
        [(x, y + h, z), (x + w, y + h, z), (x + w, y + h, z + d), (x, y + h, z + d)],
        [(x + w, y, z), (x + w, y, z + d), (x + w, y + h, z + d), (x + w, y + h, z)],
    )
    for shade, corners in zip((1.0, 0.85, 0.7), faces):
        colour = tuple(shade * c for c in face)
        ax.add_patch(Polygon([_p(*c) for c in corners], closed=True, facecolor=colour, alpha=alpha,
                             edgecolor=edge, lw=0.9, zorder=zorder))
    if not grid:
        return
    kw = {"color": edge, "lw": 0.35, "alpha": 0.6, "zorder": zorder}
    for u in range(1, w):
        ax.plot(*zip(_p(x + u, y, z), _p(x + u, y + h, z), _p(x + u, y + h, z + d)), **kw)
    for v in range(1, h):
        ax.plot(*zip(_p(x, y + v, z), _p(x + w, y + v, z), _p(x + w, y + v, z + d)), **kw)
    for t in range(1, int(d)):
        ax.plot(*zip(_p(x, y + h, z + t), _p(x + w, y + h, z + t), _p(x + w, y, z + t)), **kw)


def _diagram():
    """A 3x3xC kernel over a 6x6xC input giving one value of a 4x4xF output (VALID, stride 1)."""
    size, c_in, k, filters = 6, 3, 3, 4
    out, row, col, f0, ox, gap = size - k + 1, 1, 2, 2, 10.5, 1.6
    fig, axes = common.figure(9.0, 6.2)
    ax = axes[0, 0]
    _cuboid(ax, 0, 0, 0, size, size, c_in, (0.62, 0.75, 0.95), 0.55)
    ky = size - row - k
    _cuboid(ax, col, ky, 0, k, k, c_in, (0.97, 0.6, 0.2), 0.8, edge=(0.6, 0.3, 0.0), zorder=3)
    for f in reversed(range(filters)):  # feature maps from the back, so the front ones overlap
        hue = (0.95, 0.55, 0.55) if f == f0 else (0.6, 0.85, 0.6)
        _cuboid(ax, ox, 1, f * gap, out, out, 0.25, hue, 0.55 if f == f0 else 0.35, zorder=4 + filters - f)
    cell = (ox + col, 1 + out - row - 1, f0 * gap)
    from matplotlib.patches import Polygon

    ax.add_patch(Polygon([_p(cell[0] + a, cell[1] + b, cell[2]) for a, b in ((0, 0), (1, 0), (1, 1), (0, 1))],
                         facecolor=(0.8, 0.05, 0.05), zorder=20))
    for a, b in ((0, 0), (1, 0), (1, 1), (0, 1)):
        ax.plot(*zip(_p(col + a * k, ky + b * k, 0), _p(cell[0] + a, cell[1] + b, cell[2])),
                color=(0.8, 0.05, 0.05), lw=0.7, zorder=21)
    ax.annotate("", xy=_p(col + k + 1.2, size + 0.35, 0), xytext=_p(col + k, size + 0.35, 0),
                arrowprops={"arrowstyle": "->", "color": "black"})
    ax.annotate("", xy=_p(-0.35, ky - 1.2, 0), xytext=_p(-0.35, ky, 0),
                arrowprops={"arrowstyle": "->", "color": "black"})
    ax.text(*_p(size / 2, -0.5, 0), f"input x: {size}×{size}×{c_in}\n(height × width × channels)",
            ha="center", va="top", fontsize=8)
    ax.text(*_p(col + k / 2, size + 0.9, c_in), f"kernel W[:, :, :, f]: {k}×{k}×{c_in}\nslides along height and width",
            ha="center", va="bottom", fontsize=8)
    ax.text(*_p(ox + out / 2, 0.5, 0), f"output o: {out}×{out}×{filters}\n(one map per kernel f)",
            ha="center", va="top", fontsize=8)
    ax.text(8.5, -3.0, "o[i, j, f] = b[f] + Σ_u Σ_v Σ_c x[i+u, j+v, c] · W[u, v, c, f]   (cross-correlation, as in CNNs)\n"
            "signal processing: (x ∗ w)[i, j] = Σ_u Σ_v x[i−u, j−v] · w[u, v]   (the kernel is flipped)",
            ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-1.0, 18.0)
    ax.set_ylim(-4.4, 9.2)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig


def summary(c) -> str:
    """One line: the engine against scipy's correlate and convolve."""
    return (f"over {c['configurations']} configurations, engine vs correlate {c['max_error_vs_correlate']:.1e}, "
            f"vs convolve with the kernel flipped {c['max_error_vs_convolve_flipped']:.1e}, vs convolve unflipped "
            f"at least {c['min_relative_gap_vs_convolve_unflipped']:.2f} (relative to max |o|; seed {c['seed']})")
