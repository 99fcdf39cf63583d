"""Exercise 1, Q1: ∂L/∂w for the output layer, untied and tied, from derive.derivation's objects."""

from __future__ import annotations

from derive.prose import num
from derive.sheet.present import certified, present
from derive.sheet.units import Check, localised
from derive.symbolic import derivation, graph


def solve(inputs) -> dict:
    """The upper dense layer's derivation for separate and for shared branch weights."""
    untied = derivation.derive(inputs.spec, "L6", shared=False)
    tied = derivation.derive(inputs.spec, "L6", shared=True)
    key = untied.key
    u, t = present(untied), present(tied)
    return {
        "n": graph.prose_names(inputs.spec),
        "layer": key, "untied": u, "tied": t,
        "w": u["results"][f"{key}.W"], "b": u["results"][f"{key}.b"], "wp": u["results"][f"{key}'.W"],
        "tw": t["results"][f"{key}.W"], "tb": t["results"][f"{key}.b"],
        "objects": {"untied": untied, "tied": tied},
        "cert": certified(inputs.certificate(False), [f"{key}.W", f"{key}.b", f"{key}'.W", f"{key}'.b"]),
        "tcert": certified(inputs.certificate(True), [f"{key}.W", f"{key}.b"]),
    }


def check(ctx) -> list:
    """The hinge splits the result into three cases, one of them zero; tied = sum of the two branches."""
    import sympy as sp

    untied, tied = ctx["objects"]["untied"].results, ctx["objects"]["tied"].results
    key = ctx["layer"]
    w = next(x for x in untied if x.param == f"{key}.W")
    wp = next(x for x in untied if x.param == f"{key}'.W")
    tw = next(x for x in tied if x.param == f"{key}.W")
    zero = [c.name for c in w.cases if c.expr == 0]
    # Under tying, the primed branch's weight is the same symbol: rename it, then add the contributions.
    same = {wp.lhs.variables[0].base: w.lhs.variables[0].base}
    gap = sp.simplify(tw.expr - (w.expr + wp.expr.subs(same)))
    return [
        Check({"fr": "certificat : formules de la couche de sortie = différences finies, rétropropagation, autograd",
               "en": "certificate: the output layer's formulas = finite differences, backprop, autograd"},
              ctx["cert"]["ok"] and ctx["tcert"]["ok"],
              localised(lambda lang: f"{num(ctx['cert']['checked'] + ctx['tcert']['checked'], lang)} " + {"fr": "coefficients", "en": "entries"}[lang])),
        Check({"fr": "trois cas de la charnière, nul seulement hors de la marge",
               "en": "three hinge cases, zero only outside the margin"},
              len(w.cases) == 3 and zero == ["different_outside_margin"]),
        Check({"fr": "poids partagés : gradient = somme des contributions des deux branches (SymPy)",
               "en": "shared weights: gradient = sum of both branches' contributions (SymPy)"}, gap == 0),
    ]
