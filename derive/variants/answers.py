"""What a machine can grade in a variant: its parameter count, and one gradient entry on a stated pair.

Both come from the code that grades students (:mod:`derive.grade`): the count's answers are the
totals of every reading of the figure and of the classic miscounts, each graded as a student's
answer would be; the gradient is the certified formula of Q1 evaluated on the certificate's own
pair of images, and its wrong answers are the catalogue's mistakes evaluated on the same pair.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from derive.grade import catalogue, counting, evaluation, feedback, findings, grader, questions, submissions
from derive.shapes import total_params

DIGITS = 6  # significant digits of the values the gradient question states
RELATIVE = 1e-3  # the tolerance of its answer, relative to the value, on top of the stated values' rounding
# Moodle only offers these grades (question_bank::fraction_options); a partial credit is rounded down to one.
FRACTIONS = (
    100,
    90,
    83.33333,
    80,
    75,
    70,
    66.66667,
    60,
    50,
    40,
    33.33333,
    30,
    25,
    20,
    16.66667,
    14.28571,
    12.5,
    11.11111,
    10,
    5,
    0,
)
OTHER_READING = 50  # the grade of a total counted under another reading of sharing or PReLU slopes


@dataclass(frozen=True)
class Choice:
    """One answer a numerical question recognises: its value, its grade (percent) and its feedback."""

    value: float
    fraction: float
    tolerance: float
    feedback: str  # Markdown with $...$ math
    mistakes: tuple = ()


@dataclass(frozen=True)
class Gradient:
    """Q1's gradient entry on one pair: the indices, the stated values, and what answers mean."""

    j: int  # from 1, as the exam writes indices
    k: int
    case: str  # the pair's hinge case
    given: tuple  # (LaTeX name, value) pairs, in the order the question states them
    choices: tuple  # the correct answer first
    formula: str  # the certified formula, as general feedback (Markdown)


def count_choices(spec, lang: str) -> tuple[Choice, ...]:
    """The totals Q3 recognises: the spec's (full marks), other readings (partial), classic miscounts."""
    marker = grader.Grader(questions.Exam(spec))
    found = counting.explanations(spec)
    out = []
    for n in sorted(found, key=lambda n: (n != total_params(spec), n)):
        mark = marker.grade(submissions.Answer(0, "", "ex1.q3", "", str(n)))
        right = any(not e.mistakes and e.shared == spec.shared_weights and e.prelu == spec.prelu for e in found[n])
        if right:
            fraction = 100.0
        elif mark.verdict == "correct":
            fraction = OTHER_READING
        else:
            fraction = moodle_fraction(100 * (mark.points or 0) / mark.out_of)
        out.append(
            Choice(
                float(n), fraction, 0.0, feedback.render(mark.sentences, lang, "markdown"), tuple(mark.misconceptions)
            )
        )
    return tuple(out)


def moodle_fraction(percent: float) -> float:
    """The largest grade Moodle offers that does not exceed ``percent``."""
    return next(f for f in FRACTIONS if f <= percent + 1e-9)


def gradient(spec, lang: str, seed: int = 0) -> Gradient:
    """Q1's ∂L/∂w⁽⁵⁶⁾_jk on one pair of the certificate, with the values a student needs to compute it."""
    exam = questions.Exam(spec, seed=seed)
    target = exam.target("ex1.q1")
    where = evaluation.frame(target.free, target.sizes, sizes=target.tensors.sizes)
    exact = target.reference(where)
    rows = [int(r) for case in ("same", "different_inside_margin") for r in target.case_rows(case)]
    pick = _Picker(spec, seed)
    row = rows[pick("pair", len(rows))]
    j_units, k_units = (evaluation.sample(n) for _, n in where)
    # the unit of the upper layer with the largest difference of outputs: its value is not lost to rounding
    s = _outputs(target)
    values = target.tensors.values
    delta = np.abs(values[s["upper"]][row, k_units] - values[s["upper'"]][row, k_units])
    kk = int(np.argsort(-delta, kind="stable")[pick("k", max(1, len(k_units) // 4))])
    jj = pick("j", len(j_units))
    value = float(exact[row, jj, kk])
    j, k = int(j_units[jj]), int(k_units[kk])
    given = _given(target, row, j, k)
    tolerance = _tolerance(target, given, value)
    case = next(c for c in ("same", "different_inside_margin") if row in target.case_rows(c))
    choices = [Choice(_round(value), 100.0, tolerance, "")]
    for m in catalogue.applicable(target):
        wrong = _wrong_value(target, m, where, row, jj, kk)
        if wrong is None or any(abs(wrong - c.value) <= 3 * max(tolerance, c.tolerance) for c in choices):
            continue  # the same number as an answer already listed: it says nothing of the mistake
        text = feedback.render([findings.mistake(target, m.id)], lang, "markdown")
        choices.append(Choice(_round(wrong), 0.0, tolerance, text, (m.id,)))
    expected = feedback.Sentence(
        "sentence.expected",
        {"formula": feedback.Formula(findings.reference(target, None), target.vocab.notation, target.result.lhs)},
    )
    return Gradient(j + 1, k + 1, case, given, tuple(choices), feedback.render([expected], lang, "markdown"))


def _outputs(target) -> dict:
    """The graph's names of the two dense layers' outputs in each branch (lower, lower', upper, upper')."""
    g = target.result.graph
    _, lower, upper = g.top
    found = {}
    for role, layer in (("lower", lower), ("upper", upper)):
        for mark in ("", "'"):
            found[role + mark] = next(
                n.name for n in g.nodes.values() if n.layer == layer + mark and n.kind not in ("param", "dense")
            )
    return found


def _given(target, row: int, j: int, k: int) -> tuple:
    v, s = target.tensors.values, _outputs(target)
    names = target.vocab.notation
    out = [("l", float(v["l"][row])), ("D", float(v["D"][row]))]
    out += [
        (_name(names, s[role], index), float(v[s[role]][row, i]))
        for role, index, i in (("upper", "k", k), ("upper'", "k", k), ("lower", "j", j), ("lower'", "j", j))
        if target.shared or role != "lower'"
    ]
    return tuple((name, _round(x)) for name, x in out)


def _name(notation: dict, internal: str, index: str) -> str:
    letter, label, _ = notation[internal]
    return f"{letter}^{{({label})}}_{{{index}}}"


def _tolerance(target, given, exact: float) -> float:
    """Rounding of the stated values, propagated to the formula, plus RELATIVE of the value."""
    values = dict(given)
    l, d = values["l"], values["D"]
    delta = 1.0 if l == 0 else (-1.0 if d < 1 else 0.0)
    names = list(values)
    s6, s6p, s5 = (values[n] for n in names[2:5])
    factor = s5 - values[names[5]] if target.shared else s5
    from_given = delta * (s6 - s6p) * factor
    return _round(abs(from_given - exact) + RELATIVE * abs(exact))


def _wrong_value(target, mistake, where, row, jj, kk) -> float | None:
    """The catalogue's wrong formula at the same entry, or None when it has no value there."""
    try:
        expr = catalogue.formula(target, (mistake,))
        sizes = evaluation.index_sizes(expr, target.vocab)
        if set(sizes) - set(target.free):
            return None  # a formula with an index of its own (a sum forgotten) has no single value here
        values = evaluation.evaluate(expr, target.tensors, where)
    except (evaluation.Unevaluable, ValueError, TypeError):
        return None
    out = float(np.broadcast_to(values, values.shape)[row if values.shape[0] > 1 else 0, jj, kk])
    return out if math.isfinite(out) else None


def _round(x: float) -> float:
    return float(f"{x:.{DIGITS}g}")


class _Picker:
    """Seeded choices of a variant's gradient question (a hash, as the family's draws)."""

    def __init__(self, spec, seed: int):
        from derive.spec import to_toml

        self.prefix = hashlib.sha256(f"{seed}\n{to_toml(spec)}".encode()).hexdigest()

    def __call__(self, name: str, n: int) -> int:
        digest = hashlib.sha256(f"{self.prefix}:{name}".encode()).digest()
        return int.from_bytes(digest, "big") % n
