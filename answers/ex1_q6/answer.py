"""Exercise 1, Q6: what dropout on the two top layers does to D, from the "dropout" experiment."""

from __future__ import annotations

import math

from derive.sheet.units import claim

ID = "ex1.q6"
Z_LIMIT = 4.0  # a Monte Carlo mean more than 4 standard errors from the closed form would refute it
BAND = 2.0     # "at chance level": an accuracy within 2 binomial standard errors of 1/2


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
    """The closed form is confirmed; dropout runs end at chance; the metric's contrast is lost."""
    c, se, lower, both = ctx["c"], ctx["se"], ctx["lower"], ctx["both"]
    acc = c["held_out_accuracy"]
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
        claim(ID, "contrast_lost", {"fr": "avec dropout, les paires différentes ne sont presque plus plus éloignées que les paires semblables",
                                    "en": "with dropout, different pairs are hardly farther apart than same pairs"},
              "contrast_lower < contrast_none and contrast_both < contrast_none"
              " and max(contrast_lower, contrast_both) < 1.25",
              contrast_none=ctx["contrast"]["none"], contrast_lower=ctx["contrast"][lower],
              contrast_both=ctx["contrast"][both]),
        claim(ID, "embeddings_shrink", {"fr": "avec dropout, les plongements rétrécissent",
                                        "en": "with dropout, the embeddings shrink"},
              "norm_lower < norm_none and norm_both < norm_none", norm_none=c["embedding_sq_norm"]["none"],
              norm_lower=c["embedding_sq_norm"][lower], norm_both=c["embedding_sq_norm"][both]),
    ]
