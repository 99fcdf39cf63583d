"""Figures drawn for the sheet with matplotlib: the network's architecture (from the spec) and a convolution.

Every figure is drawn from numbers (the spec's shapes, a convolution's sizes) with its words in the
sheet's language; captions live in the prose. PNG files carry no timestamp or version metadata, so
the same inputs give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

from derive.prose import math_label  # noqa: E402
from derive.shapes import same_padding  # noqa: E402
from derive.symbolic.graph import label  # noqa: E402

DPI = 200
COLOURS = {"conv": "#dbe8f6", "maxpool": "#e8e8e8", "dense": "#fbe5c8", "input": "#ffffff", "loss": "#e3f1de"}
PNG_METADATA = {"Software": None}


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def _label(layer, shape, lang: str, shapes: bool = True) -> str:
    words = WORDS[lang]
    activation = words["activations"].get(layer.activation, layer.activation)
    if layer.type == "maxpool":
        kh, kw = layer.kernel
        lines = [words["maxpool"], f"{kh}×{kw}"]
    elif layer.type == "conv":
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        lines = [f"conv {kh}×{kw}"]
        if (sh, sw) != (1, 1):
            lines.append(f"{words['stride_short']} {sh if sh == sw else f'{sh}×{sw}'}")
        if layer.padding != "same":
            lines[-1] += ", VALID"
        lines += [f"{layer.filters} {words['filters']}", activation]
    else:
        lines = [f"{words['dense']} {layer.units}", activation]
    if shapes:
        lines.append("×".join(map(str, shape)))
    return "\n".join(lines)


def _box(ax, x, y, w, h, text, kind, size=7.0):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=COLOURS[kind], edgecolor="#333333", linewidth=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, linespacing=1.25)


def _arrow(ax, start, end, style="-|>", dashed=False):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=8, linewidth=0.8,
                                 color="#333333", linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0))


def architecture(spec, path: str | Path, lang: str = "en", exam: bool = False) -> Path:
    """Draw both branches of the spec's network, the distance D and the loss, into a PNG file.

    The sheet's figure gives each layer's output size; the exam's (``exam=True``) leaves the sizes
    for the students to find and has the wobbly lines of a figure drawn by hand.
    """
    path = Path(path)
    # matplotlib's sketch filter draws from a generator seeded the same way for every path: same bytes.
    with plt.rc_context({"path.sketch": SKETCH if exam else None}):
        _architecture(spec, path, lang, exam)
    return path


def _architecture(spec, path: Path, lang: str, exam: bool) -> None:
    shapes = spec.shapes()
    n = len(spec.layers)
    step, w, h = 1.25, 1.05, 1.05
    x_loss = step * (n + 1.3)
    fig, ax = plt.subplots(figsize=(1.0 + 1.05 * (n + 3), 3.5))
    rows = {1.2: ("", "x_1", "s_"), -1.2: ("'", "x_2", "s_")}
    for y, (prime, x_name, _) in rows.items():
        hgt, wid, ch = spec.input
        _box(ax, 0, y, w * 0.9, h, f"${x_name}$\n{hgt}×{wid}×{ch}", "input")
        for i, (layer, shape) in enumerate(zip(spec.layers, shapes), 1):
            x = step * i
            _box(ax, x, y, w, h, _label(layer, shape, lang, shapes=not exam), layer.type)
            ax.text(
                x,
                y + (h / 2 + 0.12) * (1 if y > 0 else -1),
                f"{layer.name}{prime}",
                ha="center",
                va="bottom" if y > 0 else "top",
                fontsize=7.5,
                fontweight="bold",
            )
            _arrow(ax, (x - step + w / 2 * (0.9 if i == 1 else 1), y), (x - w / 2, y))
        _arrow(ax, (step * n + w / 2, y), (x_loss - 0.65, 0.25 if y > 0 else -0.25))
    last = math_label(label(spec.layers[-1].name))  # as the formulas write it: a_b is neither a subscript nor an error
    _box(ax, x_loss, 0, 1.3, 0.7, f"$D = \\frac{{1}}{{2}}\\|s_{{{last}}} - s_{{{last}'}}\\|^2$", "loss", size=6.5)
    _arrow(ax, (x_loss + 0.65, 0), (x_loss + 1.0, 0))
    _box(ax, x_loss + 1.55, 0, 1.1, 0.7, "$\\mathcal{L}(D, l)$", "loss", size=8)
    if spec.shared_weights:
        for i in range(1, n + 1):
            if spec.layers[i - 1].type != "maxpool":
                _arrow(ax, (step * i, 1.2 - h / 2), (step * i, -1.2 + h / 2), style="<|-|>", dashed=True)
        ax.text(step * 0.5, 0, WORDS[lang]["shared"], ha="center", va="center", fontsize=6.5, style="italic")
    ax.set_xlim(-0.7, x_loss + 2.3)
    ax.set_ylim(-2.1, 2.1)
    ax.set_aspect("equal")
    ax.axis("off")
    _save(fig, path)


SKETCH = (0.6, 40.0, 2.0)  # (amplitude, wavelength, randomness) of the hand-drawn look, in pixels
WORDS = {
    "en": {
        "shared": "shared\nweights",
        "maxpool": "max-pooling",
        "dense": "dense",
        "filters": "filters",
        "stride_short": "stride",
        "activations": {"relu": "ReLU", "prelu": "PReLU", "linear": "linear", "tanh": "tanh", "sigmoid": "sigmoid"},
        "input": "input $X$: $H \\times W \\times C_{\\mathrm{in}}$; with $p$ zeros of padding (dotted): $\\tilde X$",
        "kernel": "kernel of filter $c$: $k \\times k \\times C_{\\mathrm{in}}$, plus bias $b_c$",
        "output": "output map $c$: $H' \\times W'$ (one per filter)",
        "stride": "stride $s$",
    },
    "fr": {
        "shared": "poids\npartagés",
        "maxpool": "max-pooling",
        "dense": "dense",
        "filters": "filtres",
        "stride_short": "pas",
        "activations": {"relu": "ReLU", "prelu": "PReLU", "linear": "linéaire", "tanh": "tanh", "sigmoid": "sigmoïde"},
        "input": "entrée $X$ : $H \\times W \\times C_{\\mathrm{in}}$ ; complétée de $p$ zéros (pointillés) : "
                 "$\\tilde X$",
        "kernel": "noyau du filtre $c$ : $k \\times k \\times C_{\\mathrm{in}}$, plus le biais $b_c$",
        "output": "carte de sortie $c$ : $H' \\times W'$ (une par filtre)",
        "stride": "pas $s$",
    },
}


@dataclass(frozen=True)
class Convolution:
    """What the convolution diagram draws: the sizes, and the output cells counted while drawing."""

    size: int
    kernel: int
    stride: int
    padding: int
    channels: int
    window: tuple[int, int]      # top-left corner of the highlighted window, in padded coordinates
    cell: tuple[int, int]        # the output cell it gives
    drawn_output: int            # output rows drawn: one per window position that fits in the padded input


def convolution(path: str | Path, lang: str = "en", size: int = 7, kernel: int = 3, stride: int = 2,
                padding: str = "same", channels: int = 3) -> Convolution:
    """Draw a convolution layer from its numbers: input, zero padding, kernel, stride, bias and output map.

    The padding is TensorFlow's for ``padding`` ("same" or "valid"); the output has one cell per
    position of the window on the padded input, and the highlighted cell is the one the
    highlighted window gives.
    """
    path = Path(path)
    pad = same_padding(size, kernel, stride)[0] if padding == "same" else 0
    total = size + 2 * pad
    positions = list(range(0, total - kernel + 1, stride))
    out = len(positions)
    pick = positions[min(1, out - 1)]
    window, cell = (pick, pick), (positions.index(pick), positions.index(pick))
    words = WORDS[lang]
    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    unit, depth = 0.42, (0.16, 0.11)

    def grid(x0, y0, rows, cols, layers, colour_of, dotted=lambda r, c: False):
        for d in reversed(range(layers)):  # the channels behind the front one
            for r in range(rows):
                for c in range(cols):
                    ax.add_patch(Rectangle((x0 + c * unit + depth[0] * d, y0 + (rows - 1 - r) * unit + depth[1] * d),
                                           unit, unit, facecolor=colour_of(d, r, c), linewidth=0.5,
                                           edgecolor="#999999" if dotted(r, c) else "#555555",
                                           linestyle=":" if dotted(r, c) else "-"))

    def padded(r, c):
        return not (pad <= r < pad + size and pad <= c < pad + size)

    def input_colour(d, r, c):
        if d == 0 and window[0] <= r < window[0] + kernel and window[1] <= c < window[1] + kernel:
            return "#f4a259"
        return "#ffffff" if padded(r, c) else "#dbe8f6"

    grid(0, 0, total, total, channels, input_colour, padded)
    ax.text(total * unit / 2, -0.3, words["input"], ha="center", va="top", fontsize=8)
    x_out, y_out = total * unit + 3.4, (total - out) * unit / 2
    grid(x_out, y_out, out, out, 1, lambda d, r, c: "#c0392b" if (r, c) == cell else "#e3f1de")
    ax.text(x_out + out * unit / 2, y_out - 0.3, words["output"], ha="center", va="top", fontsize=8)
    x_k, y_k = total * unit + 1.2, total * unit - kernel * unit + 0.2
    grid(x_k, y_k, kernel, kernel, channels, lambda d, r, c: "#f4a259")
    ax.text(x_k + kernel * unit / 2 + 0.2, y_k + kernel * unit + 0.35, words["kernel"], ha="center", va="bottom",
            fontsize=8)
    win_x, win_y = window[1] * unit, (total - window[0] - kernel) * unit
    cell_x, cell_y = x_out + cell[1] * unit, y_out + (out - 1 - cell[0]) * unit
    for a, b in ((0, 0), (1, 0), (0, 1), (1, 1)):
        ax.plot([win_x + a * kernel * unit, cell_x + a * unit], [win_y + b * kernel * unit, cell_y + b * unit],
                color="#c0392b", lw=0.6)
    ax.annotate("", xy=(win_x + (kernel + stride) * unit, total * unit + 0.15),
                xytext=(win_x + kernel * unit, total * unit + 0.15),
                arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8})
    ax.text(win_x + (kernel + stride / 2) * unit, total * unit + 0.22, words["stride"], ha="center", va="bottom",
            fontsize=8)
    middle = (x_out + out * unit) / 2
    # No sizes printed: the exam asks for a detailed diagram without numerical values.
    ax.text(middle, -0.95, "$Y_{y,x,c} = b_c + \\sum_{i,j,d} K_{i,j,d,c}\\, \\tilde X_{sy+i,\\; sx+j,\\; d}$, "
            "$H' = \\lfloor (H + 2p - k)/s \\rfloor + 1$", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.3, x_out + out * unit + 0.6)
    ax.set_ylim(-1.6, total * unit + 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    _save(fig, path)
    return Convolution(size, kernel, stride, pad, channels, window, cell, out)
