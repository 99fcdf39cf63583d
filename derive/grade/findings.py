"""What a comparison found, said as feedback sentences (rendered later in either language, see feedback.py).

Each function takes a question's target and what the grader measured (an agreement, a frame, a
case) and returns :class:`~derive.grade.feedback.Sentence` objects: the pairs and entries compared,
which hinge cases are right, a counterexample, the units on each side of the PReLU kink, a mistake's
text with the derivation's own formulas in it, a reading of the figure for Q3.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive import prose
from derive.grade import evaluation
from derive.grade.feedback import Case, Choice, Formula, Sentence
from derive.shapes import count
from derive.symbolic import derivation
from derive.symbolic import graph as graphs


def reference(target, case):
    """The certified answer for a hinge case (the general result for none)."""
    if case is None:
        return target.result.expr
    return next(c.expr for c in target.result.cases if c.name == case)


def substitutions(target, case):
    """What algebra may substitute: the hinge case(s) an answer claims, or ρ = 1/10 for the KL term."""
    if target.key == "kl":
        return ({graphs.scalar("rho"): graphs.RHO},)
    return tuple(subs for name, _, subs in derivation.hinge_cases() if case is None or name == case)


def case_of(target, row: int) -> str:
    """The hinge case of a pair (a row of the tensors)."""
    return next(name for name, rows in target.tensors.rows.items() if row in rows)


def case_words(target, name: str) -> Case:
    """A hinge case as its condition, (l = 1, D < 1)."""
    return Case(next(c.condition for c in target.result.cases if c.name == name), target.vocab.notation)


def correct(target, agreement, case) -> Sentence:
    """Correct: how many entries agree, on which pairs (or on which batch)."""
    if target.key == "kl":
        return Sentence("sentence.correct_kl", {"entries": agreement.compared, "m": target.tensors.sizes[
            target.vocab.examples]})
    return Sentence("sentence.correct", {"entries": agreement.compared, "pairs": pairs(target, case)})


def kink(target, where, rows) -> list[Sentence]:
    """For the lower layer's weights behind a PReLU: how many compared units lie on each side of its kink."""
    _, lower, _ = target.result.graph.top
    pre = next((n for n in target.result.graph.nodes.values() if n.kind == "dense" and n.layer == lower), None)
    if target.key != lower or target.lower_activation != "prelu" or pre is None:
        return []
    if pre.indices[0] not in dict(where):
        return []
    units = evaluation.sample(dict(where)[pre.indices[0]])
    o = target.tensors.values[pre.name][:, units]
    o = o if rows is None else o[rows]
    item, notation = pre.item, target.vocab.notation
    return [Sentence("sentence.kink", {"above": int((o > 0).sum()), "below": int((o <= 0).sum()),
                                       "positive": Formula(item > 0, notation),
                                       "negative": Formula(item <= 0, notation)})]


def pairs(target, case) -> Sentence:
    """The pairs compared: all of them by hinge case, or those of one case."""
    rows = target.tensors.rows
    if case is not None:
        return Sentence("sentence.case_only", {"count": len(rows[case]), "case": case_words(target, case)})
    parts = [Sentence("sentence.case_pairs", {"count": len(r), "case": case_words(target, name)})
             for name, r in rows.items()]
    return Sentence("sentence.pairs", {"count": sum(len(r) for r in rows.values()), "cases": parts})


def differences(target, agreement, where, case) -> list[Sentence]:
    """Incorrect: how many entries differ, in which hinge cases, and one of them with both values."""
    said = [Sentence("sentence.incorrect", {"differ": agreement.differ, "entries": agreement.compared})]
    if target.tensors.rows and case is None:
        wrong = {case_of(target, row) for row in agreement.rows_differ + agreement.rows_missing}
        right = [n for n in target.tensors.rows if n not in wrong]
        if right:
            said.append(Sentence("sentence.by_case", {
                "right": [case_words(target, n) for n in right],
                "wrong": [case_words(target, n) for n in target.tensors.rows if n in wrong]}))
    if agreement.worst is not None:
        row, entry, got, want = agreement.worst
        units_at = ", ".join(f"{x} = {int(evaluation.sample(n)[p]) + 1}" for (x, n), p in zip(where, entry))
        if target.tensors.rows:
            said.append(Sentence("sentence.example", {"pair": row + 1, "case": case_words(
                target, case_of(target, row)), "entry": units_at, "got": got, "want": want}))
        else:
            said.append(Sentence("sentence.example_kl", {"entry": units_at, "got": got, "want": want}))
    return said


def incomparable(r, target) -> Sentence:
    """Incorrect: free indices that run over other units than the asked weight's."""
    mine, theirs = r.ranges, target.sizes
    counts = target.vocab.counts
    parts = [Sentence("sentence.index_counts", {"index": x.name, "have_counts": counts.get(mine[x], ""),
                                                "want_of": counts.get(theirs[x], "")})
             for x in target.free if x in mine and mine[x] != theirs[x]]
    weight = Formula(target.result.lhs.variables[0], target.vocab.notation)
    return Sentence("sentence.incomparable", {"weight": weight, "detail": parts})


def mistake(target, mistake_id: str) -> Sentence:
    """A catalogue mistake's feedback, its formulas printed from the derivation."""
    return Sentence(f"mistake.{mistake_id}", placeholders(target))


def convention(*es) -> Sentence:
    """The reading of the figure of one or more explanations that differ only by PReLU convention."""
    prelu = Choice(tuple(Sentence(f"sentence.prelu_{e.prelu}") for e in es))
    sharing = Sentence("sentence.tied" if es[0].shared else "sentence.untied")
    return Sentence("sentence.convention", {"sharing": sharing, "prelu": prelu})


def miscount(spec, e, mistake: str) -> Sentence:
    """A counting mistake's feedback with its numbers (what it leaves out, the right flattened size)."""
    layers = count(spec)
    dense = next((c for c in layers if c.type == "dense"), None)
    values = {"n": e.missing, "lower": dense.name if dense else ""}
    if mistake == "flatten_size" and dense is not None:
        values.update(n=int(np.prod(dense.input_shape)), detail=Sentence(f"sentence.flatten_{e.detail}"))
    if mistake == "prelu_uncounted":
        values["n"] = sum(c.prelu for c in count(spec, "channel"))
    return Sentence(f"mistake.{mistake}", values)


def placeholders(target) -> dict:
    """The values catalogue.toml's feedback quotes, printed from the derivation's own objects (once per target)."""
    if "placeholders" not in target.tensors.cache:
        target.tensors.cache["placeholders"] = _placeholders(target)
    return target.tensors.cache["placeholders"]


def _placeholders(target) -> dict:
    names = graphs.prose_names(target.spec)
    notation = target.vocab.notation
    g = target.result.graph
    out = {"lower": names["lower"], "upper": names["upper"], "upper_p": prose.primed(names["upper"]),
           "weight": Formula(target.result.lhs.variables[0], notation)}
    counts = target.vocab.counts
    sizes = target.sizes
    first, second = (counts.get(sizes[x], "") for x in target.free)
    out.update(first=first, second=second)
    for step in target.derivation.steps:
        consumer, var = _node(g, step.lhs.expr), _node(g, step.lhs.variables[0])
        if consumer is None or var is None:
            continue
        if consumer.kind == "distance" and g.role(consumer, var.name) == "first":
            out["distance_step"] = Formula(step.rhs, notation, step.lhs)
        elif consumer.kind == "prelu" and not consumer.layer.endswith("'") and var.kind == "dense":
            out["prelu_step"] = Formula(step.rhs, notation, step.lhs)
        elif consumer.kind == "kl":
            out["kl_step"] = Formula(step.rhs, notation, step.lhs)
    for d in target.derivation.definitions:
        node = _node(g, d.lhs)
        if node is not None and node.kind == "distance":
            out["distance"] = Formula(d.rhs, notation, d.lhs)
    return out


def _node(g, item):
    if isinstance(item, sp.Indexed):
        return g.nodes.get(item.base.label.name)
    if isinstance(item, sp.Symbol):
        return g.nodes.get(item.name)
    return None
