"""Exercise 2, Q5: Glorot & Bengio's Figure 7 reproduced by the "glorot" experiment, and what it shows."""

from __future__ import annotations

from derive.sheet.units import claim

ID = "ex2.q5"
STANDARD, NORMALIZED = "glorot_standard", "glorot_normalized"
SHRINKS_BELOW = 0.5  # a first/last ratio of gradient spreads below this counts as "shrinking"
EQUAL = 0.2          # weight-gradient spreads "equal across layers" when their ratio is within 20 % of 1


def solve(inputs) -> dict:
    """The experiment's ratios, their linear-regime predictions, and its figures."""
    c = inputs.experiment("glorot").conclusion
    b, w = c["backprop_ratio_first_last"], c["weight_grad_ratio_first_last"]
    return {"c": c, "std": b[STANDARD], "norm": b[NORMALIZED], "std_pred": c["predicted_backprop_ratio"][STANDARD],
            "norm_pred": c["predicted_backprop_ratio"][NORMALIZED], "wstd": w[STANDARD], "wnorm": w[NORMALIZED],
            "figs": inputs.experiment_figures("glorot")}


def claims(ctx) -> list:
    """Standard init: gradients shrink downwards as predicted; normalised: kept; weight gradients equal in both."""
    c = ctx["c"]
    return [
        claim(ID, "standard_shrinks", {"fr": "initialisation standard : la dispersion du gradient diminue vers l'entrée",
                                       "en": "standard initialisation: the gradient's spread shrinks towards the input"},
              f"ratio < {SHRINKS_BELOW}", ratio=ctx["std"]),
        claim(ID, "normalized_kept", {"fr": "initialisation normalisée : la dispersion reste du même ordre",
                                      "en": "normalised initialisation: the spread stays of the same order"},
              f"ratio >= {SHRINKS_BELOW}", ratio=ctx["norm"]),
        claim(ID, "theory", {"fr": "chaque rapport mesuré est à un facteur 2 près de la prédiction du régime linéaire",
                             "en": "each measured ratio is within a factor 2 of the linear regime's prediction"},
              "0.5 < standard / standard_predicted < 2 and 0.5 < normalized / normalized_predicted < 2",
              required=True, standard=ctx["std"], standard_predicted=ctx["std_pred"], normalized=ctx["norm"],
              normalized_predicted=ctx["norm_pred"]),
        claim(ID, "weights_equal", {"fr": "à l'initialisation, les gradients des poids sont égaux d'une couche à l'autre sous les deux schémas",
                                    "en": "at initialisation, the weight gradients are equal across layers under both schemes"},
              f"abs(standard - 1) < {EQUAL} and abs(normalized - 1) < {EQUAL}", standard=ctx["wstd"],
              normalized=ctx["wnorm"]),
        claim(ID, "no_saturation", {"fr": "à l'initialisation, aucun neurone n'est saturé sous les deux schémas",
                                    "en": "at initialisation, no unit is saturated under either scheme"},
              "standard < 0.01 and normalized < 0.01", standard=c["saturated_share_max"][STANDARD],
              normalized=c["saturated_share_max"][NORMALIZED]),
    ]
