"""Exercise 1, Q4: what becomes of L2 and L'2, from the "branches" experiment (untied, tied, same start)."""

from __future__ import annotations

import math

from derive.answers import Check

RUNS = ("untied_independent", "tied", "untied_same_init")
# Rows of the sheet's table: (conclusion key, phase or None).
ROWS = (("weight_distance_start", None), ("weight_distance_end", None), ("aligned_weight_distance_end", None),
        ("displacement_end", None),
        ("matched_correlation_end", None), ("embedding_gap_start", None), ("embedding_gap_end", None),
        ("held_out_accuracy", None))
LABELS = {
    "weight_distance_start": {"fr": "distance relative des poids, au départ", "en": "relative weight distance, at the start"},
    "weight_distance_end": {"fr": "distance relative des poids, à la fin", "en": "relative weight distance, at the end"},
    "aligned_weight_distance_end": {"fr": "la même, filtres appariés", "en": "the same, filters matched"},
    "displacement_end": {"fr": "déplacement relatif des poids depuis le départ",
                         "en": "relative displacement of the weights since the start"},
    "matched_correlation_end": {"fr": "corrélation des filtres appariés, à la fin",
                                "en": "correlation of matched filters, at the end"},
    "embedding_gap_start": {"fr": "écart relatif des plongements, au départ",
                            "en": "relative gap between embeddings, at the start"},
    "embedding_gap_end": {"fr": "écart relatif des plongements, à la fin",
                          "en": "relative gap between embeddings, at the end"},
    "held_out_accuracy": {"fr": "précision de vérification au test", "en": "verification accuracy on held-out pairs"},
}
SAME_FUNCTION = 1e-5  # a permutation of filters changes the output by (float32) rounding only
FAR = 0.5  # the weights "do not get closer" when the end distance is above this share of the start distance
CHANCE = 0.55  # verification accuracy below this on balanced pairs is no better than a coin
CLOSER = 0.8  # the functions "get closer" when the embedding gap ends below this share of its start


def solve(inputs) -> dict:
    """The experiment's numbers and the conclusions they support."""
    c = inputs.experiment("branches").conclusion
    u, s0 = "untied_independent", "untied_same_init"
    start, end = c["weight_distance_start"][u], c["weight_distance_end"][u]
    return {
        "c": c, "runs": RUNS, "labels": LABELS, "rows": [k for k, _ in ROWS], "figs": inputs.experiment_figures("branches"),
        "far": end > FAR * start, "near_sqrt2": abs(start - math.sqrt(2)) < 0.1,
        "gap_down": c["embedding_gap_end"][u] < CLOSER * c["embedding_gap_start"][u],
        "same_drifts": c["weight_distance_end"][s0] > 0,
        "tied_better": c["held_out_accuracy"]["tied"] > c["held_out_accuracy"][u],
        "untied_chance": c["held_out_accuracy"][u] < CHANCE,
    }


def check(ctx) -> list:
    """Tied branches stay identical: zero weight distance and zero embedding gap throughout."""
    c = ctx["c"]
    tied_zero = all(c[k]["tied"] == 0 for k in ("weight_distance_start", "weight_distance_end", "embedding_gap_end"))
    checks = [Check({"fr": "témoin : avec des poids partagés, distance et écart restent nuls",
                     "en": "control: with shared weights, distance and gap stay zero"}, tied_zero)]
    if c.get("permutation_output_change") is not None:
        checks.append(Check({"fr": "permuter les filtres change les poids mais pas la sortie du réseau",
                             "en": "permuting the filters changes the weights but not the network's output"},
                            c["permutation_output_change"] < SAME_FUNCTION and c["permutation_weight_distance"] > 0.1,
                            f"{c['permutation_weight_distance']:.2f}, {c['permutation_output_change']:.1e}"))
    return checks
