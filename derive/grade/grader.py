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

from derive.grade import catalogue, counting, equivalence, evaluation, findings, reading, syntax, timebox
from derive.grade.feedback import Formula, Problem, Sentence, Typed
from derive.grade.questions import CASES
from derive.sheet import units

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
        self.units = {u.id: u for u in units.for_spec(exam.spec)}
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
            try:
                self._memo[key] = self._number(answer) if answer.question == "ex1.q3" else self._formula(answer)
            except (ArithmeticError, ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError,
                    MemoryError, NotImplementedError) as exc:
                # SymPy can fail on forms nobody tried: that one copy goes to a grader, the others are marked
                said = [Sentence("sentence.failed", {"reason": Typed(f"{type(exc).__name__}: {exc}"[:120])})]
                self._memo[key] = self._mark(answer, "undecided", sentences=said)
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
            return _Incorrect(r, None, None, None, tuple(notes + [findings.incomparable(r, target)]))
        try:
            values = evaluation.evaluate(r.expr, target.tensors, where)
        except evaluation.Unevaluable as exc:
            if equivalence.proved(r.expr, findings.reference(target, case), findings.substitutions(target, case)):
                return self._mark(answer, "correct", sentences=notes + [Sentence("sentence.proved")], read=read)
            return self._mark(answer, "undecided", read=read, sentences=notes + [
                Sentence("sentence.unevaluable", {"reason": Typed(str(exc)[:120])})])
        agreement = equivalence.agree(values, target.reference(where), target.scale, rows)
        if agreement is not None and agreement.equal:
            said = notes + [findings.correct(target, agreement, case)] + findings.kink(target, where, rows)
            if equivalence.proved(r.expr, findings.reference(target, case), findings.substitutions(target, case)):
                said.append(Sentence("sentence.proved"))
            return self._mark(answer, "correct", sentences=said, read=read)
        if agreement is not None and agreement.differ == 0:
            return self._unsure(answer, target, r, agreement, notes, read, case)
        said = notes + findings.differences(target, agreement, where, case)
        return _Incorrect(r, where, values, agreement, tuple(said))

    def _unsure(self, answer, target, r, agreement, notes, read, case) -> Mark:
        """No entry differs, but some have no value: cases left out, or 0/0 somewhere."""
        if any(isinstance(p, sp.Piecewise) and p.args[-1].cond != sp.true for p in r.expr.atoms(sp.Piecewise)):
            left = sorted({findings.case_of(target, row) for row in agreement.rows_missing})
            said = notes + [Sentence("sentence.uncovered", {"cases": [findings.case_words(target, c) for c in left]})]
            ids = ["margin_case"] if left == ["different_outside_margin"] else []
            if ids:
                said += [Sentence("sentence.recognised"), findings.mistake(target, "margin_case")]
                said += self._lost(answer.question, ids)
            return self._mark(answer, "incorrect", ids, said, read)
        if equivalence.proved(r.expr, findings.reference(target, case), findings.substitutions(target, case)):
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
                said += [findings.mistake(target, m.id) for m in combo]
        else:
            said.append(Sentence("sentence.unrecognised"))
        said.append(Sentence("sentence.expected", {"formula": Formula(
            findings.reference(target, case), target.vocab.notation, target.result.lhs)}))
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
            readings = [findings.convention(*es) for es in by_sharing if es]
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
            said.append(Sentence(key, {"convention": findings.convention(*es)}))
            said += [findings.miscount(self.exam.spec, es[0], m) for m in es[0].mistakes]
            ids += [m for m in es[0].mistakes if m not in ids]
        said += self._lost(answer.question, found[0].mistakes)
        mark = self._mark(answer, "incorrect", found[0].mistakes, said, n)
        return dataclasses.replace(mark, misconceptions=tuple(ids))

    def _explanations(self):
        return self._once("explanations", lambda: counting.explanations(self.exam.spec))

def _evaluate_or_none(expr, tensors, where):
    try:
        return evaluation.evaluate(expr, tensors, where)
    except evaluation.Unevaluable:
        return None
