"""Exercise 1, Q4: what becomes of L2 and L'2, from the "branches" experiment (untied, tied, same start)."""

from __future__ import annotations

import math

from derive.prose import fixed
from derive.sheet.units import Check, localised

RUNS = ("untied_independent", "tied", "untied_same_init", "untied_recipe_rate")
# Rows of the sheet's table, in order (conclusion keys).
ROWS = ("weight_distance_start", "weight_distance_end", "aligned_weight_distance_end", "displacement_end",
        "matched_correlation_start", "matched_correlation_end", "top_correlation_end",
        "self_D_over_different_D_start", "self_D_over_different_D_end", "auc_end", "held_out_accuracy")
LABELS = {
    "weight_distance_start": {"fr": "distance relative des poids, au départ", "en": "relative weight distance, at the start"},
    "weight_distance_end": {"fr": "distance relative des poids, à la fin", "en": "relative weight distance, at the end"},
    "aligned_weight_distance_end": {"fr": "la même, après appariement des filtres", "en": "the same, filters matched"},
    "displacement_end": {"fr": "déplacement relatif des poids depuis le départ",
                         "en": "relative displacement of the weights since the start"},
    "matched_correlation_start": {"fr": "corrélation des filtres appariés, au départ",
                                  "en": "correlation of matched filters, at the start"},
    "matched_correlation_end": {"fr": "corrélation des filtres appariés, à la fin",
                                "en": "correlation of matched filters, at the end"},
    "top_correlation_end": {"fr": "corrélation des sorties appariées ({top}), à la fin",
                            "en": "correlation of matched outputs ({top}), at the end"},
    "self_D_over_different_D_start": {"fr": "$D(x, x)$ / $D$ moyen entre classes différentes, au départ",
                                      "en": "$D(x, x)$ / mean $D$ of different classes, at the start"},
    "self_D_over_different_D_end": {"fr": "$D(x, x)$ / $D$ moyen entre classes différentes, à la fin",
                                    "en": "$D(x, x)$ / mean $D$ of different classes, at the end"},
    "auc_end": {"fr": "AUC de vérification au test, à la fin", "en": "verification AUC on held-out pairs, at the end"},
    "held_out_accuracy": {"fr": "taux de réussite en vérification au test", "en": "verification accuracy on held-out pairs"},
}
SAME_FUNCTION = 1e-5  # a permutation of filters changes the output by (float32) rounding only
SIGMAS = 3  # "above chance": accuracy more than 3 binomial standard errors above 1/2 on the balanced test pairs
FAR = 0.5  # the weights "do not get closer" when the end distance is above this share of the start distance
SMALL_MOVE = 0.25  # training "moves the weights little" when the displacement is below this share of their distance
RISE = 0.1  # a matched correlation "rises" when it gains more than this
CLOSER = 0.8  # the functions "get closer" when D(x, x)/D(different) ends below this share of its start
COLLAPSE = 0.2  # the outputs "collapse" when their spread falls below this share of its start
OFFSET = 0.5  # the constant offset "makes most of" D(x, x) above this share


def chance_line(pairs: int) -> float:
    """The accuracy above which a verification on ``pairs`` balanced pairs is clearly better than a coin."""
    return 0.5 + SIGMAS * math.sqrt(0.25 / pairs)


def solve(inputs) -> dict:
    """The experiment's numbers and the conclusions they support."""
    c = inputs.experiment("branches").conclusion
    u, t, s0, fast = RUNS
    line = chance_line(c["eval_pairs"])
    learned = {r: c["held_out_accuracy"][r] > line for r in RUNS}
    labels = {k: {lang: text.format(top=c["top_layer"]) for lang, text in v.items()} for k, v in LABELS.items()}
    return {
        "c": c, "runs": RUNS, "labels": labels, "rows": ROWS, "figs": inputs.experiment_figures("branches"),
        "chance_line": line, "learned": learned,
        "far": c["weight_distance_end"][u] > FAR * c["weight_distance_start"][u],
        "near_sqrt2": abs(c["weight_distance_start"][u] - math.sqrt(2)) < 0.1,
        "aligned_far": (c["aligned_weight_distance_end"][u] or 0) > FAR * c["weight_distance_start"][u],
        "small_move": c["displacement_end"][u] < SMALL_MOVE * c["weight_distance_end"][u],
        "filters_rise": c["matched_correlation_end"][u] > c["matched_correlation_start"][u] + RISE,
        "top_rise": c["top_correlation_end"][u] > c["top_correlation_start"][u] + RISE,
        "closer": c["self_D_over_different_D_end"][u] < CLOSER * c["self_D_over_different_D_start"][u],
        "same_drifts": c["weight_distance_end"][s0] > 0,
        "same_closer": c["self_D_over_different_D_end"][s0] < c["self_D_over_different_D_end"][u],
        "tied_faster": c["auc_mean"][t] > c["auc_mean"][u],
        "collapsed": c["spread_min"][fast] < COLLAPSE * c["spread_start"][fast],
        "stays_collapsed": c["spread_end"][fast] < COLLAPSE * c["spread_start"][fast],
        "offset_dominates": c["offset_share_end"][fast] > OFFSET,
        "rate_helps": learned[u] and not learned[fast],
    }


def check(ctx) -> list:
    """Tied branches stay identical; a permutation of filters keeps the function and moves the weights."""
    c = ctx["c"]
    t = "tied"
    tied_zero = all(c[k][t] == 0 for k in ("weight_distance_start", "weight_distance_end", "self_D_start", "self_D_end"))
    checks = [Check({"fr": "témoin : avec des poids partagés, distance des poids et $D(x, x)$ restent nuls",
                     "en": "control: with shared weights, the weight distance and $D(x, x)$ stay zero"}, tied_zero)]
    if c.get("permutation_output_change") is not None:
        checks.append(Check({"fr": "permuter les filtres change les poids mais pas la sortie du réseau",
                             "en": "permuting the filters changes the weights but not the network's output"},
                            c["permutation_output_change"] < SAME_FUNCTION and c["permutation_weight_distance"] > 0.1,
                            localised(lambda lang: {"fr": "poids éloignés de {}, sortie modifiée de {}", "en": "weights moved by {}, output by {}"}[lang]
                                      .format(fixed(c['permutation_weight_distance'], '.2f', lang),
                                              fixed(c['permutation_output_change'], '.1e', lang)))))
    return checks
