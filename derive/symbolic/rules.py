"""Local derivatives: one named function per layer kind, activation and loss piece, in one registry table.

Each rule takes a graph, a consumer node c and one of its inputs n, and returns the local derivative
∂c/∂n, obtained by differentiating c's definition with SymPy. Kronecker deltas that SymPy produces are
summed out, and a delta left between an index of c and one of n means the Jacobian is diagonal in it:
that index of c is then identified with n's (``Local.cidx``). The chain rule lives in derivation.py;
a deliberately wrong rule can be swapped into a copy of ``RULES`` to show that the checker rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.concrete.delta import deltasummation

from derive.errors import DeriveError
from derive.symbolic import graph as _graph


@dataclass(frozen=True)
class Local:
    """∂c[cidx]/∂n[n.indices] = expr; cidx holds n's index where the Jacobian is diagonal, else c's own."""

    expr: sp.Expr
    cidx: tuple


def _collapse(expr: sp.Expr) -> sp.Expr:
    """Sum out every Kronecker delta over a summation index (the delta picks one term of the sum)."""

    def one(s: sp.Sum) -> sp.Expr:
        body, kept = s.function, []
        for limit in s.limits:
            if any(limit[0] in d.free_symbols for d in body.atoms(sp.KroneckerDelta)):
                body = deltasummation(body, limit, no_piecewise=True)
            else:
                kept.append(limit)
        return sp.Sum(body, *kept) if kept else body

    return expr.replace(lambda e: isinstance(e, sp.Sum), one)


def by_diff(graph, c, n) -> Local:
    """Differentiate c's definition with respect to n[n.indices] and sum out the deltas."""
    fresh = {x: sp.Symbol(f"{x.name}_c", integer=True, positive=True) for x in c.indices}
    bound = {}
    for s in c.expr.atoms(sp.Sum):
        for limit in s.limits:
            bound.setdefault(limit[0], sp.Symbol(f"{limit[0].name}_s", integer=True, positive=True))
    expr = c.expr.xreplace(bound).xreplace(fresh)
    d = _collapse(sp.diff(expr, n.item))
    ident = {}
    for delta in sorted(d.atoms(sp.KroneckerDelta), key=sp.default_sort_key):
        a, b = delta.args if delta.args[0] in fresh.values() else delta.args[::-1]
        if a not in fresh.values() or b not in n.indices or sp.expand(d.xreplace({delta: 0})) != 0:
            raise DeriveError(f"cannot reduce the derivative of {c.name} with respect to {n.name}: {delta} remains")
        d = d.xreplace({a: b})  # every term carries the delta, which becomes δ(b, b) = 1
        ident[a] = b
    cidx = tuple(ident.get(fresh[x], _prime(x) if x in n.indices else x) for x in c.indices)
    d = d.xreplace({fresh[x]: y for x, y in zip(c.indices, cidx)}).xreplace({v: k for k, v in bound.items()})
    return Local(d, cidx)


def _prime(x: sp.Symbol) -> sp.Symbol:
    return sp.Symbol(x.name + "'", integer=True, positive=True)


def elementwise(graph, c, n) -> Local:
    """Derivative of an activation applied entry by entry, written through its output where it can be."""
    z = sp.Dummy("z", real=True)
    d = sp.diff(c.expr.xreplace({n.item: z}), z).xreplace({z: n.item})
    d = d.xreplace({c.expr: c.item}) if c.expr.func in (sp.tanh, _graph.sigmoid) else d
    return Local(d, c.indices)


# One named function per local derivative; the table below is the only place that maps kinds to rules.

def dense_input(graph, c, n):
    """∂o_k/∂s_j = w_jk: a dense layer with respect to its input vector."""
    return by_diff(graph, c, n)


def dense_weight(graph, c, n):
    """∂o_k/∂w_jk = s_j (and 0 for another unit k): a dense layer with respect to its weights."""
    return by_diff(graph, c, n)


def dense_bias(graph, c, n):
    """∂o_k/∂b_k = 1: a dense layer with respect to its biases."""
    return by_diff(graph, c, n)


def linear(graph, c, n):
    """f(z) = z: f' = 1."""
    return elementwise(graph, c, n)


def relu(graph, c, n):
    """ReLU: 1 above 0, 0 at and below 0."""
    return elementwise(graph, c, n)


def prelu(graph, c, n):
    """PReLU with slope a: 1 above 0, a at and below 0 (PyTorch's convention at 0)."""
    return elementwise(graph, c, n)


def prelu_slope(graph, c, n):
    """∂PReLU(z)/∂a = min(z, 0): the derivative with respect to the slope."""
    return elementwise(graph, c, n)


def tanh(graph, c, n):
    """tanh' = 1 − tanh², written through the layer's output s."""
    return elementwise(graph, c, n)


def sigmoid(graph, c, n):
    """σ' = σ(1 − σ), written through the layer's output s."""
    return elementwise(graph, c, n)


def distance_first(graph, c, n):
    """∂D/∂s6_k for D = ½‖s6 − s6'‖²."""
    return by_diff(graph, c, n)


def distance_second(graph, c, n):
    """∂D/∂s6'_k for D = ½‖s6 − s6'‖²."""
    return by_diff(graph, c, n)


def contrastive(graph, c, n):
    """∂L/∂D for L = l·max(1 − D, 0) + (1 − l)·D, the kink D = 1 on the flat piece."""
    return by_diff(graph, c, n)


def kl_divergence(graph, c, n):
    """∂/∂ρ̂_g of β·Σ_g KL(ρ‖ρ̂_g) between Bernoulli distributions."""
    return by_diff(graph, c, n)


def mean_activation(graph, c, n):
    """∂ρ̂_g/∂s_tg for ρ̂_g, the mean activation of unit g over the m examples."""
    return by_diff(graph, c, n)


RULES = {
    ("dense", "input"): dense_input,
    ("dense", "weight"): dense_weight,
    ("dense", "bias"): dense_bias,
    ("linear", "pre"): linear,
    ("relu", "pre"): relu,
    ("prelu", "pre"): prelu,
    ("prelu", "slope"): prelu_slope,
    ("tanh", "pre"): tanh,
    ("sigmoid", "pre"): sigmoid,
    ("distance", "first"): distance_first,
    ("distance", "second"): distance_second,
    ("contrastive", "distance"): contrastive,
    ("kl", "mean"): kl_divergence,
    ("mean", "activation"): mean_activation,
    ("mean_sigmoid", "activation"): mean_activation,
}


def local(graph, c, n, rules=None) -> Local:
    """The local derivative ∂c/∂n from the registry (or from a modified copy of it)."""
    table = RULES if rules is None else rules
    key = (c.kind, graph.role(c, n.name))
    if key not in table:
        raise DeriveError(f"no derivative rule for {key[0]} with respect to its {key[1]}")
    return table[key](graph, c, n)
