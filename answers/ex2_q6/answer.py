"""Exercise 2, Q6: weight decay and momentum in AlexNet's rule, from the "alexnet" experiment."""

from __future__ import annotations

import math

from derive.sheet.units import claim

ID = "ex2.q6"
SAME = 1e-12       # two float64 implementations of one recurrence agree to rounding
DIFFERENT = 1e-6   # the wrong coefficient must visibly change the trajectory
CLOSE = 0.15       # a measured shrinkage within 15 % of the decay-only prediction "matches" it


def solve(inputs) -> dict:
    """The replay's gaps, and what decay alone predicts for the weights' norm against what training gave."""
    c = inputs.experiment("alexnet").conclusion
    measured = {k: 1 - c["weight_norm_ratio"][k] for k in ("weight_decay", "alexnet")}
    predicted = {k: 1 - c["decay_only_norm_ratio"][k] for k in ("weight_decay", "alexnet")}
    se = math.sqrt(0.25 / c["eval_pairs"])
    return {"c": c, "figs": inputs.experiment_figures("alexnet"), "effective": 1 / (1 - c["momentum"]), "se": se,
            "measured": measured, "predicted": predicted, "amplification": measured["alexnet"] / measured["weight_decay"]}


def claims(ctx) -> list:
    """AlexNet's rule = momentum on L + (λ/2)‖w‖²; momentum multiplies the decay's effect as predicted."""
    c, m, p = ctx["c"], ctx["measured"], ctx["predicted"]
    torch_gap = c["max_relative_gap_torch_sgd"]
    return [
        claim(ID, "regularised_loss", {"fr": "la règle d'AlexNet est le moment appliqué à $L + \\tfrac{\\lambda}{2}\\lVert w \\rVert^2$",
                                       "en": "AlexNet's rule is momentum applied to $L + \\tfrac{\\lambda}{2}\\lVert w \\rVert^2$"},
              f"gap < {SAME} and torch_gap < {SAME}", required=True,
              gap=c["max_relative_gap_momentum_on_regularised_loss"], torch_gap=0.0 if torch_gap is None else torch_gap,
              steps=c["replay_steps"]),
        claim(ID, "half_lambda", {"fr": "avec $\\lambda \\lVert w \\rVert^2$ au lieu de $\\tfrac{\\lambda}{2}\\lVert w \\rVert^2$, les trajectoires diffèrent",
                                  "en": "with $\\lambda \\lVert w \\rVert^2$ instead of $\\tfrac{\\lambda}{2}\\lVert w \\rVert^2$ the trajectories differ"},
              f"gap > {DIFFERENT}", required=True, gap=c["max_relative_gap_wrong_coefficient"]),
        claim(ID, "decay_amplified", {"fr": "le moment multiplie l'effet de la décroissance des poids, comme le prévoit la règle",
                                      "en": "momentum multiplies the effect of weight decay, as the rule predicts"},
              f"shrink_both > 5 * shrink_decay and abs(shrink_both / predicted_both - 1) < {CLOSE}"
              f" and abs(shrink_decay / predicted_decay - 1) < {CLOSE}",
              shrink_decay=m["weight_decay"], shrink_both=m["alexnet"], predicted_decay=p["weight_decay"],
              predicted_both=p["alexnet"]),
        claim(ID, "accuracies_alike", {"fr": "les taux de réussite ne départagent pas les règles",
                                       "en": "the accuracies do not tell the rules apart"},
              "max(accuracies) - min(accuracies) < 2 * sqrt(2) * se",
              accuracies=list(c["held_out_accuracy"].values()), se=ctx["se"]),
    ]
