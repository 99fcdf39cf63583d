"""Exercise 1, Q7: ∂L_reg/∂w for the KL sparsity penalty on L6, both readings, from derive.derivation's objects."""

from __future__ import annotations

import sympy as sp

from derive.prose import num
from derive.sheet.present import certified, present
from derive.sheet.units import Check, localised
from derive.symbolic import derivation, graph


def solve(inputs) -> dict:
    """The KL derivation: definitions, local derivatives, and the weight's gradient under each reading."""
    d = derivation.derive(inputs.spec, "kl")
    p = present(d)
    key = d.results[0].param.split(".")[0]
    return {"layer": key, "n": graph.prose_names(inputs.spec), "kl": p, "lit": p["results"][f"{key}.W/literal"], "sig": p["results"][f"{key}.W/sigmoid"],
            "objects": d, "report": inputs.certificate(False)["kl"], "sp": _sparsity(inputs),
            "cert": certified(inputs.certificate(False), [f"{key}.{p_} (KL, {r})" for p_ in ("W", "b")
                                                          for r in ("literal", "sigmoid")])}


def check(ctx) -> list:
    """The literal reading carries its domain (0 < ρ̂ < 1), the sigmoid one none; at ρ = ρ̂ the gradient is 0."""
    d = ctx["objects"]
    lit = next(r for r in d.results if r.reading == "literal" and r.param.endswith(".W"))
    sig = next(r for r in d.results if r.reading == "sigmoid" and r.param.endswith(".W"))
    rho = next(s for s in lit.expr.free_symbols if s.name == "rho")
    rhohat = next(a for a in lit.expr.atoms(sp.Indexed) if a.base.label.name == "rhohat")
    at_target = [sp.simplify(r.expr.subs(rhohat, rho)) for r in (lit, sig)]
    return [
        Check({"fr": "certificat : gradients de la pénalité (deux lectures) = différences finies, rétropropagation",
               "en": "certificate: the penalty's gradients (both readings) = finite differences, backprop"},
              ctx["cert"]["ok"], localised(lambda lang: f"{num(ctx['cert']['checked'], lang)} " + {"fr": "coefficients", "en": "entries"}[lang])),
        Check({"fr": "lecture littérale : gradient défini seulement sur un domaine ; lecture sigmoïde : partout",
               "en": "literal reading: gradient defined only on a domain; sigmoid reading: everywhere"},
              lit.condition != sp.true and sig.condition == sp.true),
        Check({"fr": r"le gradient de la pénalité s'annule quand $\hat\rho_g$ atteint la cible $\rho$",
               "en": r"the penalty's gradient vanishes when $\hat\rho_g$ reaches the target $\rho$"},
              all(e == 0 for e in at_target), ""),
    ]


def _sparsity(inputs) -> dict:
    """The "sparsity" experiment's shares of batches whose ρ̂ leaves (0, 1), first and last checkpoint."""
    c = inputs.experiment("sparsity").conclusion
    steps = sorted(c["literal_undefined_batch_share"], key=int)
    first, last = steps[0], steps[-1]
    return {"c": c, "first": int(first), "last": int(last),
            "literal_first": c["literal_undefined_batch_share"][first],
            "literal_last": c["literal_undefined_batch_share"][last],
            "sigmoid_max": max(c["sigmoid_undefined_batch_share"].values())}
