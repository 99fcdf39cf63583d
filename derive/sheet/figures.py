"""Figures drawn for the sheet with matplotlib: the network's architecture (from the spec) and a convolution.

Text in the figures is language-neutral (layer names, shapes, symbols); captions live in the prose.
PNG files carry no timestamp or version metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

DPI = 200
COLOURS = {"conv": "#dbe8f6", "maxpool": "#e8e8e8", "dense": "#fbe5c8", "input": "#ffffff", "loss": "#e3f1de"}
PNG_METADATA = {"Software": None}


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def _label(layer, shape) -> str:
    out = "×".join(map(str, shape))
    if layer.type == "conv":
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        stride = f", /{sh}" if (sh, sw) != (1, 1) and sh == sw else (f", /{sh}×{sw}" if (sh, sw) != (1, 1) else "")
        return f"conv {kh}×{kw}{stride}\n{layer.activation}\n{out}"
    if layer.type == "maxpool":
        kh, kw = layer.kernel
        return f"maxpool {kh}×{kw}\n{out}"
    return f"dense {layer.units}\n{layer.activation}\n{out}"


def _box(ax, x, y, w, h, text, kind, size=7.0):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=COLOURS[kind], edgecolor="#333333", linewidth=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, linespacing=1.25)


def _arrow(ax, start, end, style="-|>", dashed=False):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=8, linewidth=0.8,
                                 color="#333333", linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0))


def architecture(spec, path: str | Path) -> Path:
    """Draw both branches of the spec's network, the distance D and the loss, into a PNG file."""
    path = Path(path)
    shapes = spec.shapes()
    n = len(spec.layers)
    step, w, h = 1.25, 1.05, 0.9
    x_loss = step * (n + 1.3)
    fig, ax = plt.subplots(figsize=(1.0 + 1.05 * (n + 3), 3.5))
    rows = {1.2: ("", "x_1", "s_"), -1.2: ("'", "x_2", "s_")}
    for y, (prime, x_name, _) in rows.items():
        hgt, wid, ch = spec.input
        _box(ax, 0, y, w * 0.9, h, f"${x_name}$\n{hgt}×{wid}×{ch}", "input")
        for i, (layer, shape) in enumerate(zip(spec.layers, shapes), 1):
            x = step * i
            _box(ax, x, y, w, h, _label(layer, shape), layer.type)
            ax.text(x, y + (h / 2 + 0.12) * (1 if y > 0 else -1), f"{layer.name}{prime}", ha="center",
                    va="bottom" if y > 0 else "top", fontsize=7.5, fontweight="bold")
            _arrow(ax, (x - step + w / 2 * (0.9 if i == 1 else 1), y), (x - w / 2, y))
        _arrow(ax, (step * n + w / 2, y), (x_loss - 0.65, 0.25 if y > 0 else -0.25))
    last = spec.layers[-1].name
    _box(ax, x_loss, 0, 1.3, 0.7, f"$D = \\frac{{1}}{{2}}\\|s_{{{last[1:] or last}}} - s_{{{last[1:] or last}'}}\\|^2$",
         "loss", size=6.5)
    _arrow(ax, (x_loss + 0.65, 0), (x_loss + 1.0, 0))
    _box(ax, x_loss + 1.55, 0, 1.1, 0.7, "$\\mathcal{L}(D, l)$", "loss", size=8)
    if spec.shared_weights:
        for i in range(1, n + 1):
            if spec.layers[i - 1].type != "maxpool":
                _arrow(ax, (step * i, 1.2 - h / 2), (step * i, -1.2 + h / 2), style="<|-|>", dashed=True)
        ax.text(step * 0.5, 0, "shared\nweights", ha="center", va="center", fontsize=6.5, style="italic")
    ax.set_xlim(-0.7, x_loss + 2.3)
    ax.set_ylim(-2.1, 2.1)
    ax.set_aspect("equal")
    ax.axis("off")
    _save(fig, path)
    return path


def convolution(path: str | Path) -> Path:
    """A symbolic drawing of one convolution layer: a k×k×C_in kernel sliding over an input, one output value."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    depth = (0.18, 0.12)

    def stack(x0, y0, cols, rows, layers, colour, hi=None, hi_colour="#f4a259"):
        for d in reversed(range(layers)):
            dx, dy = depth[0] * d, depth[1] * d
            for r in range(rows):
                for c in range(cols):
                    lit = hi is not None and hi[0] <= c < hi[0] + hi[2] and hi[1] <= r < hi[1] + hi[2]
                    ax.add_patch(Rectangle((x0 + c * 0.3 + dx, y0 + r * 0.3 + dy), 0.3, 0.3,
                                           facecolor=hi_colour if lit else colour, edgecolor="#555555", linewidth=0.5))

    stack(0, 0, 7, 7, 3, "#dbe8f6", hi=(2, 3, 3))
    ax.text(1.05, -0.35, "input $X$: $H \\times W \\times C_{in}$", ha="center", fontsize=8)
    stack(3.1, 1.05, 3, 3, 3, "#f4a259")
    ax.text(3.55, 0.75, "kernel $K_{\\cdot,\\cdot,\\cdot,c}$: $k \\times k \\times C_{in}$\n"
            "(one per output channel $c$;\nstride $s$)",
            ha="center", va="top", fontsize=7.5)
    stack(5.4, 0.45, 6, 6, 4, "#e3f1de", hi=(2, 3, 1), hi_colour="#c0392b")
    ax.text(6.3, -0.35, "output $Y$: $H' \\times W' \\times C_{out}$", ha="center", fontsize=8)
    _arrow(ax, (2.3 + 0.1, 1.35), (3.05, 1.5))
    _arrow(ax, (4.25, 1.5), (6.0, 1.5 + 0.05))
    ax.text(3.8, 3.25, "$Y_{y,x,c} = b_c + \\sum_{i,j,d} K_{i,j,d,c}\\, X_{sy+i,\\, sx+j,\\, d}$",
            ha="center", fontsize=8.5)
    ax.set_xlim(-0.2, 7.8)
    ax.set_ylim(-0.6, 3.5)
    ax.set_aspect("equal")
    ax.axis("off")
    _save(fig, path)
    return path
