"""Exercise 1, Q2: ∂L/∂w for the PReLU layer L5 and ∂L/∂a for its slopes, with the named factors δ, Δ and f′."""

from __future__ import annotations

from derive.sheet.present import certified, present
from derive.sheet.units import claim
from derive.symbolic import derivation, factors, graph

ID = "ex1.q2"


def solve(inputs) -> dict:
    """The lower dense layer's derivation (separate and shared weights) and, when it has one, its PReLU's."""
    untied = derivation.derive(inputs.spec, "L5", shared=False)
    tied = derivation.derive(inputs.spec, "L5", shared=True)
    key = untied.key
    u, t = present(untied), present(tied)
    lower = next(layer for layer in inputs.spec.layers if layer.name == key)
    ctx = {"layer": key, "n": graph.prose_names(inputs.spec), "activation": lower.activation, "untied": u,
           "w": u["results"][f"{key}.W"], "b": u["results"][f"{key}.b"], "wp": u["results"][f"{key}'.W"],
           "tw": t["results"][f"{key}.W"], "objects": {"untied": untied, "tied": tied}}
    if lower.activation == "prelu":
        prelu = derivation.derive(inputs.spec, "prelu", shared=False)
        ctx["a"] = present(prelu)["results"][f"{key}.a"]
        ctx["objects"]["prelu"] = prelu
    names = [f"{key}.W", f"{key}.b", f"{key}'.W", f"{key}'.b", f"{key}.a", f"{key}'.a"]
    ctx["cert"] = certified(inputs.certificate(False), names)
    ctx["tcert"] = certified(inputs.certificate(True), [n for n in names if "'" not in n])
    return ctx


def claims(ctx) -> list:
    """Certified; zero outside the margin; the activation's derivative a factor; δ, Δ, f′ give the result back."""
    objects = ctx["objects"]
    w = objects["untied"].results[0]
    outside = next(c for c in w.cases if c.name == "different_outside_margin")
    derivative = factors.derivative_rows(w.expr)
    found = [
        claim(ID, "certified", {"fr": "les formules de L5 (et de ses pentes) sont certifiées",
                                "en": "L5's formulas (and its slopes') are certified"},
              "separate_ok and shared_ok and entries > 0", required=True, separate_ok=ctx["cert"]["ok"],
              shared_ok=ctx["tcert"]["ok"], entries=ctx["cert"]["checked"] + ctx["tcert"]["checked"]),
        claim(ID, "zero_outside", {"fr": "le gradient de L5 est nul hors de la marge",
                                   "en": "L5's gradient is zero outside the margin"},
              "outside_is_zero", required=True, outside_is_zero=outside.expr == 0),
        claim(ID, "named_factors", {"fr": "écrits avec $\\delta$, $\\Delta$ et $f'$, les gradients redonnent exactement l'expression dérivée",
                                    "en": "written with $\\delta$, $\\Delta$ and $f'$, the gradients give back exactly the derived expression"},
              "problems == 0", required=True,
              problems=sum(len(factors.check(d)) for d in objects.values())),
    ]
    if ctx["activation"] in ("prelu", "relu"):
        found.append(claim(ID, "activation_factor",
                           {"fr": "la dérivée de l'activation (1 ou la pente) est un facteur du gradient",
                            "en": "the activation's derivative (1 or the slope) is a factor of the gradient"},
                           "derivative_factors == 1", required=True, derivative_factors=len(derivative)))
    return found
