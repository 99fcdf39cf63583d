"""Exercise 1, Q7: ∂L_reg/∂w for the KL sparsity penalty on L6, in both readings, and the update."""

from __future__ import annotations

import sympy as sp

from derive.sheet.present import certified, present
from derive.sheet.units import claim
from derive.symbolic import derivation, graph, printing

ID = "ex1.q7"


def solve(inputs) -> dict:
    """The KL derivation: one display per reading, the weight's gradient in each, the penalty's derivative."""
    d = derivation.derive(inputs.spec, "kl")
    p = present(d)
    key = d.results[0].param.split(".")[0]
    step = next(s for s in d.steps if isinstance(s.lhs, sp.Derivative) and s.lhs.expr.name == "R")
    r_hat = step.lhs.variables[0]
    rho = next(x for x in step.rhs.free_symbols if x.name == "rho")
    beta = next(x for x in step.rhs.free_symbols if x.name == "beta")
    # the derivative over one denominator, as a teacher writes it; a claim checks it equals the derived step
    together = beta * (r_hat - rho) / (r_hat * (1 - r_hat))
    return {"layer": key, "n": graph.prose_names(inputs.spec), "kl": p,
            "lit": p["results"][f"{key}.W/literal"], "sig": p["results"][f"{key}.W/sigmoid"],
            "dkl": {lang: {"lhs": printing.latex(step.lhs, d.notation, lang),
                           "rhs": printing.latex(step.rhs, d.notation, lang),
                           "together": printing.latex(together, d.notation, lang),
                           "rho_hat": printing.latex(r_hat, d.notation, lang)} for lang in ("fr", "en")},
            "objects": {"d": d, "step": step, "together": together, "rho": rho},
            "report": inputs.certificate(False)["kl"], "sp": _sparsity(inputs),
            "cert": certified(inputs.certificate(False), [f"{key}.{p_} (KL, {r})" for p_ in ("W", "b")
                                                          for r in ("literal", "sigmoid")])}


def claims(ctx) -> list:
    """Certified; the literal reading has a domain, the sigmoid one none; the gradient is 0 at the target."""
    d, step, together, rho = (ctx["objects"][k] for k in ("d", "step", "together", "rho"))
    lit = next(r for r in d.results if r.reading == "literal" and r.param.endswith(".W"))
    sig = next(r for r in d.results if r.reading == "sigmoid" and r.param.endswith(".W"))
    rhohat = next(a for a in lit.expr.atoms(sp.Indexed) if a.base.label.name == "rhohat")
    at_target = [sp.simplify(r.expr.subs(rhohat, rho)) for r in (lit, sig)]
    s = ctx["sp"]
    return [
        claim(ID, "certified", {"fr": "les gradients de la pénalité (deux lectures) sont certifiés",
                                "en": "the penalty's gradients (both readings) are certified"},
              "ok and entries > 0", required=True, ok=ctx["cert"]["ok"], entries=ctx["cert"]["checked"]),
        claim(ID, "domain", {"fr": "lecture littérale : gradient défini seulement sur un domaine ; lecture sigmoïde : partout",
                             "en": "literal reading: gradient defined only on a domain; sigmoid reading: everywhere"},
              "literal_has_domain and not sigmoid_has_domain", required=True,
              literal_has_domain=lit.condition != sp.true, sigmoid_has_domain=sig.condition != sp.true),
        claim(ID, "zero_at_target", {"fr": r"le gradient de la pénalité s'annule quand $\hat\rho_g = \rho$",
                                     "en": r"the penalty's gradient vanishes when $\hat\rho_g = \rho$"},
              "both_zero", required=True, both_zero=all(e == 0 for e in at_target)),
        claim(ID, "one_fraction", {"fr": "la dérivée de la pénalité s'écrit $\\beta (\\hat\\rho - \\rho) / (\\hat\\rho (1 - \\hat\\rho))$",
                                   "en": "the penalty's derivative reads $\\beta (\\hat\\rho - \\rho) / (\\hat\\rho (1 - \\hat\\rho))$"},
              "difference_is_zero", required=True, difference_is_zero=sp.simplify(together - step.rhs) == 0),
        claim(ID, "literal_undefined", {"fr": "à l'initialisation, une part notable des neurones a une moyenne hors de ]0, 1[",
                                        "en": "at initialisation, a notable share of the units has a mean outside (0, 1)"},
              "share_outside > 0.2", share_outside=s["units_first"]),
        claim(ID, "sigmoid_defined", {"fr": "la lecture sigmoïde reste définie sur tous les lots",
                                      "en": "the sigmoid reading stays defined on every batch"},
              "sigmoid_share == 0 and sigmoid_trains", sigmoid_share=s["sigmoid_max"],
              sigmoid_trains=s["c"]["sigmoid_training_completed"]),
    ]


def _sparsity(inputs) -> dict:
    """The "sparsity" experiment's shares of batches and units whose ρ̂ leaves (0, 1), first and last checkpoint."""
    c = inputs.experiment("sparsity").conclusion
    steps = sorted(c["literal_undefined_batch_share"], key=int)
    first, last = steps[0], steps[-1]
    return {"c": c, "first": int(first), "last": int(last),
            "batches_first": c["literal_undefined_batch_share"][first],
            "units_first": c["literal_unit_share_outside"][first],
            "units_last": c["literal_unit_share_outside"][last],
            "sigmoid_max": max(c["sigmoid_undefined_batch_share"].values())}
