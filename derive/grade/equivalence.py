"""Whether two expressions agree: entry by entry on real tensors, and by algebra where that is cheap.

The numbers decide: two expressions evaluated on the same forward pass either agree on every entry
(within a rounding tolerance scaled by the certified gradient's size) or differ somewhere, which is a
counterexample on a real network. Entries an expression cannot give (0/0, a case it leaves out) are
counted apart. Algebra only adds proof: after the hinge case is substituted, the difference is
expanded with every sum split and its constant factors pulled out, under a short time limit;
SymPy's ``simplify`` is not used (on max and piecewise forms it may not finish).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.grade import timebox

RTOL = 1e-9          # the expressions are computed in float64 in different orders: agreement to 1e-9
ALGEBRA_SECONDS = 0.25
ALGEBRA_OPS = 400    # larger expressions are left to the numbers


@dataclass(frozen=True)
class Agreement:
    """How two evaluations compare on the rows asked: entries equal, different, or that one cannot give."""

    compared: int
    differ: int
    missing: int                  # entries where the answer has no finite value and the reference has one
    rows_differ: tuple = ()       # rows (pairs) with a differing entry
    rows_missing: tuple = ()
    worst: tuple | None = None    # (row, entry index, answer's value, reference value) of the largest gap

    @property
    def equal(self) -> bool:
        """Every entry compared agrees and none is missing."""
        return self.compared > 0 and self.differ == 0 and self.missing == 0


def agree(answer: np.ndarray, reference: np.ndarray, scale: float, rows=None) -> Agreement | None:
    """Entry-by-entry agreement on the selected rows; None when the shapes do not correspond."""
    try:
        a, b = np.broadcast_arrays(answer, reference)
    except ValueError:
        return None
    if rows is not None:
        a, b = a[rows], b[rows]
        keep = np.asarray(rows)
    else:
        keep = np.arange(a.shape[0])
    finite = np.isfinite(a) & np.isfinite(b)
    missing = ~np.isfinite(a) & np.isfinite(b)
    gap = np.where(finite, np.abs(a - b), 0.0)
    bad = finite & (gap > RTOL * (scale + np.abs(b)))
    flat = bad.reshape(bad.shape[0], -1)
    lost = missing.reshape(missing.shape[0], -1)
    worst = None
    if bad.any():
        pos = np.unravel_index(int(np.argmax(np.where(bad, gap, -1.0))), bad.shape)
        worst = (int(keep[pos[0]]), tuple(int(p) for p in pos[1:]), float(a[pos]), float(b[pos]))
    return Agreement(int(finite.sum()), int(bad.sum()), int(missing.sum()),
                     tuple(int(keep[r]) for r in np.flatnonzero(flat.any(axis=1))),
                     tuple(int(keep[r]) for r in np.flatnonzero(lost.any(axis=1))), worst)


def proved(answer: sp.Expr, reference: sp.Expr, substitutions=({},)) -> bool:
    """Whether algebra shows answer − reference = 0 under each substitution (a hinge case), within a short time."""
    if sp.count_ops(answer) > ALGEBRA_OPS:
        return False
    done = timebox.within(ALGEBRA_SECONDS, _zero, answer - reference, substitutions)
    return done is True


def _zero(difference, substitutions) -> bool:
    for subs in substitutions:
        d = normal(difference.subs(subs))
        if d != 0:
            return False
    return True


def normal(expr: sp.Expr) -> sp.Expr:
    """Expanded with sums split over their terms, constant factors outside, indices named by their range."""
    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        pieces = [(normal(e), c) for e, c in expr.args]
        return sp.S.Zero if all(e == 0 for e, _ in pieces) else sp.Piecewise(*pieces)
    expr = sp.expand(expr.replace(lambda e: isinstance(e, sp.Sum), _split))
    return sp.expand(expr)


def _split(s: sp.Sum) -> sp.Expr:
    (x, lo, hi), = s.limits if len(s.limits) == 1 else ((None, None, None),)
    if x is None:
        return s
    fresh = sp.Symbol(f"_{hi}", integer=True, positive=True)
    body = sp.expand(s.function.xreplace({x: fresh}))
    out = []
    for term in sp.Add.make_args(body):
        inside = [f for f in sp.Mul.make_args(term) if f.has(fresh)]
        outside = [f for f in sp.Mul.make_args(term) if not f.has(fresh)]
        out.append(sp.Mul(*outside) * (sp.Sum(sp.Mul(*inside), (fresh, lo, hi)) if inside else hi - lo + 1))
    return sp.Add(*out)
