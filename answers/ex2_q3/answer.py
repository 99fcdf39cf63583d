"""Exercise 2, Q3: a convolution layer drawn from its numbers; the "convolution" experiment for the teacher."""

from __future__ import annotations

from derive.shapes import out_size, same_padding
from derive.sheet import figures
from derive.sheet.units import claim

ID = "ex2.q3"
EXACT = 1e-12     # float64 sums of a few hundred products agree to this
DIFFERENT = 1e-2  # relative gap beyond which two operations are plainly not the same
DRAWN = {"size": 7, "kernel": 3, "stride": 2, "padding": "same"}


def solve(inputs) -> dict:
    """The convolution diagram (its geometry kept to be checked) and the experiment's comparisons."""
    drawn = {}

    def draw(path):
        drawn["geometry"] = figures.convolution(path, inputs.lang, **DRAWN)

    diagram = inputs.figure("convolution.png", draw)
    return {"diagram": diagram, "geometry": drawn.get("geometry"), "c": inputs.experiment("convolution").conclusion}


def claims(ctx) -> list:
    """The drawn output size is the formula's; a CNN's convolution is a cross-correlation."""
    c, g = ctx["c"], ctx["geometry"]
    found = [
        claim(ID, "correlation", {"fr": "la convolution du réseau = `scipy.signal.correlate` = `convolve` à noyau retourné",
                                  "en": "the network's convolution = `scipy.signal.correlate` = `convolve` with a flipped kernel"},
              f"max(vs_correlate, vs_flipped) < {EXACT}", required=True, vs_correlate=c["max_error_vs_correlate"],
              vs_flipped=c["max_error_vs_convolve_flipped"], configurations=c["configurations"]),
        claim(ID, "flip_matters", {"fr": "sans retournement, `convolve` donne autre chose",
                                   "en": "without the flip, `convolve` gives something else"},
              f"gap > {DIFFERENT}", required=True, gap=c["min_relative_gap_vs_convolve_unflipped"]),
    ]
    if g is not None:
        found.append(claim(ID, "diagram", {"fr": "la figure dessine la sortie que donne la formule (taille et case)",
                                           "en": "the figure draws the output the formula gives (size and cell)"},
                           "drawn == formula and padding == same_padding and cell_row * stride == window_row",
                           required=True, drawn=g.drawn_output,
                           formula=out_size(g.size, g.kernel, g.stride, DRAWN["padding"]),
                           padding=g.padding, same_padding=same_padding(g.size, g.kernel, g.stride)[0],
                           cell_row=g.cell[0], window_row=g.window[0], stride=g.stride))
    return found
