"""Exercise 2, Q5: Glorot & Bengio's figure reproduced by the "glorot" experiment, and what it shows."""

from __future__ import annotations

from derive.prose import fixed
from derive.sheet.units import Check, localised

STANDARD, NORMALIZED = "glorot_standard", "glorot_normalized"
# Where the measured ratio of gradient spreads (first / last hidden layer) counts as "shrinking".
SHRINKS_BELOW = 0.5


def solve(inputs) -> dict:
    """The experiment's ratios, their linear-regime predictions, and its figures."""
    c = inputs.experiment("glorot").conclusion
    return {
        "c": c,
        "std": c["backprop_ratio_first_last"][STANDARD],
        "norm": c["backprop_ratio_first_last"][NORMALIZED],
        "std_pred": c["predicted_backprop_ratio"][STANDARD],
        "norm_pred": c["predicted_backprop_ratio"][NORMALIZED],
        "wstd": c["weight_grad_ratio_first_last"][STANDARD],
        "wnorm": c["weight_grad_ratio_first_last"][NORMALIZED],
        "shrinks": c["backprop_ratio_first_last"][STANDARD] < SHRINKS_BELOW,
        "kept": c["backprop_ratio_first_last"][NORMALIZED] >= SHRINKS_BELOW,
        "figs": inputs.experiment_figures("glorot"),
    }


def check(ctx) -> list:
    """Each measured ratio lies within a factor 2 of its linear-regime prediction."""
    return [
        Check({"fr": f"rapport des dispersions (couche 1 / couche {ctx['c']['hidden_layers']}) à un facteur 2 près de la prédiction linéaire, initialisation {fr}",
               "en": f"spread ratio (layer 1 / layer {ctx['c']['hidden_layers']}) within a factor 2 of the linear prediction, {en} initialisation"},
              0.5 < measured / predicted < 2, localised(lambda lang, m=measured, p=predicted: f"{fixed(m, '.3f', lang)} "
                        + {"fr": "contre", "en": "vs"}[lang] + f" {fixed(p, '.3f', lang)}"))
        for fr, en, measured, predicted in (("standard", "standard", ctx["std"], ctx["std_pred"]),
                                            ("normalisée", "normalised", ctx["norm"], ctx["norm_pred"]))
    ]
