"""An index-form expression evaluated on real tensors, entry by entry, in a frame of free indices.

A frame lists the free indices an evaluation keeps (the asked weight's, then any other an answer
leaves free, such as the k of a forgotten sum) with the number of values each runs over. An index
over more than ``SAMPLE`` units is evaluated on ``SAMPLE`` of them, evenly spread, by slicing the
arrays where it appears free (a sum over the same letter still runs over every unit). The work is
done by :func:`derive.certify.lambdify.evaluate`, on the values of a certificate's forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.certify import lambdify
from derive.symbolic import graph as graphs

SAMPLE = 32          # units per free index: 32 × 32 × 12 pairs, both sides of every kink, and fast to compare
CHUNK = 400          # terms of a sum compiled together (Python's compiler stops near 3000)


class Unevaluable(ValueError):
    """An expression the tensors cannot give values for (its message says why)."""


@dataclass
class Tensors:
    """A forward pass bound to a graph's names: values, the batched names, the pairs of each case, sizes."""

    values: dict
    batched: frozenset
    rows: dict                 # hinge case -> row numbers of its pairs (empty for the KL question)
    sizes: dict                # size symbol -> its number of values
    count: int                 # rows of a batched evaluation (pairs), 1 without batch
    cache: dict = field(default_factory=dict)


def index_sizes(expr, vocab) -> dict:
    """The size symbol each free index of ``expr`` runs over, from the quantities it indexes."""
    by_name = {q.name: q for q in vocab.quantities.values()}
    found = {}

    def walk(e, bound):
        if isinstance(e, sp.Sum):
            inner = bound | {lim[0] for lim in e.limits}
            walk(e.function, inner)
            for lim in e.limits:
                for part in lim[1:]:
                    walk(part, bound)
            return
        if isinstance(e, sp.Indexed):
            q = by_name.get(e.base.label.name)
            sizes = ((q.batch,) if q is not None and q.batch is not None else ()) + (q.sizes if q else ())
            for x, size in zip(e.indices, sizes):
                if isinstance(x, sp.Symbol) and x not in bound:
                    found.setdefault(x, size)
            return
        for a in e.args:
            walk(a, bound)

    walk(sp.sympify(expr), frozenset())
    return found


def frame(first: tuple, *ranges: dict, sizes: dict, fallback: dict | None = None) -> tuple | None:
    """The frame of a comparison: the asked indices, then the others in name order, with their extents.

    ``ranges`` are the index sizes of the expressions compared (from index_sizes or a Reading); None
    when they disagree on what an index runs over (the expressions cannot be compared entry by entry).
    An asked index that none of them has runs over what ``fallback`` says.
    """
    merged = {}
    for r in ranges:
        for x, size in r.items():
            if merged.setdefault(x, size) != size:
                return None
    for x in first:
        if x not in merged and fallback and x in fallback:
            merged[x] = fallback[x]
    extra = sorted((x for x in merged if x not in first), key=lambda x: x.name)
    out = []
    for x in tuple(first) + tuple(extra):
        size = merged.get(x)
        if size is None:
            return None
        n = sizes.get(size)
        if n is None:
            return None
        out.append((x, int(n)))
    return tuple(out)


def sample(n: int) -> np.ndarray:
    """The units of an index evaluated: all of them, or SAMPLE evenly spread."""
    if n <= SAMPLE:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, SAMPLE).round().astype(int))


def evaluate(expr, tensors: Tensors, where: tuple) -> np.ndarray:
    """Values of ``expr`` with shape (rows, *sampled extents of the frame ``where``); raises Unevaluable."""
    try:
        expr = _for_numpy(sp.sympify(expr))
        values, batched, expr = _sliced(expr, tensors, where)
        shape = tuple(len(sample(n)) for _, n in where)
        # a student's exp(exp(...)) overflows to inf, which the comparison reports; numpy's warning would
        # only print a line of generated code on the teacher's terminal
        with np.errstate(all="ignore"):
            return _parts(expr, values, tuple(x for x, _ in where), shape, batched, tensors.count)
    except Unevaluable:
        raise
    except lambdify.EvaluationError as exc:
        raise Unevaluable(str(exc)) from None
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError) as exc:
        raise Unevaluable(f"{type(exc).__name__}: {exc}"[:200]) from None


def _parts(expr, values, free, shape, batched, count) -> np.ndarray:
    """A long sum or product evaluated in parts, each compiled on its own; anything else in one go."""
    if (expr.is_Add or expr.is_Mul) and (len(expr.args) > CHUNK or any(len(a.args) > CHUNK for a in expr.args)):
        pieces = [expr.func(*expr.args[i:i + CHUNK]) for i in range(0, len(expr.args), CHUNK)]
        if len(pieces) == 1:
            pieces = list(expr.args)
        arrays = [_parts(p, values, free, shape, batched, count) for p in pieces]
        out = arrays[0]
        for a in arrays[1:]:
            out = out + a if expr.is_Add else out * a
        return out
    out = lambdify.evaluate(expr, values, free, shape, batched)
    return np.broadcast_to(out, (count if out.shape[0] != 1 else 1,) + shape)


def _for_numpy(expr) -> sp.Expr:
    """Max and Min as Piecewise (NumPy's amax does not broadcast), every sum's index named apart."""
    expr = expr.replace(lambda e: isinstance(e, (sp.Max, sp.Min)), lambda e: e.rewrite(sp.Piecewise))
    return apart(expr)


def apart(expr) -> sp.Expr:
    """Each sum's index renamed to a name of its own (_b0, _b1, ...), so no bound index meets a free one."""
    counter = iter(range(10**9))

    def rename(s):
        subs, limits = {}, []
        for x, lo, hi in s.limits:
            fresh = sp.Symbol(f"_b{next(counter)}", integer=True, positive=True)
            subs[x] = fresh
            limits.append((fresh, lo, hi))
        return sp.Sum(s.function.xreplace(subs), *limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), rename)


def _sliced(expr, tensors: Tensors, where: tuple):
    """Arrays cut to the sampled units of every free index over more than SAMPLE units."""
    cut = {x: sample(n) for x, n in where if n > SAMPLE}
    values, batched = tensors.values, set(tensors.batched)
    if not cut:
        return values, frozenset(batched), expr
    values, subs = dict(values), {}
    for ind in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
        positions = [p for p, x in enumerate(ind.indices) if x in cut]
        if not positions:
            continue
        name = ind.base.label.name
        key = f"{name}@" + ",".join(f"{p}:{len(cut[ind.indices[p]])}" for p in positions)
        if key not in values:
            arr = np.asarray(values[name])
            lead = 1 if name in tensors.batched else 0
            for p in positions:
                arr = np.take(arr, cut[ind.indices[p]], axis=lead + p)
            values[key] = arr
            if lead:
                batched.add(key)
        subs[ind] = graphs.base(key)[ind.indices]
    return values, frozenset(batched), expr.xreplace(subs)
