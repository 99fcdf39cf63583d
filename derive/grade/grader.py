"""Marking one answer: read it, compare it with the certified result, name the mistakes, give the points.

A formula (Q1, Q2, Q7) is read in the graph's names, evaluated on the certificate's tensors and
compared entry by entry with the certified gradient, on the pairs of the hinge case it claims (all
of them when it claims none). An incorrect one is compared, on the same entries, with every
catalogue mistake and every pair of them; its feedback names those it equals. Reading and comparing
are time-boxed: what does not finish in time is ``undecided``, never ``incorrect``. A number (Q3) is
matched with the totals of every reading of the figure and of the classic miscounts.

Points come from the marking scheme (answers/<question>/meta.toml): the items one answer shows
(catalogue.toml) count, less those its mistakes lose; an answer for one hinge case is worth a third.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive import prose
from derive.grade import catalogue, counting, equivalence, evaluation, reading, syntax, timebox
from derive.grade.feedback import Case, Choice, Formula, Problem, Sentence, Typed
from derive.grade.questions import CASES
from derive.shapes import count
from derive.sheet import units
from derive.symbolic import derivation
from derive.symbolic import graph as graphs

TIME_BOX = 5.0
VERDICTS = ("correct", "incorrect", "undecided", "invalid")
DERIVATIVE = re.compile(r"\\partial|∂|\\delta|δ|\\frac\s*\{\s*d|\bd\s*\\?mathcal|\bd\s*L|\bdL", re.IGNORECASE)


@dataclass(frozen=True)
class Mark:
    """The grading of one answer: verdict, mistakes recognised, points, feedback (as sentences), what was read."""

    answer: object
    verdict: str
    misconceptions: tuple = ()
    points: float | None = None
    out_of: float = 0.0
    sentences: tuple = ()
    read: object = None       # a feedback.Formula, the number read (Q3), or None


@dataclass(frozen=True)
class _Incorrect:
    """An answer found incorrect inside the time box, to be matched with the catalogue outside it."""

    reading: reading.Reading
    where: tuple | None
    values: np.ndarray | None
    agreement: equivalence.Agreement | None
    sentences: tuple


def equation(text: str) -> tuple[str, str]:
    """(the answer with a left-hand side ∂L/∂w = blanked out, that left-hand side or "")."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "([{" and 1 or (-1 if ch in ")]}" else 0)
        if ch == "=" and depth == 0 and text[i - 1:i] not in ("<", ">", "!", "=") and text[i + 1:i + 2] != "=":
            lhs = text[:i]
            if DERIVATIVE.search(lhs):
                return " " * (i + 1) + text[i + 1:], lhs.strip()
            return text, ""
    return text, ""


class Grader:
    """Grades answers for one Exam; identical answers to the same question and case are graded once."""

    def __init__(self, exam, time_box: float = TIME_BOX):
        self.exam, self.time_box = exam, time_box
        self.units = {u.id: u for u in units.load_all()}
        self._memo, self._made = {}, {}

    def _once(self, key, make):
        """A value computed once per grader (the catalogue's formulas, the feedback's printed objects)."""
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def grade(self, answer) -> Mark:
        """The mark of one answer."""
        key = (answer.question, answer.case, answer.text)
        if key not in self._memo:
            self._memo[key] = self._number(answer) if answer.question == "ex1.q3" else self._formula(answer)
        return dataclasses.replace(self._memo[key], answer=answer)

    # -- points --------------------------------------------------------------------------------------
    def out_of(self, question: str, case: str = "") -> float:
        """The points one answer to a question can earn here (a hinge case: a third)."""
        unit = self.units[question]
        full = sum(unit.scheme[i].points for i in catalogue.assessed(unit, self.exam.shared))
        return full / 3 if case else full

    def points(self, question: str, case: str, ids) -> float:
        """The assessed points less those the mistakes lose."""
        unit = self.units[question]
        kept = [i for i in catalogue.assessed(unit, self.exam.shared) if i not in catalogue.lost(unit, ids)]
        total = sum(unit.scheme[i].points for i in kept)
        return total / 3 if case else total

    def _lost(self, question: str, ids) -> list[Sentence]:
        unit = self.units[question]
        gone = [i for i in catalogue.lost(unit, ids) if i in catalogue.assessed(unit, self.exam.shared)]
        if not gone:
            return []
        numbers = [f"{i + 1}" for i in gone]
        points = sum(unit.scheme[i].points for i in gone)
        items = Sentence("sentence.item" if len(gone) == 1 else "sentence.items", {"numbers": numbers})
        return [Sentence("sentence.lost", {"points": points, "items": items})]

    def _mark(self, answer, verdict, ids=(), sentences=(), read=None) -> Mark:
        out_of = self.out_of(answer.question, answer.case)
        if verdict == "undecided":
            points = None
        elif verdict == "correct":
            points = out_of
        elif verdict == "incorrect" and ids:
            points = self.points(answer.question, answer.case, ids)
        else:
            points = 0.0
        return Mark(answer, verdict, tuple(ids), points, out_of, tuple(sentences), read)

    # -- formulas ------------------------------------------------------------------------------------
    def _formula(self, answer) -> Mark:
        target = self.exam.target(answer.question)
        outcome = timebox.within(self.time_box, self._compare, answer, target)
        if outcome is timebox.EXPIRED:
            said = [Sentence("sentence.undecided", {"seconds": self.time_box})]
            return self._mark(answer, "undecided", sentences=said)
        if isinstance(outcome, Mark):
            return outcome
        return self._diagnose(answer, target, outcome)

    def _compare(self, answer, target):
        text, lhs = equation(answer.text)
        notes = [Sentence("sentence.read_lhs", {"lhs": Typed(lhs)})] if lhs else []
        try:
            r = reading.read(syntax.parse(text), target.vocab)
        except syntax.Unreadable as exc:
            return self._mark(answer, "invalid", sentences=[Sentence("sentence.invalid", {
                "column": str(exc.column), "message": Problem(exc)})])
        except reading.Meaningless as exc:
            return self._mark(answer, "incorrect", sentences=notes + [Sentence("sentence.meaningless",
                                                                              {"message": Problem(exc)})])
        read = Formula(r.expr, target.vocab.notation)
        case = CASES.get(answer.case)
        rows = target.case_rows(case)
        where = evaluation.frame(target.free, r.ranges, target.sizes, sizes=target.tensors.sizes)
        if where is None:
            return _Incorrect(r, None, None, None, tuple(notes + [self._incomparable(r, target)]))
        try:
            values = evaluation.evaluate(r.expr, target.tensors, where)
        except evaluation.Unevaluable as exc:
            if equivalence.proved(r.expr, self._reference(target, case), self._substitutions(target, case)):
                return self._mark(answer, "correct", sentences=notes + [Sentence("sentence.proved")], read=read)
            return self._mark(answer, "undecided", read=read, sentences=notes + [
                Sentence("sentence.unevaluable", {"reason": Typed(str(exc)[:120])})])
        agreement = equivalence.agree(values, target.reference(where), target.scale, rows)
        if agreement is not None and agreement.equal:
            said = notes + [self._correct(target, agreement, case)] + self._kink(target, where, rows)
            if equivalence.proved(r.expr, self._reference(target, case), self._substitutions(target, case)):
                said.append(Sentence("sentence.proved"))
            return self._mark(answer, "correct", sentences=said, read=read)
        if agreement is not None and agreement.differ == 0:
            return self._unsure(answer, target, r, agreement, notes, read, case)
        said = notes + self._differences(target, agreement, where, case)
        return _Incorrect(r, where, values, agreement, tuple(said))

    def _unsure(self, answer, target, r, agreement, notes, read, case) -> Mark:
        """No entry differs, but some have no value: cases left out, or 0/0 somewhere."""
        if any(isinstance(p, sp.Piecewise) and p.args[-1].cond != sp.true for p in r.expr.atoms(sp.Piecewise)):
            left = sorted({self._case_of(target, row) for row in agreement.rows_missing})
            said = notes + [Sentence("sentence.uncovered", {"cases": [self._case_words(target, c) for c in left]})]
            ids = ["margin_case"] if left == ["different_outside_margin"] else []
            if ids:
                said += [Sentence("sentence.recognised"), self._mistake(target, "margin_case")]
                said += self._lost(answer.question, ids)
            return self._mark(answer, "incorrect", ids, said, read)
        if equivalence.proved(r.expr, self._reference(target, case), self._substitutions(target, case)):
            return self._mark(answer, "correct", sentences=notes + [Sentence("sentence.proved")], read=read)
        return self._mark(answer, "undecided", read=read, sentences=notes + [
            Sentence("sentence.unevaluable", {"reason": Typed("0/0")})])

    def _diagnose(self, answer, target, found: _Incorrect) -> Mark:
        """Match an incorrect answer with the catalogue: single mistakes first, then pairs."""
        case = CASES.get(answer.case)
        rows = target.case_rows(case)
        matched = []
        for size in (1, 2):
            for combo in self._combinations(target):
                if len(combo) == size and self._matches(found, target, combo, rows):
                    matched.append(combo)
            if matched:
                break
        said = list(found.sentences)
        ids = list(dict.fromkeys(m.id for combo in matched for m in combo))
        if matched:
            for combo in matched:
                said.append(Sentence("sentence.recognised" if len(combo) == 1 else "sentence.recognised_two"))
                said += [self._mistake(target, m.id) for m in combo]
        else:
            said.append(Sentence("sentence.unrecognised"))
        said.append(Sentence("sentence.expected", {"formula": Formula(
            self._reference(target, case), target.vocab.notation, target.result.lhs)}))
        said += self._lost(answer.question, ids)
        return self._mark(answer, "incorrect", ids, said, Formula(found.reading.expr, target.vocab.notation))

    def _matches(self, found: _Incorrect, target, combo, rows) -> bool:
        expr, sizes = self._wrong(target, combo)
        if set(sizes) - set(target.free) != set(found.reading.ranges) - set(target.free):
            return False  # one depends on an index (a forgotten sum's k) that the other has not
        where = evaluation.frame(target.free, found.reading.ranges, sizes, sizes=target.tensors.sizes,
                                 fallback=target.sizes)
        if where is None:
            return False
        wrong = target.values(("mistake",) + tuple(m.id for m in combo), expr, where)
        mine = found.values if where == found.where else timebox.within(
            self.time_box, _evaluate_or_none, found.reading.expr, target.tensors, where)
        if mine is None or mine is timebox.EXPIRED:
            return False
        agreement = equivalence.agree(mine, wrong, target.scale, rows)
        return agreement is not None and agreement.equal

    def _combinations(self, target):
        return self._once(("combinations", target.question), lambda: tuple(catalogue.combinations(target)))

    def _wrong(self, target, combo):
        def make():
            expr = catalogue.formula(target, combo)
            return expr, evaluation.index_sizes(expr, target.vocab)
        return self._once(("wrong", target.question, tuple(m.id for m in combo)), make)

    # -- sentences -----------------------------------------------------------------------------------
    def _reference(self, target, case):
        if case is None:
            return target.result.expr
        return next(c.expr for c in target.result.cases if c.name == case)

    def _substitutions(self, target, case):
        if target.key == "kl":
            return ({graphs.scalar("rho"): graphs.RHO},)
        return tuple(subs for name, _, subs in derivation.hinge_cases() if case is None or name == case)

    def _case_of(self, target, row: int) -> str:
        return next(name for name, rows in target.tensors.rows.items() if row in rows)

    def _case_words(self, target, name: str) -> Case:
        return Case(next(c.condition for c in target.result.cases if c.name == name), target.vocab.notation)

    def _correct(self, target, agreement, case) -> Sentence:
        if target.key == "kl":
            return Sentence("sentence.correct_kl", {"entries": agreement.compared, "m": target.tensors.sizes[
                target.vocab.examples]})
        return Sentence("sentence.correct", {"entries": agreement.compared, "pairs": self._pairs(target, case)})

    def _kink(self, target, where, rows) -> list[Sentence]:
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

    def _pairs(self, target, case) -> Sentence:
        rows = target.tensors.rows
        if case is not None:
            return Sentence("sentence.case_only", {"count": len(rows[case]), "case": self._case_words(target, case)})
        parts = [Sentence("sentence.case_pairs", {"count": len(r), "case": self._case_words(target, name)})
                 for name, r in rows.items()]
        return Sentence("sentence.pairs", {"count": sum(len(r) for r in rows.values()), "cases": parts})

    def _differences(self, target, agreement, where, case) -> list[Sentence]:
        said = [Sentence("sentence.incorrect", {"differ": agreement.differ, "entries": agreement.compared})]
        if target.tensors.rows and case is None:
            wrong = {self._case_of(target, row) for row in agreement.rows_differ + agreement.rows_missing}
            right = [n for n in target.tensors.rows if n not in wrong]
            if right:
                said.append(Sentence("sentence.by_case", {
                    "right": [self._case_words(target, n) for n in right],
                    "wrong": [self._case_words(target, n) for n in target.tensors.rows if n in wrong]}))
        if agreement.worst is not None:
            row, entry, got, want = agreement.worst
            units_at = ", ".join(f"{x} = {int(evaluation.sample(n)[p]) + 1}" for (x, n), p in zip(where, entry))
            if target.tensors.rows:
                said.append(Sentence("sentence.example", {"pair": row + 1, "case": self._case_words(
                    target, self._case_of(target, row)), "entry": units_at, "got": got, "want": want}))
            else:
                said.append(Sentence("sentence.example_kl", {"entry": units_at, "got": got, "want": want}))
        return said

    def _incomparable(self, r, target) -> Sentence:
        mine, theirs = r.ranges, target.sizes
        counts = target.vocab.counts
        parts = [Sentence("sentence.index_counts", {"index": x.name, "have_counts": counts.get(mine[x], ""),
                                                    "want_of": counts.get(theirs[x], "")})
                 for x in target.free if x in mine and mine[x] != theirs[x]]
        weight = Formula(target.result.lhs.variables[0], target.vocab.notation)
        return Sentence("sentence.incomparable", {"weight": weight, "detail": parts})

    def _mistake(self, target, mistake_id: str) -> Sentence:
        return Sentence(f"mistake.{mistake_id}", self._placeholders(target))

    def _placeholders(self, target) -> dict:
        """The values catalogue.toml's feedback quotes, printed from the derivation's own objects."""
        return self._once(("placeholders", target.question), lambda: _placeholders(target))

    # -- numbers (Q3) --------------------------------------------------------------------------------
    def _number(self, answer) -> Mark:
        try:
            n = counting.number(answer.text)
        except syntax.Unreadable as exc:
            return self._mark(answer, "invalid", sentences=[Sentence("sentence.invalid", {
                "column": str(exc.column), "message": Problem(exc)})])
        found = self._explanations().get(n, [])
        right = [e for e in found if not e.mistakes]
        if right:
            by_sharing = [[e for e in right if e.shared == shared] for shared in (False, True)]
            readings = [self._convention(*es) for es in by_sharing if es]
            said = [Sentence("sentence.q3_correct", {"convention": readings[0]})]
            if len(readings) > 1:
                said.append(Sentence("sentence.q3_also", {"others": readings[1:]}))
            if all(e.shared for e in right):
                doubled = 2 * n
                said.append(Sentence("sentence.q3_one_branch", {"doubled": doubled}))
            return self._mark(answer, "correct", sentences=said, read=n)
        if not found:
            totals = sorted({t for t, es in self._explanations().items() if any(not e.mistakes for e in es)})
            said = [Sentence("sentence.q3_wrong", {"number": n, "totals": totals}),
                    Sentence("sentence.q3_unrecognised")]
            return self._mark(answer, "incorrect", sentences=said, read=n)
        fewest = len(found[0].mistakes)
        groups = {}
        for e in found:
            if len(e.mistakes) == fewest:
                groups.setdefault((e.shared, e.mistakes, e.detail), []).append(e)
        said, ids = [], []
        for es in list(groups.values())[:3]:
            key = "sentence.q3_reading" if len(es[0].mistakes) == 1 else "sentence.q3_reading_two"
            said.append(Sentence(key, {"convention": self._convention(*es)}))
            said += [self._miscount(es[0], m) for m in es[0].mistakes]
            ids += [m for m in es[0].mistakes if m not in ids]
        said += self._lost(answer.question, found[0].mistakes)
        mark = self._mark(answer, "incorrect", found[0].mistakes, said, n)
        return dataclasses.replace(mark, misconceptions=tuple(ids))

    def _explanations(self):
        return self._once("explanations", lambda: counting.explanations(self.exam.spec))

    def _convention(self, *es) -> Sentence:
        """The reading of the figure of one or more explanations that differ only by PReLU convention."""
        prelu = Choice(tuple(Sentence(f"sentence.prelu_{e.prelu}") for e in es))
        sharing = Sentence("sentence.tied" if es[0].shared else "sentence.untied")
        return Sentence("sentence.convention", {"sharing": sharing, "prelu": prelu})

    def _miscount(self, e, mistake: str) -> Sentence:
        layers = count(self.exam.spec)
        dense = next((c for c in layers if c.type == "dense"), None)
        values = {"n": e.missing, "lower": dense.name if dense else ""}
        if mistake == "flatten_size" and dense is not None:
            values.update(n=int(np.prod(dense.input_shape)), detail=Sentence(f"sentence.flatten_{e.detail}"))
        if mistake == "prelu_uncounted":
            values["n"] = sum(c.prelu for c in count(self.exam.spec, "channel"))
        return Sentence(f"mistake.{mistake}", values)


def _placeholders(target) -> dict:
    """The values catalogue.toml's feedback quotes, printed from the derivation's own objects."""
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


def _evaluate_or_none(expr, tensors, where):
    try:
        return evaluation.evaluate(expr, tensors, where)
    except evaluation.Unevaluable:
        return None


def _node(g, item):
    if isinstance(item, sp.Indexed):
        return g.nodes.get(item.base.label.name)
    if isinstance(item, sp.Symbol):
        return g.nodes.get(item.name)
    return None
