"""What the gradient questions (Ex. 1 Q1, Q2, Q7) show of a derivation: its SymPy objects printed as LaTeX.

Nothing here writes a formula: every string is printed from an object of derive.derivation, the
same objects that derive.certificate evaluates on tensors.
"""

from __future__ import annotations

import sympy as sp

from derive.sheet.units import LANGS
from derive.symbolic import printing

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


def result(r, notation) -> dict:
    """One result printed in both languages: lhs, chain rule, value, cases, domain, update rule."""
    out = {"param": r.param, "reading": r.reading, "zero": r.expr == 0, "conditional": r.condition != sp.true}
    (var, _), = r.lhs.variable_count
    for lang in LANGS:
        def tex(e, lang=lang):
            return printing.latex(e, notation, lang)

        out[lang] = {
            "lhs": tex(r.lhs), "chain": tex(r.chain), "expr": tex(r.expr), "var": tex(var),
            "eq": display(r.lhs, r.expr, notation, lang),
            # The update rule is the same for every parameter: w <- w - alpha dL/dw, printed around the derivative.
            "rule": f"{tex(var)} \\leftarrow {tex(var)} - {tex(ALPHA)}\\, {tex(r.lhs)}",
            "condition": tex(r.condition),
            "cases": [{"label": CASE_LABELS.get(c.name, {}).get(lang, c.name), "name": c.name,
                       "condition": tex(c.condition), "expr": tex(c.expr), "zero": c.expr == 0,
                       "eq": display(r.lhs, c.expr, notation, lang)}
                      for c in r.cases],
        }
    return out


def present(d, params=None, known=()) -> dict:
    """A derivation printed for the sheet: definitions, local derivatives (less the `known` ones), results by key."""
    results = [r for r in d.results if params is None or r.param in params]
    seen = {(x.lhs, x.rhs) for x in known}
    out = {"key": d.key, "results": {}}
    for r in results:
        out["results"].setdefault(r.param if not r.reading else f"{r.param}/{r.reading}", result(r, d.notation))
    for lang in LANGS:
        out[lang] = {"definitions": aligned([(x.lhs, x.rhs) for x in d.definitions], d.notation, lang),
                     "steps": aligned([(x.lhs, x.rhs) for x in d.steps if (x.lhs, x.rhs) not in seen],
                                      d.notation, lang)}
    return out


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
