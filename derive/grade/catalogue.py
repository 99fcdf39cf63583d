"""Certified wrong answers: each classic mistake as the derivation it would give, built from the same objects.

A mistake is a deliberately wrong local derivative swapped into a copy of ``rules.RULES`` (the
½ of D dropped, ReLU's derivative for PReLU's, ...), a derivation of untied branches offered for
tied weights, or a rewrite of the certified result (a sum dropped, two indices swapped). The wrong
formula is then what ``derivation.derive`` gives with it, so it is evaluated exactly like the
certified one; ``tests/certify/test_certificate.py`` shows the certificate rejecting each of them.
Feedback and the marking-scheme items each mistake loses are data, in ``catalogue.toml``.
"""

from __future__ import annotations

import functools
import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from derive.errors import DeriveError
from derive.symbolic import derivation
from derive.symbolic import graph as graphs
from derive.symbolic import rules as rulebook

DISTANCE = (("distance", "first"), ("distance", "second"))
CONTRASTIVE = ("contrastive", "distance")


@dataclass(frozen=True)
class Mistake:
    """One classic mistake: the questions it concerns and how its wrong formula is built."""

    id: str
    questions: tuple
    replaces: tuple = ()        # rule keys it replaces outright (two that replace the same never combine)
    wraps: tuple = ()           # rule keys whose rule it modifies
    table: object = None        # rules table -> rules table
    untie: bool = False         # the first branch's path alone, offered for tied weights
    rewrite: object = None      # (expr, target) -> expr, applied to the derived result
    tied_only: bool = False
    prelu_only: bool = False    # needs a PReLU on the lower layer


def _scaled(keys, factor):
    def change(table):
        out = dict(table)
        for key in keys:
            out[key] = (lambda f: lambda g, c, n: _times(f(g, c, n), factor))(table[key])
        return out
    return change


def _times(local, factor):
    return rulebook.Local(factor * local.expr, local.cidx)


def _relu_instead(table):
    z = sp.Dummy("z", real=True)

    def rule(g, c, n):
        return rulebook.Local(sp.diff(graphs.relu(z), z).xreplace({z: n.item}), c.indices)

    return {**table, ("prelu", "pre"): rule}


def _contrastive(loss):
    """The hinge's rule replaced by the derivative of another loss of D and l."""
    def change(table):
        def rule(g, c, n):
            d, lab = graphs.scalar("D"), graphs.scalar("l")
            return rulebook.Local(sp.diff(loss(d, lab), d), ())
        return {**table, CONTRASTIVE: rule}
    return change


def _norm(table):
    def make(sign):
        def rule(g, c, n):
            first, second = (graphs.base(src) for _, src in c.inputs)
            q = graphs.index("q")
            size = g.ranges[graphs.index(graphs.LOSS_INDICES[2])]
            return rulebook.Local(sign * sp.sqrt(sp.Sum((first[q] - second[q]) ** 2, (q, 1, size))), ())
        return rule
    return {**table, DISTANCE[0]: make(1), DISTANCE[1]: make(-1)}


def _first_term(table):
    original = table[("kl", "mean")]

    def rule(g, c, n):
        rho, beta = graphs.scalar("rho"), graphs.scalar("beta")
        return rulebook.Local(beta * sp.diff(rho * sp.log(rho / n.item), n.item), original(g, c, n).cidx)

    return {**table, ("kl", "mean"): rule}


def _no_sum(expr, target):
    return expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.function)


def _swapped(expr, target):
    a, b = target.free
    return expr.xreplace({a: b, b: a})


def _examples(expr):
    m = next(s for s in expr.free_symbols if s.name == "m")
    return m, [s for s in expr.atoms(sp.Sum) if s.limits[0][2] == m]


def _one_example(expr, target):
    m, sums = _examples(expr)
    return expr.xreplace({s: s.function for s in sums}).subs(m, 1)


def _no_beta(expr, target):
    return expr.subs(graphs.scalar("beta"), 1)


def _sum_not_mean(expr, target):
    m, _ = _examples(expr)
    return expr * m


Q1, Q2, Q7 = "ex1.q1", "ex1.q2", "ex1.q7"
NO_MARGIN = _contrastive(lambda d, l: l * (1 - d) + (1 - l) * d)   # as if the hinge never stopped
NO_LABEL = _contrastive(lambda d, l: graphs.relu(1 - d) + d)       # both terms for every pair
MISTAKES = (
    Mistake("norm_not_vector", (Q1, Q2), replaces=DISTANCE, table=_norm),
    Mistake("margin_case", (Q1, Q2), replaces=(CONTRASTIVE,), table=NO_MARGIN),
    Mistake("missing_label", (Q1, Q2), replaces=(CONTRASTIVE,), table=NO_LABEL),
    Mistake("relu_derivative", (Q2,), replaces=(("prelu", "pre"),), table=_relu_instead, prelu_only=True),
    Mistake("kl_first_term", (Q7,), replaces=(("kl", "mean"),), table=_first_term),
    Mistake("half_factor", (Q1, Q2), wraps=DISTANCE, table=_scaled(DISTANCE, 2)),
    Mistake("sign", (Q1, Q2), wraps=DISTANCE, table=_scaled(DISTANCE, -1)),
    Mistake("tied_not_summed", (Q1, Q2), untie=True, tied_only=True),
    Mistake("missing_sum", (Q2,), rewrite=_no_sum),
    Mistake("kl_missing_mean", (Q7,), replaces=("mean",), rewrite=_one_example),
    Mistake("kl_sum_not_mean", (Q7,), replaces=("mean",), rewrite=_sum_not_mean),
    Mistake("kl_missing_beta", (Q7,), rewrite=_no_beta),
    Mistake("swapped_indices", (Q1, Q2, Q7), rewrite=_swapped),
)
BY_ID = {m.id: m for m in MISTAKES}


def rules_for(*ids: str) -> dict:
    """A copy of rules.RULES with the local derivatives of these mistakes swapped in (in catalogue order)."""
    table = dict(rulebook.RULES)
    for m in sorted((BY_ID[i] for i in ids), key=MISTAKES.index):
        if m.table is not None:
            table = m.table(table)
    return table


def applicable(target) -> list[Mistake]:
    """The mistakes that make sense for a question of a spec (tied weights, a PReLU below)."""
    prelu = target.lower_activation == "prelu"
    return [m for m in MISTAKES if target.question in m.questions and (target.shared or not m.tied_only)
            and (prelu or not m.prelu_only)]


def combinations(target) -> list[tuple]:
    """Every single mistake and every pair that can happen together (no rule replaced twice)."""
    singles = applicable(target)
    pairs = [(a, b) for a, b in itertools.combinations(singles, 2)
             if not set(a.replaces) & set(b.replaces + b.wraps) and not set(b.replaces) & set(a.wraps)
             and not (a.rewrite is not None and a.rewrite is b.rewrite)]
    return [(m,) for m in singles] + pairs


def formula(target, mistakes: tuple) -> sp.Expr:
    """The wrong formula of a combination of mistakes, derived like the certified one."""
    ruled = tuple(m.id for m in mistakes if m.table is not None)
    untie = any(m.untie for m in mistakes)
    expr = target.result.expr if not ruled and not untie else _derived(target, ruled, untie)
    for m in sorted(mistakes, key=MISTAKES.index):
        if m.rewrite is not None:
            expr = m.rewrite(expr, target)
    return expr


def _derived(target, ruled: tuple, untie: bool) -> sp.Expr:
    """The asked result derived with these mistakes' rules (once per target and rules: rewrites reuse it)."""
    slot = ("derived", ruled, untie)
    if slot not in target.tensors.cache:
        only = target.result.param + (f"/{target.result.reading}" if target.result.reading else "")
        d = derivation.derive(target.spec, target.derivation.kind, target.shared and not untie,
                              rules=rules_for(*ruled) if ruled else None, only=only)
        target.tensors.cache[slot] = d.results[0].expr
    return target.tensors.cache[slot]


@functools.cache
def data() -> dict:
    """catalogue.toml: what each question assesses, and each mistake's feedback and lost items."""
    return tomllib.loads(Path(__file__).with_name("catalogue.toml").read_text(encoding="utf-8"))


def items(unit, phrases) -> tuple[int, ...]:
    """The positions in a question's marking scheme of the items these phrases name."""
    out = []
    for phrase in phrases:
        found = [i for i, item in enumerate(unit.scheme) if phrase.lower() in item.text["en"].lower()]
        if len(found) != 1:
            raise DeriveError(f"grade/catalogue.toml: '{phrase}' names {len(found)} items of {unit.id}'s "
                              "marking scheme (answers/*/meta.toml), not one")
        out.append(found[0])
    return tuple(out)


def assessed(unit, shared: bool) -> tuple[int, ...]:
    """The items of a question's marking scheme that one answer shows."""
    spec = data()["question"][unit.id]
    return items(unit, spec["assessed"] + (spec.get("assessed_shared", []) if shared else []))


def lost(unit, ids) -> tuple[int, ...]:
    """The items a set of mistakes loses in a question (each once, in scheme order)."""
    found = set()
    for i in ids:
        found |= set(items(unit, data()["mistake"][i]["loses"].get(unit.id, [])))
    return tuple(sorted(found))
