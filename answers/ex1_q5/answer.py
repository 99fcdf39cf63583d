"""Exercise 1, Q5: what each term of the loss does, from the "loss" experiment's measurements."""

from __future__ import annotations

import math

from derive.prose import fixed
from derive.sheet.units import Check, localised


def solve(inputs) -> dict:
    """The loss experiment's conclusion and its figure."""
    run = inputs.experiment("loss")
    return {"c": run.conclusion, "figs": inputs.experiment_figures("loss")}


def check(ctx) -> list:
    """The engine's loss matches its closed form, the hinge stops at D = 1, pair shares match theory."""
    c = ctx["c"]
    return [
        Check({"fr": "perte et gradient du moteur = formules analytiques (paires placées à des distances choisies)",
               "en": "the engine's loss and gradient = closed forms (pairs placed at chosen distances)"},
              c["max_error_vs_closed_form"] < 1e-12, localised(lambda lang: f"max |Δ| = {fixed(c['max_error_vs_closed_form'], '.1e', lang)}")),
        Check({"fr": "la charnière cesse d'agir en D = 1, soit une distance euclidienne de √2",
               "en": "the hinge stops acting at D = 1, a Euclidean distance of √2"},
              abs(c["hinge_stop_D"] - 1) < 1e-6 and abs(c["hinge_stop_distance"] - math.sqrt(2)) < 1e-6,
              localised(lambda lang: f"D = {fixed(c['hinge_stop_D'], '.6f', lang)}")),
        Check({"fr": "part des paires de même étiquette ≈ somme des carrés des fréquences des classes",
               "en": "share of same-label pairs ≈ sum of squared class frequencies"},
              abs(c["same_label_share"] - c["same_label_share_theory"]) < 0.01,
              localised(lambda lang: f"{fixed(c['same_label_share'], '.4f', lang)} " + {"fr": "contre", "en": "vs"}[lang]
                        + f" {fixed(c['same_label_share_theory'], '.4f', lang)}")),
    ]
