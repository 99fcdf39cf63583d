"""What the gradient questions (Ex. 1 Q1, Q2, Q7) show of a derivation: its SymPy objects printed as LaTeX.

Nothing here writes a formula: every string is printed from an object of derive.derivation, the
same objects that derive.certificate evaluates on tensors.
"""

from __future__ import annotations

import sympy as sp

from derive.sheet.units import LANGS
from derive.symbolic import derivation, factors, printing

CASE_LABELS = {
    "same": {"fr": "même étiquette", "en": "same label"},
    "different_inside_margin": {"fr": "étiquettes différentes, dans la marge",
                                "en": "different labels, inside the margin"},
    "different_outside_margin": {"fr": "étiquettes différentes, hors de la marge",
                                 "en": "different labels, outside the margin"},
    "rho": {"fr": "cible de l'énoncé", "en": "the exam's target"},
}
ALPHA = sp.Symbol("alpha")
# Beyond this many characters of one-line text, a product is shown over several lines (factor groups).
WIDTH = 75


def display(lhs, expr, notation, lang: str) -> str:
    """``lhs = expr`` for a display block; a long product is split between its factors over aligned lines."""
    left = printing.latex(lhs, notation, lang)
    coeff, factors = expr.as_coeff_mul()
    if (not expr.is_Mul or len(printing.text(expr, notation, lang)) <= WIDTH
            or any(f.is_Pow and f.exp.is_negative for f in factors)):
        return f"{left} = {printing.latex(expr, notation, lang)}"
    groups, current = [], []
    for f in factors:
        if current and len(printing.text(sp.Mul(*current, f, evaluate=False), notation, lang)) > WIDTH:
            groups.append(current)
            current = []
        current.append(f)
    groups.append(current)
    sign = "- " if coeff == -1 else ("" if coeff == 1 else printing.latex(coeff, notation, lang) + r" \, ")
    rows = [" ".join(_factor(f, notation, lang) for f in g) for g in groups]
    body = r" \\ &\qquad \cdot ".join(rows)
    return rf"\begin{{aligned}} {left} &= {sign}{body} \end{{aligned}}"


def _factor(f, notation, lang: str) -> str:
    """One factor of a product, bracketed when it is a sum (as the printer does inside a product)."""
    tex = printing.latex(f, notation, lang)
    return rf"\left({tex}\right)" if f.is_Add else tex


def aligned(pairs, notation, lang: str) -> str:
    """Equations ``lhs = rhs`` as the rows of one aligned block."""
    rows = [f"{printing.latex(a, notation, lang)} &= {printing.latex(b, notation, lang)}" for a, b in pairs]
    return r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}"


def _between(condition, tex) -> str:
    """A condition printed as LaTeX, with ``x > a and x < b`` written ``a < x < b``."""
    if isinstance(condition, sp.And) and len(condition.args) == 2:
        bounds = {}
        for rel in condition.args:
            if isinstance(rel, sp.StrictGreaterThan):
                bounds["low"] = (rel.lhs, rel.rhs)
            elif isinstance(rel, sp.StrictLessThan):
                bounds["high"] = (rel.lhs, rel.rhs)
        if len(bounds) == 2 and bounds["low"][0] == bounds["high"][0]:
            (var, low), (_, high) = bounds["low"], bounds["high"]
            return f"{tex(low)} < {tex(var)} < {tex(high)}"
    return tex(condition)


def result(r, notation, named=None) -> dict:
    """One result printed in both languages: lhs, chain rule, value (also with the named factors), cases, update."""
    out = {"param": r.param, "reading": r.reading, "zero": r.expr == 0, "conditional": r.condition != sp.true}
    short = (lambda e: e) if named is None else named.compact
    (var, _), = r.lhs.variable_count
    for lang in LANGS:
        def tex(e, lang=lang):
            return printing.latex(e, notation, lang)

        by_case = sp.Piecewise(*[(short(c.expr), c.condition) for c in r.cases], evaluate=False) if r.cases else None
        out[lang] = {
            "by_case": None if by_case is None else f"{tex(r.lhs)} = {tex(by_case)}",
            "lhs": tex(r.lhs), "chain": tex(r.chain), "expr": tex(r.expr), "var": tex(var),
            "eq": display(r.lhs, r.expr, notation, lang),
            "compact": display(r.lhs, short(r.expr), notation, lang), "compact_expr": tex(short(r.expr)),
            # The update rule is the same for every parameter: w <- w - alpha dL/dw, printed around the derivative.
            "rule": f"{tex(var)} \\leftarrow {tex(var)} - {tex(ALPHA)}\\, {tex(r.lhs)}",
            "condition": _between(r.condition, tex),
            "cases": [{"label": CASE_LABELS.get(c.name, {}).get(lang, c.name), "name": c.name,
                       "condition": tex(c.condition), "expr": tex(c.expr), "zero": c.expr == 0,
                       "eq": display(r.lhs, c.expr, notation, lang),
                       "compact": display(r.lhs, short(c.expr), notation, lang)}
                      for c in r.cases],
        }
    return out


def present(d, params=None, known=()) -> dict:
    """A derivation printed for the sheet: definitions, local derivatives (less the `known` ones), results by key.

    A pair-loss derivation also gets its named factors (δ = ∂L/∂D by case, Δ_k = s_k − s′_k), and each
    result its compact form written with them (:mod:`derive.symbolic.factors`).
    """
    results = [r for r in d.results if params is None or r.param in params]
    seen = {(x.lhs, x.rhs) for x in known}
    named = factors.named(d)
    notation = d.notation if named is None else {**d.notation, **named.notation}
    out = {"key": d.key, "results": {}, "named": named is not None}
    for r in results:
        out["results"].setdefault(r.param if not r.reading else f"{r.param}/{r.reading}",
                                  result(r, notation, named))
    for lang in LANGS:
        out[lang] = {"definitions": aligned([(x.lhs, x.rhs) for x in d.definitions], notation, lang),
                     "steps": aligned([(x.lhs, x.rhs) for x in d.steps if (x.lhs, x.rhs) not in seen],
                                      notation, lang)}
        readings = sorted({x.reading for x in d.definitions + d.steps} - {""})
        if readings:  # one display per reading (the KL term), each with the lines it shares with the others
            out[lang]["by_reading"] = {
                r: {"definitions": aligned([(x.lhs, x.rhs) for x in d.definitions if x.reading in ("", r)],
                                           notation, lang),
                    "steps": aligned([(x.lhs, x.rhs) for x in d.steps if x.reading in ("", r)], notation, lang),
                    "own": aligned([(x.lhs, x.rhs) for x in d.definitions if x.reading == r], notation, lang)}
                for r in readings}
        if named is not None:
            out[lang]["factors"] = aligned(_factor_rows(d, named), notation, lang)
            derivative = factors.derivative_rows(d.results[0].expr)
            out[lang]["derivative"] = aligned(derivative, notation, lang) if derivative else ""
            out[lang]["delta"] = printing.latex(factors.DELTA, notation, lang)
            out[lang]["diff"] = printing.latex(next(s for s in named.definitions if isinstance(s, sp.Indexed)),
                                               notation, lang)
    return out


def _factor_rows(d, named) -> list[tuple]:
    """δ = ∂L/∂D written by case of the hinge, Δ_k's definition, and f′(o) when the result has an activation's."""
    rows = []
    for sym, definition in named.definitions.items():
        if sym == factors.DELTA:
            pieces = [(derivation.tidy(definition.subs(subs)), condition)
                      for _, condition, subs in derivation.hinge_cases()]
            rows.append((sym, sp.Piecewise(*pieces, evaluate=False)))
        else:
            rows.append((sym, definition))
    return rows + factors.derivative_rows(d.results[0].expr)


def certified(report: dict, params) -> dict:
    """The certificate's figures for some parameters: entries checked, largest errors, and whether all passed."""
    rows = [t for t in report["tensors"] if t["name"] in params]
    if not rows:
        raise KeyError(f"the certificate checked none of {', '.join(params)}")
    autograd = [t["autograd_max_rel_error"] for t in rows if t.get("autograd_max_rel_error") is not None]
    backprop = [t["backprop_max_rel_error"] for t in rows if t.get("backprop_max_rel_error") is not None]
    return {
        "params": [t["name"] for t in rows], "checked": sum(t["checked"] for t in rows),
        "total": sum(t["total"] for t in rows), "max_rel_error": max(t["max_rel_error"] for t in rows),
        "backprop": max(backprop) if backprop else None, "autograd": max(autograd) if autograd else None,
        "ok": report["ok"] and all(t["ok"] for t in rows), "pairs": report["pairs"], "cases": report["hinge_cases"],
    }
