"""Exercise 1, Q5: what each term of the loss does; the "loss" experiment's measurements for the teacher."""

from __future__ import annotations

from derive.sheet.units import claim

ID = "ex1.q5"
EXACT = 1e-12  # the engine's loss and gradient against their closed forms, in float64


def solve(inputs) -> dict:
    """The loss experiment's conclusion and its figure."""
    return {"c": inputs.experiment("loss").conclusion, "figs": inputs.experiment_figures("loss")}


def claims(ctx) -> list:
    """The loss and its gradient are the closed forms; the hinge stops at D = 1; coinciding embeddings stall."""
    c = ctx["c"]
    return [
        claim(ID, "closed_forms", {"fr": "perte et gradient calculés = formules analytiques, pour des paires placées à des distances choisies",
                                   "en": "computed loss and gradient = closed forms, for pairs placed at chosen distances"},
              f"max_error < {EXACT}", required=True, max_error=c["max_error_vs_closed_form"]),
        claim(ID, "margin", {"fr": "la charnière cesse d'agir en D = 1, soit une distance euclidienne de $\\sqrt 2$",
                             "en": "the hinge stops acting at D = 1, a Euclidean distance of $\\sqrt 2$"},
              "abs(stop_D - 1) < 1e-6 and abs(stop_distance - sqrt(2)) < 1e-6", required=True,
              stop_D=c["hinge_stop_D"], stop_distance=c["hinge_stop_distance"]),
        claim(ID, "coincide", {"fr": "deux plongements confondus d'étiquettes différentes ne reçoivent aucun gradient",
                               "en": "two coinciding embeddings of different labels get no gradient"},
              "grad_norm == 0 and collapsed_max_grad == 0 and curvature < 0", required=True,
              grad_norm=c["grad_norm_coincide_l1"], collapsed_max_grad=c["collapsed_network_max_grad"],
              curvature=c["curvature_coincide_l1"]),
        claim(ID, "same_label_share", {"fr": "part des paires de même étiquette = somme des carrés des fréquences des classes",
                                       "en": "share of same-label pairs = sum of the squared class frequencies"},
              "abs(measured - theory) < 0.01", required=True, measured=c["same_label_share"],
              theory=c["same_label_share_theory"]),
    ]
