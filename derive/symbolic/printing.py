r"""Printers for the exam's notation: LaTeX (for the sheet and Markdown) and one-line Unicode text.

The SymPy objects carry plain internal names (``w5_6``, ``s6p``); each graph carries a notation
table ``name -> (letter, label, style)`` and these printers turn it into w^{(56)}_{jk}, s^{(6')}_k,
l^{(t)}, a label escaped for LaTeX math (a layer called ``a_b`` is \mathrm{a\_b}).
Everything about the look (letters, the words of a case split, the language, the
multiplication sign) is a printer setting; nothing edits a printed string afterwards.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from derive.prose import math_label

# How each letter of the notation table is written: (LaTeX, Unicode).
LETTERS = {
    "L": (r"\mathcal{L}", "L"), "R": (r"\mathcal{L}_{\mathrm{reg}}", "L_reg"), "beta": (r"\beta", "β"),
    "rho": (r"\rho", "ρ"), "rhohat": (r"\hat{\rho}", "ρ̂"), "delta": (r"\delta", "δ"), "Delta": (r"\Delta", "Δ"),
}
WORDS = {"en": {"if": "if", "otherwise": "otherwise", "and": "and"},
         "fr": {"if": "si", "otherwise": "sinon", "and": "et"}}
SUPERSCRIPT = dict(zip("0123456789()'t+-=", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾′ᵗ⁺⁻⁼"))
SUBSCRIPT = dict(zip("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _positive_first(expr: sp.Add) -> sp.Add:
    """The terms of a sum in SymPy's order, those without a leading minus sign first: s − s′, ρ̂ − 1."""
    terms = sorted(expr.as_ordered_terms(), key=lambda t: t.could_extract_minus_sign())
    return sp.Add(*terms, evaluate=False)


def _parts(printer, name: str):
    """(letter, label, style) of an internal name, or None when the notation table does not know it."""
    entry = printer._settings["notation"].get(name)
    if entry is None:
        return None
    letter, lab, style = entry
    glyph = LETTERS.get(letter, (letter, letter))[1 if printer.unicode else 0]
    return glyph, lab, style


class _ExamNames:
    """Names from the notation table, for both printers; each says how a name looks (``_name``)."""

    PLAIN_INDEXED = "{}[{}]"  # how an Indexed prints when the notation table does not know its base

    def _name(self, name: str, sub: str = "", extra: str = "") -> str | None:
        parts = _parts(self, name)
        if parts is None:
            return None
        letter, lab, style = parts
        lab = self._label(lab)
        if style == "sub":
            return self._subscripted(letter, lab)
        return self._compose(letter, (f"({lab})" if lab else "") + (f"({extra})" if extra else ""), sub)

    def _print_Add(self, expr, order=None):
        return super()._print_Add(_positive_first(expr), order="none")

    def _print_Symbol(self, expr, *args):
        return self._name(expr.name) or super()._print_Symbol(expr, *args)

    def _print_IndexedBase(self, expr):
        return self._name(expr.label.name) or self._print(expr.label)

    def _print_Indexed(self, expr):
        idx = [self._print(i) for i in expr.indices]
        parts = _parts(self, expr.base.label.name)
        extra = idx.pop(0) if parts and parts[2] == "batch" else ""
        sub = "".join(idx) if all(len(i) == 1 for i in idx) else ",".join(idx)
        return self._name(expr.base.label.name, sub, extra) or self.PLAIN_INDEXED.format(
            self._print(expr.base), ",".join(self._print(i) for i in expr.indices))


class ExamLatexPrinter(_ExamNames, LatexPrinter):
    """LaTeX in the exam's notation: w^{(56)}_{jk}, s^{(6')}_{k}, ∂L/∂D as a fraction, cases with words."""

    unicode = False
    PLAIN_INDEXED = "{{{}}}_{{{}}}"
    # order "none" keeps a product's factors as built (a chain rule reads left to right); sums are still sorted
    _default_settings = {**LatexPrinter._default_settings, "notation": {}, "lang": "en", "order": "none"}

    def _label(self, lab: str) -> str:
        return math_label(lab)  # a layer called a_b is neither a subscript nor a LaTeX error

    def _subscripted(self, letter: str, lab: str) -> str:
        return f"{letter}_{{{lab}}}"

    def _compose(self, letter: str, sup: str, sub: str) -> str:
        return letter + (f"^{{{sup}}}" if sup else "") + (f"_{{{sub}}}" if sub else "")

    def _print_Derivative(self, expr):
        (var, _), = expr.variable_count
        return r"\frac{\partial %s}{\partial %s}" % (self._print(expr.expr), self._print(var))

    def _print_Piecewise(self, expr):
        w = WORDS[self._settings["lang"]]
        rows = [r"%s & \text{%s } %s" % (self._print(e), w["if"], self._print(c)) if c != sp.true
                else r"%s & \text{%s}" % (self._print(e), w["otherwise"]) for e, c in expr.args]
        return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)

    def _print_Max(self, expr):
        args = sorted(expr.args, key=lambda a: a.is_number)
        return r"\max\left(%s\right)" % ", ".join(self._print(a) for a in args)

    def _print_And(self, expr):
        return (r" \text{ %s } " % WORDS[self._settings["lang"]]["and"]).join(self._print(a) for a in expr.args)

    def _print_sigmoid(self, expr, exp=None):
        return r"\sigma\left(%s\right)" % self._print(expr.args[0])


class ExamTextPrinter(_ExamNames, StrPrinter):
    """One-line Unicode text in the exam's notation: w⁽⁵⁶⁾_jk, s⁽⁶′⁾_k, ∂L/∂D, {1 if o > 0; a otherwise}."""

    unicode = True
    printmethod = "_exam_text"  # Indexed would otherwise print itself through _sympystr
    _default_settings = {**StrPrinter._default_settings, "notation": {}, "lang": "en", "order": "none"}

    def _label(self, lab: str) -> str:
        return lab

    def _subscripted(self, letter: str, lab: str) -> str:
        return letter + "".join(SUBSCRIPT.get(ch, ch) for ch in lab)

    def _compose(self, letter: str, sup: str, sub: str) -> str:
        if all(ch in SUPERSCRIPT for ch in sup):
            sup = "".join(SUPERSCRIPT[ch] for ch in sup)
        elif sup:
            sup = f"^{sup}"
        return letter + sup + (f"_{sub}" if sub else "")

    def _print_Derivative(self, expr):
        (var, _), = expr.variable_count
        return f"∂{self._print(expr.expr)}/∂{self._print(var)}"

    def _print_Mul(self, expr):
        coeff, _ = expr.as_coeff_Mul()
        if coeff.is_negative:
            return "-" + self.parenthesize(-expr, PRECEDENCE["Mul"], strict=True)
        num, den = [], []
        for f in expr.args:
            (den if f.is_Pow and f.exp.is_negative else num).append(f)
        top = "·".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in num if f != 1) or "1"
        if not den:
            return top
        bottom = [self._print(1 / f) if len(den) == 1 else self.parenthesize(1 / f, PRECEDENCE["Mul"]) for f in den]
        below = bottom[0] if len(den) == 1 and precedence(1 / den[0]) >= PRECEDENCE["Pow"] else f"({'·'.join(bottom)})"
        return f"{self.parenthesize(sp.Mul(*num), PRECEDENCE['Mul']) if len(num) > 1 else top}/{below}"

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_Integer and 1 < expr.exp < 10:
            return self.parenthesize(expr.base, PRECEDENCE["Pow"]) + SUPERSCRIPT[str(expr.exp)]
        if expr.exp == -1:
            return "1/" + self.parenthesize(expr.base, PRECEDENCE["Pow"])
        return super()._print_Pow(expr, rational)

    def _print_Piecewise(self, expr):
        w = WORDS[self._settings["lang"]]
        rows = [f"{self._print(e)} {w['if']} {self._print(c)}" if c != sp.true else f"{self._print(e)} {w['otherwise']}"
                for e, c in expr.args]
        return "{" + "; ".join(rows) + "}"

    def _print_Sum(self, expr):
        limits = ", ".join(f"{self._print(x)}={self._print(lo)}..{self._print(hi)}" for x, lo, hi in expr.limits)
        return f"Σ_{{{limits}}} " + self.parenthesize(expr.function, PRECEDENCE["Mul"])

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in sorted(expr.args, key=lambda a: a.is_number)) + ")"

    def _print_Relational(self, expr):
        op = {"==": "=", ">=": "≥", "<=": "≤", "!=": "≠"}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return f" {WORDS[self._settings['lang']]['and']} ".join(self._print(a) for a in expr.args)

    def _print_sigmoid(self, expr):
        return f"σ({self._print(expr.args[0])})"


def latex(expr, notation: dict | None = None, lang: str = "en", **settings) -> str:
    """LaTeX of a SymPy object in the exam's notation (``notation`` from a graph or derivation)."""
    return ExamLatexPrinter({"notation": notation or {}, "lang": lang, **settings}).doprint(expr)


def text(expr, notation: dict | None = None, lang: str = "en", **settings) -> str:
    """One-line Unicode text of a SymPy object in the exam's notation."""
    return ExamTextPrinter({"notation": notation or {}, "lang": lang, **settings}).doprint(expr)


def equation(lhs, rhs, notation: dict | None = None, fmt: str = "latex", lang: str = "en", **settings) -> str:
    """``lhs = rhs`` in LaTeX or Unicode text."""
    show = latex if fmt == "latex" else text
    return f"{show(lhs, notation, lang)} = {show(rhs, notation, lang, **settings)}"
