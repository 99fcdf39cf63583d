"""Exercise 1, Q1: ∂L/∂w for the output layer, separate and shared weights, with the named factors δ and Δ."""

from __future__ import annotations

import sympy as sp

from derive.sheet.present import certified, present
from derive.sheet.units import claim
from derive.symbolic import derivation, factors, graph

ID = "ex1.q1"


def solve(inputs) -> dict:
    """The upper dense layer's derivation for separate and for shared weights, and the certificate's figures."""
    untied = derivation.derive(inputs.spec, "L6", shared=False)
    tied = derivation.derive(inputs.spec, "L6", shared=True)
    key = untied.key
    u, t = present(untied), present(tied)
    return {
        "n": graph.prose_names(inputs.spec), "layer": key, "untied": u, "tied": t,
        "w": u["results"][f"{key}.W"], "b": u["results"][f"{key}.b"], "wp": u["results"][f"{key}'.W"],
        "tw": t["results"][f"{key}.W"], "tb": t["results"][f"{key}.b"],
        "objects": {"untied": untied, "tied": tied},
        "cert": certified(inputs.certificate(False), [f"{key}.W", f"{key}.b", f"{key}'.W", f"{key}'.b"]),
        "tcert": certified(inputs.certificate(True), [f"{key}.W", f"{key}.b"]),
    }


def claims(ctx) -> list:
    """The formulas are certified; three hinge cases, one zero; tied = sum of both branches; δ, Δ give it back."""
    untied, tied = ctx["objects"]["untied"], ctx["objects"]["tied"]
    key = ctx["layer"]
    w = next(x for x in untied.results if x.param == f"{key}.W")
    wp = next(x for x in untied.results if x.param == f"{key}'.W")
    tw = next(x for x in tied.results if x.param == f"{key}.W")
    tb = next(x for x in tied.results if x.param == f"{key}.b")
    # Under tying, the primed branch's parameters (weights, biases, PReLU slopes) are the first branch's:
    # rename them all, then add the contributions.
    gap = sp.simplify(tw.expr - (w.expr + wp.expr.xreplace(graph.tying(wp.graph))))
    cert, tcert = ctx["cert"], ctx["tcert"]
    return [
        claim(ID, "certified", {"fr": "les formules de la couche de sortie sont certifiées",
                                "en": "the output layer's formulas are certified"},
              "separate_ok and shared_ok and entries > 0", required=True, separate_ok=cert["ok"],
              shared_ok=tcert["ok"], entries=cert["checked"] + tcert["checked"],
              largest_gap=max(cert["max_rel_error"], tcert["max_rel_error"])),
        claim(ID, "three_cases", {"fr": "la charnière donne trois cas, nul seulement hors de la marge",
                                  "en": "the hinge gives three cases, zero only outside the margin"},
              "cases == 3 and zero_cases == 1 and zero_outside", required=True, cases=len(w.cases),
              zero_cases=sum(c.expr == 0 for c in w.cases),
              zero_outside=any(c.expr == 0 and c.name == "different_outside_margin" for c in w.cases)),
        claim(ID, "tied_is_sum", {"fr": "poids partagés : le gradient est la somme des contributions des deux branches",
                                  "en": "shared weights: the gradient is the sum of both branches' contributions"},
              "difference_is_zero", required=True, difference_is_zero=gap == 0),
        claim(ID, "named_factors", {"fr": "écrits avec $\\delta$ et $\\Delta$, les gradients redonnent exactement l'expression dérivée",
                                    "en": "written with $\\delta$ and $\\Delta$, the gradients give back exactly the derived expression"},
              "problems == 0", required=True, problems=len(factors.check(untied)) + len(factors.check(tied))),
        claim(ID, "tied_bias_zero", {"fr": "le biais partagé de la couche de sortie a un gradient nul",
                                     "en": "the shared bias of the output layer has a zero gradient"},
              "bias_gradient_is_zero", bias_gradient_is_zero=tb.expr == 0),
    ]
