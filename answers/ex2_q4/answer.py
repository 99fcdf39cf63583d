"""Exercise 2, Q4: the "vanishing" experiment measures each remedy on a 20-layer network at initialisation."""

from __future__ import annotations

import math

from derive.sheet.units import Check

# Configurations of the experiment shown in the sheet, in order: the problem, then one row per remedy.
ROWS = ("sigmoid_standard", "tanh_standard", "relu_he", "tanh_normalized", "sigmoid_batchnorm", "sigmoid_residual")
NAMES = {
    "sigmoid_standard": {"fr": "sigmoïde, initialisation standard", "en": "sigmoid, standard initialisation"},
    "tanh_standard": {"fr": "tanh, initialisation standard", "en": "tanh, standard initialisation"},
    "relu_he": {"fr": "1. ReLU, initialisation de He", "en": "1. ReLU, He initialisation"},
    "tanh_normalized": {"fr": "2. tanh, initialisation normalisée", "en": "2. tanh, normalised initialisation"},
    "sigmoid_batchnorm": {"fr": "3. sigmoïde + normalisation par lots", "en": "3. sigmoid + batch normalisation"},
    "sigmoid_residual": {"fr": "4. sigmoïde + connexions résiduelles", "en": "4. sigmoid + residual connections"},
}
# A first/last ratio of gradient spread above this is "no vanishing" for the sheet's wording.
KEPT = 1e-2


def solve(inputs) -> dict:
    """The first/last hidden-layer ratios of back-propagated gradient size, per configuration."""
    c = inputs.experiment("vanishing").conclusion
    ratios = c["backprop_ratio_first_last"]
    rows = [{"key": k, "name": NAMES[k], "ratio": ratios[k], "kept": ratios[k] > KEPT} for k in ROWS]
    worst = min(r["ratio"] for r in rows[:2])
    return {"c": c, "rows": rows, "problems": rows[:2], "remedies": rows[2:],
            "worst_exponent": math.floor(-math.log10(worst)),
            "all_kept": all(r["kept"] for r in rows[2:]), "none_kept": not any(r["kept"] for r in rows[:2])}


def check(ctx) -> list:
    """Every configuration the sheet quotes was measured, with a finite positive ratio."""
    ok = all(0 < r["ratio"] < float("inf") for r in ctx["rows"])
    return [Check({"fr": "chaque configuration citée a été mesurée (rapport fini et positif)",
                   "en": "every configuration quoted was measured (finite, positive ratio)"}, ok)]
