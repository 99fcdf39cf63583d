"""Exercise 1, Q2: ∂L/∂w for the PReLU layer L5 and ∂L/∂a for its slopes, from derive.derivation's objects."""

from __future__ import annotations

import sympy as sp

from derive.prose import num
from derive.sheet.present import certified, present
from derive.sheet.units import Check, localised
from derive.symbolic import derivation, graph
from derive.symbolic.graph import label


def solve(inputs) -> dict:
    """The lower dense layer's derivation (separate and shared weights) and, when it has one, its PReLU's."""
    untied = derivation.derive(inputs.spec, "L5", shared=False)
    tied = derivation.derive(inputs.spec, "L5", shared=True)
    key = untied.key
    above = derivation.derive(inputs.spec, "L6", shared=False)
    u, t = present(untied, known=above.steps), present(tied)
    lower = next(layer for layer in inputs.spec.layers if layer.name == key)
    prelu = derivation.derive(inputs.spec, "prelu", shared=False) if lower.activation == "prelu" else None
    ctx = {"layer": key, "n": graph.prose_names(inputs.spec), "activation": lower.activation, "untied": u, "w": u["results"][f"{key}.W"],
           "b": u["results"][f"{key}.b"], "tw": t["results"][f"{key}.W"], "objects": {"untied": untied}}
    if prelu is not None:
        p = present(prelu, known=above.steps + untied.steps)
        ctx["a"] = p["results"][f"{key}.a"]
        ctx["objects"]["prelu"] = prelu
    names = [f"{key}.W", f"{key}.b", f"{key}'.W", f"{key}'.b", f"{key}.a", f"{key}'.a"]
    ctx["cert"] = certified(inputs.certificate(False), names)
    ctx["tcert"] = certified(inputs.certificate(True), [n for n in names if "'" not in n])
    return ctx


def check(ctx) -> list:
    """The activation's derivative appears as a factor, and the result vanishes outside the margin."""
    untied = ctx["objects"]["untied"]
    w = untied.results[0]
    # the lower layer's pre-activation as the graph names it: o5 for L5, oF1 for a layer named F1
    pre = next(name for name, (letter, lab, _) in untied.notation.items() if letter == "o" and lab == label(ctx["layer"]))
    pieces = [p for p in w.expr.atoms(sp.Piecewise) if any(f"{pre}[" in str(c) for _, c in p.args)]
    outside = next(c for c in w.cases if c.name == "different_outside_margin")
    checks = [Check({"fr": "certificat : formules de L5 (et de ses pentes) = différences finies, rétropropagation, autograd",
                     "en": "certificate: L5's formulas (and its slopes') = finite differences, backprop, autograd"},
                    ctx["cert"]["ok"] and ctx["tcert"]["ok"], localised(lambda lang: f"{num(ctx['cert']['checked'] + ctx['tcert']['checked'], lang)} " + {"fr": "coefficients", "en": "entries"}[lang])),
              Check({"fr": "le gradient de L5 est nul hors de la marge", "en": "L5's gradient is zero outside the margin"},
                    outside.expr == 0, "")]
    if ctx["activation"] == "prelu":
        checks.append(Check({"fr": "la dérivée de la PReLU (1 ou a) est un facteur du gradient de L5",
                             "en": "the PReLU derivative (1 or a) is a factor of L5's gradient"}, len(pieces) == 1))
    return checks
