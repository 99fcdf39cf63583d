"""Named factors: the gradients of Q1 and Q2 written as a teacher writes them, from the same SymPy objects.

Every gradient of the pair loss carries the same two factors: δ = ∂L/∂D, the hinge's three cases,
and Δ_k = s⁽⁶⁾_k − s⁽⁶′⁾_k, the difference of the two embeddings. ``named(d)`` takes both from a
derivation (δ is the printed step ∂L/∂D, Δ the difference inside the definition of D), ``compact``
writes a result with them, and ``expand`` puts them back: ``expand(compact(e)) == e`` exactly,
which :func:`check` asserts and the certificate also verifies numerically on real tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.symbolic import graph as graphs

DELTA = graphs.scalar("delta")       # printed δ
DIFF = graphs.base("Delta")           # printed Δ^{(u)}_k


class fprime(sp.Function):  # noqa: N801  (a SymPy function reads like the maths)
    """f′(o, a): the derivative of a PReLU of slope a (ReLU: a = 0), 1 above 0 and a at and below; prints f′(o)."""

    def _latex(self, printer):
        return r"f'\left(%s\right)" % printer._print(self.args[0])

    def _exam_text(self, printer):
        return f"f′({printer._print(self.args[0])})"


def _derivative_piece(e) -> bool:
    """{1 if o > 0; a otherwise}: an activation's derivative as the graph writes it."""
    return (isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0][0] == 1 and e.args[1][1] == sp.true
            and isinstance(e.args[0][1], sp.StrictGreaterThan) and e.args[0][1].rhs == 0)


def _slope_piece(e) -> bool:
    """{0 if o > 0; o otherwise}: ∂PReLU/∂a, that is min(o, 0)."""
    return (isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0][0] == 0 and e.args[1][1] == sp.true
            and isinstance(e.args[0][1], sp.StrictGreaterThan) and e.args[0][1].rhs == 0
            and e.args[1][0] == e.args[0][1].lhs)


@dataclass(frozen=True)
class Factors:
    """The named factors of a loss derivation: their symbols, their definitions, the notation to print them."""

    definitions: dict                 # symbol (δ, or Δ_k at the canonical index) -> the expression it names
    notation: dict                    # additions to the derivation's notation table

    def compact(self, expr: sp.Expr) -> sp.Expr:
        """The expression with every occurrence of a factor replaced by its name, activation derivatives as f′(o)."""
        index = self._index()
        out = expr.replace(_derivative_piece, lambda e: fprime(e.args[0][1].lhs, e.args[1][0]))
        out = out.replace(_slope_piece, lambda e: sp.Min(e.args[0][1].lhs, 0, evaluate=False))
        for sym, definition in self.definitions.items():
            if isinstance(sym, sp.Indexed) and index is not None:
                k = sym.indices[0]
                out = out.replace(lambda e, d=definition, k=k: _is_shifted(e, d, k),
                                  lambda e, d=definition, k=k: DIFF[_shift(e, d, k)])
            else:
                out = out.xreplace({definition: sym})
        return out

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """The expression with every named factor replaced by what it names."""
        out = expr.replace(lambda e: isinstance(e, fprime),
                           lambda e: sp.Piecewise((1, e.args[0] > 0), (e.args[1], True)))
        out = out.replace(lambda e: isinstance(e, sp.Min) and len(e.args) == 2 and 0 in e.args,
                          lambda e: sp.Piecewise((0, _other(e) > 0), (_other(e), True)))
        for sym, definition in self.definitions.items():
            if isinstance(sym, sp.Indexed):
                k = sym.indices[0]
                out = out.replace(lambda e: isinstance(e, sp.Indexed) and e.base == DIFF,
                                  lambda e, d=definition, k=k: d.xreplace({k: e.indices[0]}))
            else:
                out = out.xreplace({sym: definition})
        return out

    def _index(self):
        found = [s for s in self.definitions if isinstance(s, sp.Indexed)]
        return found[0].indices[0] if found else None


def _other(e):
    return next(a for a in e.args if a != 0)


def _is_shifted(e, definition, k) -> bool:
    """Whether e is the difference Δ at some index (the definition with k renamed)."""
    if not isinstance(e, sp.Add):
        return False
    return _shift(e, definition, k) is not None


def _shift(e, definition, k):
    items = [a for a in e.atoms(sp.Indexed) if a.indices]
    for idx in {a.indices[-1] for a in items}:
        if definition.xreplace({k: idx}) == e:
            return idx
    return None


def named(d) -> Factors | None:
    """δ = ∂L/∂D and Δ_k = s⁽ᵘ⁾_k − s⁽ᵘ′⁾_k of a pair-loss derivation (None for the KL term)."""
    g = d.results[0].graph if d.results else None
    if g is None or "D" not in g.nodes or g.nodes["D"].kind != "distance":
        return None
    loss, dist = g.nodes[g.output], g.nodes["D"]
    step = next((s for s in d.steps if isinstance(s.lhs, sp.Derivative) and s.lhs.expr == loss.item
                 and s.lhs.variables == (dist.item,)), None)
    if step is None:
        return None
    first, second = (g.nodes[src] for _, src in dist.inputs)
    k = first.indices[0]
    letter, label, _ = g.notation[first.name]
    return Factors({DELTA: step.rhs, DIFF[k]: first.item - second.item},
                   {"delta": ("delta", "", "plain"), "Delta": ("Delta", label, "layer")})


def derivative_rows(expr) -> list[tuple]:
    """``f′(o) = {1 if o > 0; a otherwise}`` for the first activation derivative of an expression (or none)."""
    found = sorted(expr.atoms(sp.Piecewise), key=sp.default_sort_key)
    piece = next((p for p in found if _derivative_piece(p)), None)
    if piece is None:
        return []
    o, a = piece.args[0][1].lhs, piece.args[1][0]
    return [(fprime(o, a), sp.Piecewise((1, o > 0), (a, True)))]


def check(d) -> list[str]:
    """Problems of a derivation's compact forms: a result that the factors do not give back exactly."""
    factors = named(d)
    if factors is None:
        return []
    problems = []
    for r in d.results:
        compact = factors.compact(r.expr)
        if factors.expand(compact) != r.expr:
            problems.append(f"{r.param}: the named factors do not give back the result")
    return problems
