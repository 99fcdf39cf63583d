"""Exercise 1, Q6: what dropout on the two top layers does to D, from the "dropout" experiment."""

from __future__ import annotations

from derive.prose import fixed, num
from derive.sheet.units import Check, localised

Z_LIMIT = 4.0  # a Monte Carlo mean more than 4 standard errors from the closed form would refute it


def solve(inputs) -> dict:
    """The experiment's closed form and Monte Carlo means of D, and the trained runs' figures."""
    c = inputs.experiment("dropout").conclusion
    norms, acc = c["embedding_sq_norm"], c["held_out_accuracy"]
    with_dropout = [k for k in norms if k != "none"]
    return {
        "c": c, "figs": inputs.experiment_figures("dropout"),
        "shrinks": all(norms[k] < norms["none"] for k in with_dropout),
        "hurts": all(acc[k] < acc["none"] for k in with_dropout),
        "worst": min(with_dropout, key=lambda k: acc[k]),
        "upper": c["layers"][-1], "lower": c["layers"][0],
    }


def check(ctx) -> list:
    """The closed form of E[D] under dropout agrees with the Monte Carlo mean over masks."""
    c = ctx["c"]
    return [Check({"fr": "espérance de $D$ sous dropout : formule analytique = moyenne de Monte-Carlo sur les masques",
                   "en": "expected $D$ under dropout: closed form = Monte Carlo mean over masks"},
                  c["max_z_score"] < Z_LIMIT, localised(lambda lang: f"z ≤ {fixed(c['max_z_score'], '.2f', lang)}"
                            + {"fr": " ; {} tirages", "en": ", {} draws"}[lang].format(num(c['mc_draws'], lang))))]
