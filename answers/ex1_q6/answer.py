"""Exercise 1, Q6: what dropout on the two top layers does to D, from the "dropout" experiment."""

from __future__ import annotations

import math

from derive.sheet.units import claim

ID = "ex1.q6"
Z_LIMIT = 4.0  # a Monte Carlo mean more than 4 standard errors from the closed form would refute it
BAND = 2.0     # "at chance level": an accuracy within 2 binomial standard errors of 1/2
LOST = 1.25    # a contrast below this: different pairs hardly farther apart than same pairs


def solve(inputs) -> dict:
    """The closed form and Monte Carlo means of D, the trained runs, and the contrast of their metrics."""
    c = inputs.experiment("dropout").conclusion
    lower, upper = c["layers"]
    both = f"{lower}+{upper}"
    se = math.sqrt(0.25 / c["eval_pairs"])
    contrast = {k: c["mean_D_different"][k] / c["mean_D_same"][k] for k in c["mean_D_same"]}
    return {"c": c, "figs": inputs.experiment_figures("dropout"), "lower": lower, "upper": upper, "both": both,
            "se": se, "contrast": contrast, "runs": ["none", lower, both]}


def claims(ctx) -> list:
    """The closed form is confirmed; where the dropout runs end against chance; what becomes of the contrast."""
    c, se, lower, both = ctx["c"], ctx["se"], ctx["lower"], ctx["both"]
    acc = c["held_out_accuracy"]
    contrasts = {f"contrast_{k}": ctx["contrast"][run] for k, run in (("none", "none"), ("lower", lower), ("both", both))}
    return [
        claim(ID, "closed_form", {"fr": "l'espérance de $D$ sous les masques est la formule exacte",
                                  "en": "the expected $D$ under the masks is the closed form"},
              f"max_z < {Z_LIMIT}", required=True, max_z=c["max_z_score"], draws=c["mc_draws"]),
        claim(ID, "dropout_at_chance", {"fr": "avec dropout, le réseau entraîné reste au niveau du hasard",
                                        "en": "with dropout, the trained network stays at chance level"},
              f"abs(acc_lower - 0.5) < {BAND} * se and abs(acc_both - 0.5) < {BAND} * se",
              acc_lower=acc[lower], acc_both=acc[both], se=se),
        claim(ID, "none_above_chance", {"fr": "sans dropout, le réseau fait mieux que le hasard",
                                        "en": "without dropout, the network does better than chance"},
              f"acc_none > 0.5 + {BAND} * se", acc_none=acc["none"], se=se),
        claim(ID, "lower_like_none", {"fr": f"avec dropout sur {lower} seulement, le taux de réussite ne se distingue pas de celui sans dropout",
                                      "en": f"with dropout on {lower} only, the accuracy cannot be told apart from that without dropout"},
              f"abs(acc_lower - acc_none) < {BAND} * sqrt(2) * se", acc_lower=acc[lower], acc_none=acc["none"], se=se),
        claim(ID, "both_at_chance", {"fr": f"avec dropout sur {both}, le réseau reste au niveau du hasard",
                                     "en": f"with dropout on {both}, the network stays at chance level"},
              f"abs(acc_both - 0.5) < {BAND} * se", acc_both=acc[both], se=se),
        claim(ID, "contrast_lost", {"fr": "avec dropout, les paires différentes ne sont presque plus plus éloignées que les paires semblables",
                                    "en": "with dropout, different pairs are hardly farther apart than same pairs"},
              "contrast_lower < contrast_none and contrast_both < contrast_none"
              f" and max(contrast_lower, contrast_both) < {LOST}", **contrasts),
        claim(ID, "contrast_falls", {"fr": "avec dropout, le contraste de la métrique diminue",
                                     "en": "with dropout, the metric's contrast falls"},
              "contrast_lower < contrast_none and contrast_both < contrast_none", **contrasts),
        claim(ID, "contrast_kept", {"fr": "avec dropout, les paires différentes restent nettement plus éloignées que les paires semblables",
                                    "en": "with dropout, different pairs stay clearly farther apart than same pairs"},
              f"min(contrast_lower, contrast_both) >= {LOST}", contrast_lower=contrasts["contrast_lower"],
              contrast_both=contrasts["contrast_both"]),
        claim(ID, "embeddings_shrink", {"fr": "avec dropout, les plongements se contractent",
                                        "en": "with dropout, the embeddings shrink"},
              "norm_lower < norm_none and norm_both < norm_none", norm_none=c["embedding_sq_norm"]["none"],
              norm_lower=c["embedding_sq_norm"][lower], norm_both=c["embedding_sq_norm"][both]),
    ]
