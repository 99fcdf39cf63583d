"""The chain rule over a graph: ordered, named steps, the simplified result in index form, and its cases.

``derive(spec, layer, shared)`` walks the graph of graph.py from the output down to the parameters
of one layer, multiplying the local derivatives of rules.py and summing over every index that the
Jacobians do not tie together. It records each local derivative (∂L/∂D, ∂D/∂s6_k, ...) as a step,
the chain rule as a product of unevaluated derivatives, the value, and the value in each case of
the hinge (or, for the KL term, at ρ = 1/10), all as SymPy objects: printing.py prints them and
certificate.py evaluates the very same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.concrete import expr_with_limits as _expr_with_limits

from derive.errors import DeriveError, quote
from derive.symbolic import graph as graphs
from derive.symbolic import rules as rulebook

EPS = sp.Symbol("epsilon", positive=True)


def _scoped_fold(expr, evaluate=True):
    """SymPy's piecewise_fold, except that a sum inside ``expr`` keeps its Piecewise inside it.

    Building Σ_j (…·Σ_k relu'(o_k)…) folds every Piecewise of the body outward, the one under Σ_k
    too: its condition o_k > 0 would then stand outside the sum that binds k (a scalar PReLU slope
    under a ReLU layer gave a formula with a free k). The inner sums are set aside while folding.
    """
    inner = {s: sp.Dummy("sum") for s in expr.atoms(sp.Sum) if s.has(sp.Piecewise)} if isinstance(expr, sp.Basic) \
        else {}
    folded = _piecewise_fold(expr.xreplace(inner) if inner else expr, evaluate)
    return folded.xreplace({v: k for k, v in inner.items()}) if inner else folded


_piecewise_fold = _expr_with_limits.piecewise_fold
_expr_with_limits.piecewise_fold = _scoped_fold  # what Sum() calls on its body
EPS0 = sp.Symbol("epsilon", nonnegative=True)


@dataclass(frozen=True)
class Step:
    """One named equation: lhs (an unevaluated derivative, or a quantity) = rhs."""

    lhs: sp.Expr
    rhs: sp.Expr
    reading: str = ""          # for the KL term: the reading this step belongs to ("" for both)


@dataclass(frozen=True)
class Case:
    """The result under one condition (a hinge case, or ρ = 1/10), derived by substitution."""

    name: str
    condition: sp.Basic
    expr: sp.Expr


@dataclass(frozen=True)
class Result:
    """∂out/∂param in index form: the chain rule as a product, the value, its cases and domain."""

    param: str                 # network parameter key, e.g. "L6.W" or "L6'.b"
    lhs: sp.Expr
    chain: sp.Expr
    expr: sp.Expr
    graph: graphs.Graph
    cases: tuple = ()
    condition: sp.Basic = sp.true
    reading: str = ""


@dataclass(frozen=True)
class Derivation:
    """Everything derived for one layer (or the PReLU slopes, or the KL term).

    ``key`` is the layer's name for a layer ("L6", "fc2"), else "prelu" or "kl"; ``kind`` says what it
    is whatever the layers are called: "upper", "lower", "prelu" or "kl".
    """

    key: str
    definitions: tuple
    steps: tuple
    results: tuple
    notation: dict = field(default_factory=dict)
    kind: str = ""

    @property
    def result(self) -> sp.Expr:
        """The main result (the weights' gradient, first branch or shared)."""
        return self.results[0].expr

    @property
    def cases(self) -> tuple:
        """The cases of the main result."""
        return self.results[0].cases


KINDS = ("upper", "lower", "prelu", "kl")
# The words --layer takes whatever the spec calls its layers; they come before the spec's own names,
# so that "L6" is the upper dense layer and "kl" the KL term even in a spec with a layer of that name.
WORDS = {"L6": "upper", "L5": "lower", "upper": "upper", "lower": "lower", "prelu": "prelu", "kl": "kl"}


def layers(spec) -> list[str]:
    """What ``--layer all`` derives for a spec, in order: upper and lower dense layer, PReLU slopes if any, KL."""
    _, lower, upper, _ = graphs.top(spec)
    return ["upper", "lower"] + (["prelu"] if "prelu" in (lower.activation, upper.activation) else []) + ["kl"]


def resolve(spec, layer: str) -> str:
    """What a --layer value asks for (one of KINDS): the exam's L6/L5, upper/lower, prelu, kl, or a top layer's name."""
    _, lower, upper, _ = graphs.top(spec)
    kind = WORDS.get(layer) or {upper.name: "upper", lower.name: "lower"}.get(layer)
    if kind is None:
        choices = sorted({*WORDS, upper.name, lower.name})
        raise DeriveError(f"unknown layer {quote(layer)} (expected one of {', '.join(choices)} or all)")
    if kind == "prelu" and "prelu" not in (lower.activation, upper.activation):
        raise DeriveError(f"{spec.source}: neither {lower.name} nor {upper.name} uses a PReLU activation")
    return kind


def derive(spec, layer: str = "L6", shared: bool | None = None, rules=None, only=None) -> Derivation:
    """Derive the gradients of one layer's parameters (or the PReLU slopes, or the KL term) of a spec.

    ``layer``: the exam's "L6"/"L5" (always the upper/lower dense layer), "upper"/"lower", the spec's own
    names for them, "prelu" or "kl"; ``shared``: tied branches (None: as the spec says); ``rules``: a
    modified copy of rules.RULES, to derive with a deliberately wrong local derivative; ``only``: a
    parameter key (and, for the KL term, a reading as ``"L6.W/literal"``) to derive that result alone.
    """
    kind = resolve(spec, layer)
    if kind == "kl":
        return _derive_kl(spec, shared, rules, only)
    g = graphs.loss_graph(spec, shared)
    want = {"prelu": (".a",)}.get(kind, (".W", ".b"))
    # parameters by the graph's levels, never by comparing names
    levels = {"upper": (graphs.UPPER,), "lower": (graphs.LOWER,), "prelu": (graphs.LOWER, graphs.UPPER)}[kind]
    params = [n for n in g.nodes.values() if n.kind == "param" and n.level in levels and n.param.endswith(want)
              and only in (None, n.param)]
    params.sort(key=lambda n: (n.layer.endswith("'"), n.param))
    steps, results = _sweep(g, params, rules)
    results = tuple(_with_cases(r, hinge_cases()) for r in results)
    key = {"upper": g.top[2], "lower": g.top[1]}.get(kind, kind)
    return Derivation(key, _definitions(g, params), steps, results, g.notation, kind)


def _derive_kl(spec, shared, rules, only=None) -> Derivation:
    steps, results, defs, notation = [], [], [], {}
    param, _, which = (only or "").partition("/")
    for reading in graphs.READINGS:
        if which and reading != which:
            continue
        g = graphs.kl_graph(spec, reading, shared)
        params = [n for n in g.nodes.values() if n.kind == "param" and n.param.endswith((".W", ".b"))
                  and param in ("", n.param)]
        params.sort(key=lambda n: n.param)
        # Left as the chain rule gives it: β·(−ρ/ρ̂ + (1−ρ)/(1−ρ̂))·(1/m)·Σ..., the textbook form (Ng, 2011).
        more, found = _sweep(g, params, rules, finish=_as_derived)
        rho = graphs.scalar("rho")
        cases = (("rho", sp.Eq(rho, graphs.RHO), {rho: graphs.RHO}),)
        r_hat = graphs.base("rhohat")[g.nodes["rhohat"].indices]
        domain = sp.And(r_hat > 0, r_hat < 1) if reading == "literal" else sp.true
        for r in found:
            results.append(_with_cases(Result(r.param, r.lhs, r.chain, r.expr, g, (), domain, reading), cases,
                                       finish=_as_derived))
        steps = _merge(steps, more, reading)
        defs = _merge(defs, _definitions(g, params), reading)
        notation.update(g.notation)
    return Derivation("kl", tuple(defs), tuple(steps), tuple(results), notation, "kl")


def _merge(have: list, new, reading: str) -> list:
    """Steps of several readings: one copy of each, tagged with its reading unless all readings share it."""
    out = list(have)
    for s in new:
        same = [i for i, t in enumerate(out) if (t.lhs, t.rhs) == (s.lhs, s.rhs)]
        if same:
            out[same[0]] = Step(s.lhs, s.rhs, "")
        else:
            out.append(Step(s.lhs, s.rhs, reading))
    return out


def hinge_cases() -> tuple:
    """The hinge's cases as (name, condition, substitution): l = 0; l = 1, D = 1 − ε; l = 1, D = 1 + ε (ε ≥ 0)."""
    l, d = graphs.scalar("l"), graphs.scalar("D")
    return (("same", sp.Eq(l, 0), {l: 0}),
            ("different_inside_margin", sp.And(sp.Eq(l, 1), d < 1), {l: 1, d: 1 - EPS}),
            ("different_outside_margin", sp.And(sp.Eq(l, 1), d >= 1), {l: 1, d: 1 + EPS0}))


def _with_cases(r: Result, cases, finish=None) -> Result:
    out = []
    for name, condition, subs in cases:
        expr = (finish or tidy)(r.expr.subs(subs))
        if expr.has(EPS, EPS0):
            raise DeriveError(f"the case {name} of {r.param} still depends on D")
        out.append(Case(name, condition, expr))
    return Result(r.param, r.lhs, r.chain, r.expr, r.graph, tuple(out), r.condition, r.reading)


def _definitions(g, params) -> tuple:
    """The forward definitions on the paths from the parameters to the output, bottom up."""
    keep = _relevant(g, params)
    defs = [Step(n.item, n.expr) for n in g.nodes.values() if n.name in keep and n.expr is not None]
    if g.output in g.display:
        defs.insert(len(defs) - 1, Step(g.nodes[g.output].item, g.display[g.output]))
    return tuple(defs)


def _relevant(g, params) -> set:
    """Names of the nodes on a path from one of the parameters to the output."""
    reach = {p.name for p in params}
    for n in g.nodes.values():
        if any(src in reach for _, src in n.inputs):
            reach.add(n.name)
    down = {g.output}
    for n in reversed(list(g.nodes.values())):
        if n.name in down:
            down.update(src for _, src in n.inputs)
    return reach & down


def _levels(g) -> dict:
    level = {g.output: 0}
    for n in reversed(list(g.nodes.values())):
        for _, src in n.inputs:
            if n.name in level:
                level[src] = max(level.get(src, 0), level[n.name] + 1)
    return level


def _sweep(g, params, rules, finish=None):
    """Reverse accumulation: ∂out/∂n for every relevant node n, as a value and as a chain of derivatives."""
    keep, level = _relevant(g, params), _levels(g)
    order = sorted((n for n in g.nodes.values() if n.name in keep and n.name != g.output),
                   key=lambda n: (level[n.name], list(g.nodes).index(n.name)))
    out = g.nodes[g.output].item
    adj, chain, steps = {g.output: sp.S.One}, {g.output: sp.S.One}, []
    for n in order:
        values, links = [], []
        for c in g.consumers(n.name):
            if c.name not in keep:
                continue
            loc = rulebook.local(g, c, n, rules)
            lhs = sp.Derivative(_at(c, loc.cidx), n.item, evaluate=False)
            steps.append(Step(lhs, loc.expr))
            values.append(_combine(g, adj[c.name], loc.expr, c, n, loc.cidx, evaluate=True))
            links.append(_combine(g, chain[c.name], lhs, c, n, loc.cidx, evaluate=False))
        adj[n.name] = sp.Add(*values)
        with sp.evaluate(False):
            chain[n.name] = sp.Add(*links) if len(links) > 1 else links[0]
    finish = finish or tidy
    results = tuple(Result(p.param, sp.Derivative(out, p.item, evaluate=False), chain[p.name], finish(adj[p.name]), g)
                    for p in params)
    return tuple(steps), results


def _at(c, cidx) -> sp.Expr:
    return graphs.base(c.name)[cidx] if cidx else c.item


def _combine(g, up, local, c, n, cidx, evaluate: bool) -> sp.Expr:
    """Σ over c's indices not tied to n of (∂out/∂c)·(∂c/∂n)."""
    free = [x for x in cidx if x not in n.indices]
    ranges = {y: g.ranges[x] for x, y in zip(c.indices, cidx)}
    with sp.evaluate(evaluate):
        if tuple(c.indices) != tuple(cidx):
            up = up.xreplace(dict(zip(c.indices, cidx)))
        factors = [f for f in _flat(up) + _flat(local) if f != 1]
        inner = [f for f in factors if f.has(*free)] if free else []
        outer = [f for f in factors if f not in inner]
        # an index that no factor carries still counts its terms: Σ_t c = m·c
        outer += [ranges[x] for x in free if not any(f.has(x) for f in inner)]
        free = [x for x in free if any(f.has(x) for f in inner)]
        if inner:
            limits = [sp.Tuple(x, 1, ranges[x]) for x in free]
            body = sp.Mul(*inner) if len(inner) > 1 else inner[0]
            outer.append(sp.Sum(body, *limits) if evaluate else _raw_sum(body, limits))
        return sp.Mul(*outer) if len(outer) != 1 else outer[0]


def _raw_sum(body, limits) -> sp.Sum:
    """A Sum built as is (Sum() would multiply an unevaluated body by its orientation, showing 1·(...))."""
    obj = sp.Expr.__new__(sp.Sum, body, *limits)
    obj.is_commutative = True
    return obj


def _flat(e) -> list:
    """The factors of a product, nested unevaluated products flattened."""
    return [g for f in e.args for g in _flat(f)] if e.is_Mul else [e]


def _as_derived(expr: sp.Expr) -> sp.Expr:
    return expr


def tidy(expr: sp.Expr) -> sp.Expr:
    """Collect a result into factors: each sum kept whole with its sign pulled out, then the rest factored."""
    sums = {}

    def atom(s):
        sign, factors = 1, []
        for f in sp.Mul.make_args(sp.factor_terms(s.function)):
            if f.could_extract_minus_sign():
                sign, f = -sign, -f
            factors.append(f)
        whole = sp.Sum(sp.Mul(*factors), *s.limits)
        sums.setdefault(whole, sp.Symbol(f"_sum{len(sums)}"))
        return sign * sums[whole]

    expr = expr.replace(lambda e: isinstance(e, sp.Sum), atom)
    expr = sp.factor_terms(sp.factor(sp.expand(expr)))
    back = {v: k for k, v in sums.items()}
    while back and expr.has(*back):  # sums nested in sums come back one level at a time
        expr = expr.xreplace(back)
    return expr
