"""Exercise 2, Q3: draw a convolution layer; quote the "convolution" experiment (engine versus scipy)."""

from __future__ import annotations

from derive.prose import fixed
from derive.sheet import figures
from derive.sheet.units import Check, localised

EXACT = 1e-12  # float64 sums of a few hundred products agree to this
DIFFERENT = 1e-2  # relative gap beyond which two operations are plainly not the same


def solve(inputs) -> dict:
    """The convolution diagram and the experiment's comparison of the engine's convolution with scipy."""
    return {"diagram": inputs.figure("convolution.png", figures.convolution),
            "c": inputs.experiment("convolution").conclusion}


def check(ctx) -> list:
    """The engine's convolution is scipy's correlate, equals convolve with a flipped kernel, and not without."""
    c = ctx["c"]
    return [
        Check({"fr": "convolution du moteur = `scipy.signal.correlate` = `convolve` à noyau retourné",
               "en": "the engine's convolution = `scipy.signal.correlate` = `convolve` with a flipped kernel"},
              max(c["max_error_vs_correlate"], c["max_error_vs_convolve_flipped"]) < EXACT,
              localised(lambda lang: f"{c['configurations']} configurations" + {"fr": " ; ", "en": ", "}[lang]
                        + f"max |Δ| = {fixed(c['max_error_vs_convolve_flipped'], '.1e', lang)}")),
        Check({"fr": "sans retournement, `convolve` donne autre chose", "en": "without the flip, `convolve` differs"},
              c["min_relative_gap_vs_convolve_unflipped"] > DIFFERENT,
              localised(lambda lang: f"≥ {fixed(c['min_relative_gap_vs_convolve_unflipped'], '.2f', lang)}")),
    ]
