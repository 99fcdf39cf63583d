"""Exercise 1, Q4: what becomes of L2 and L'2; the reasoning, and the "branches" experiment for the teacher."""

from __future__ import annotations

import math

from derive.sheet.units import claim

ID = "ex1.q4"
RUNS = ("untied_independent", "tied", "untied_same_init")
ROWS = ("weight_distance_start", "weight_distance_end", "aligned_weight_distance_end", "displacement_end",
        "matched_correlation_end", "self_D_over_different_D_start", "self_D_over_different_D_end",
        "held_out_accuracy")
LABELS = {
    "weight_distance_start": {"fr": "distance relative des poids, au départ", "en": "relative weight distance, at the start"},
    "weight_distance_end": {"fr": "distance relative des poids, à la fin", "en": "relative weight distance, at the end"},
    "aligned_weight_distance_end": {"fr": "la même, filtres appariés", "en": "the same, filters matched"},
    "displacement_end": {"fr": "déplacement relatif des poids depuis le départ",
                         "en": "relative displacement of the weights since the start"},
    "matched_correlation_end": {"fr": "corrélation des filtres appariés, à la fin",
                                "en": "correlation of matched filters, at the end"},
    "self_D_over_different_D_start": {"fr": "$D(x, x)$ / $D$ moyen entre classes différentes, au départ",
                                      "en": "$D(x, x)$ / mean $D$ of different classes, at the start"},
    "self_D_over_different_D_end": {"fr": "$D(x, x)$ / $D$ moyen entre classes différentes, à la fin",
                                    "en": "$D(x, x)$ / mean $D$ of different classes, at the end"},
    "held_out_accuracy": {"fr": "taux de réussite en vérification (paires de test)",
                          "en": "verification accuracy (held-out pairs)"},
}
SAME_FUNCTION = 1e-5  # a permutation of filters changes the output by (float32) rounding only
SIGMAS = 3            # an accuracy "above chance" is more than 3 binomial standard errors above 1/2
SHORT = 0.1           # a run "cannot show the long run" when the weights moved by less than this share


def standard_error(pairs: int) -> float:
    """The binomial standard error of an accuracy near 1/2 measured on ``pairs`` pairs."""
    return math.sqrt(0.25 / pairs)


def solve(inputs) -> dict:
    """The experiment's numbers for the teacher edition's table and claims."""
    c = inputs.experiment("branches").conclusion
    return {"c": c, "runs": RUNS, "rows": ROWS, "labels": LABELS, "figs": inputs.experiment_figures("branches"),
            "se": standard_error(c["eval_pairs"]), "sigmas": SIGMAS}


def claims(ctx) -> list:
    """The controls hold; what a 400-step run can and cannot show; accuracy differences within the noise."""
    c, se = ctx["c"], ctx["se"]
    u, t, s0 = RUNS
    tied = [c[k][t] for k in ("weight_distance_start", "weight_distance_end", "self_D_start", "self_D_end")]
    found = [
        claim(ID, "tied_identical", {"fr": "témoin : avec des poids partagés, distance des poids et $D(x, x)$ restent nuls",
                                     "en": "control: with shared weights, the weight distance and $D(x, x)$ stay zero"},
              "max_abs == 0", required=True, max_abs=max(abs(v) for v in tied)),
        claim(ID, "short_run", {"fr": "les poids ont trop peu bougé pour que l'expérience dise où ils finissent",
                                "en": "the weights moved too little for the run to show where they end"},
              f"displacement < {SHORT}", displacement=c["displacement_end"][u]),
        claim(ID, "same_start_drifts", {"fr": "partis du même tirage, les poids s'écartent d'autant qu'ils bougent",
                                        "en": "from one draw, the weights drift apart about as much as they move"},
              "distance > 0.5 * displacement", distance=c["weight_distance_end"][s0],
              displacement=c["displacement_end"][s0]),
        claim(ID, "untied_learns", {"fr": "avec des poids distincts, le réseau fait mieux que le hasard",
                                    "en": "with separate weights, the network does better than chance"},
              f"accuracy > 0.5 + {SIGMAS} * se", accuracy=c["held_out_accuracy"][u], se=se),
        claim(ID, "accuracies_alike", {"fr": "les trois réglages : taux de réussite indiscernables ici",
                                       "en": "the three settings: accuracies indistinguishable here"},
              "max(tied, untied, same_start) - min(tied, untied, same_start) < 2 * sqrt(2) * se",
              tied=c["held_out_accuracy"][t], untied=c["held_out_accuracy"][u],
              same_start=c["held_out_accuracy"][s0], se=se),
    ]
    if c.get("permutation_output_change") is not None:
        found.append(claim(ID, "permutation", {"fr": "permuter les filtres change les poids mais pas la fonction",
                                               "en": "permuting the filters changes the weights but not the function"},
                           f"output_change < {SAME_FUNCTION} and weight_distance > 0.1", required=True,
                           output_change=c["permutation_output_change"],
                           weight_distance=c["permutation_weight_distance"]))
    return found
