"""A property: any rewrite of the correct answer (expanded, factored, terms and factors reordered, summation
indices renamed consistently, typed in plain text, Unicode or LaTeX) stays correct, and a scaled one does not."""

import random

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import spec
from derive.grade import grader, questions, submissions
from derive.symbolic import printing

EXAM = questions.Exam(spec.default_spec())
MARKER = grader.Grader(EXAM)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LETTERS = "pqruvxyz"


class Typist:
    """Writes a SymPy expression as a student would type it, each choice drawn from a seeded random stream."""

    def __init__(self, vocab, rng):
        self.rng = rng
        self.names = {}
        for typed, q in sorted(vocab.quantities.items(), key=lambda kv: (len(kv[0]), kv[0])):
            self.names.setdefault(q.name, typed)
        self.batch = {q.name for q in vocab.quantities.values() if q.batch is not None}

    def write(self, e) -> str:
        r = self.rng
        if isinstance(e, sp.Sum):
            (x, _, _), = e.limits
            fresh = sp.Symbol(r.choice(LETTERS), integer=True, positive=True)
            body = e.function.xreplace({x: fresh})
            return f"sum_{fresh.name}({self.write(body)})"
        if isinstance(e, sp.Piecewise):
            rows = [f"{self.write(v)} if {self.cond(c)}" if c != sp.true else f"{self.write(v)} otherwise"
                    for v, c in e.args]
            return "{" + "; ".join(rows) + "}"
        if e.is_Add:
            terms = list(e.args)
            r.shuffle(terms)
            out = self.write(terms[0])
            for t in terms[1:]:
                out += r.choice([" + ", "+"]) + self.write(t)
            return out
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            if coeff.is_negative:
                return "-(" + self.write(-e) + ")"
            factors = list(sp.Mul.make_args(e))
            r.shuffle(factors)
            parts = [self.factor(f) for f in factors]
            return r.choice(["*", " * ", " "]).join(parts) if len(parts) > 1 else parts[0]
        if e.is_Pow:
            if e.exp == -1:
                return "1/(" + self.write(e.base) + ")"
            return "(" + self.write(e.base) + ")^" + self.write(e.exp)
        if e.is_Rational:
            return str(e) if e.is_Integer and e >= 0 else f"({e.p}/{e.q})" if e.q != 1 else f"({e})"
        if isinstance(e, sp.Indexed):
            name = e.base.label.name
            idx = [i.name for i in e.indices]
            if name in self.batch:
                return f"{self.names[name]}_{''.join(idx[1:])}^({idx[0]})"
            return f"{self.names[name]}_{''.join(idx)}"
        if isinstance(e, sp.Symbol):
            return self.names.get(e.name, e.name)
        raise TypeError(type(e))

    def factor(self, f) -> str:
        text = self.write(f)
        return f"({text})" if f.is_Add or isinstance(f, sp.Sum) or text.startswith("-") else text

    def cond(self, c) -> str:
        if isinstance(c, sp.And):
            return " and ".join(self.cond(a) for a in c.args)
        op = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[c.rel_op]
        return f"{self.write(c.lhs)} {op} {self.write(c.rhs)}"


REWRITES = {
    "as derived": lambda e: e,
    "expanded": sp.expand,
    "factored": sp.factor_terms,
    "piecewise folded": lambda e: sp.expand(sp.piecewise_fold(e)),
}


def grade(question, text, case=""):
    return MARKER.grade(submissions.Answer(1, "h", question, case, text))


@pytest.mark.slow
@pytest.mark.parametrize("question", ["ex1.q1", "ex1.q2", "ex1.q7"])
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), how=st.sampled_from(sorted(REWRITES)), scale=st.sampled_from([1, 2, -1]))
def test_a_rewrite_of_the_certified_answer_stays_correct(question, seed, how, scale):
    target = EXAM.target(question)
    expr = REWRITES[how](scale * target.result.expr)
    text = Typist(target.vocab, random.Random(seed)).write(expr)
    m = grade(question, text)
    if scale == 1:
        assert m.verdict == "correct", (text, m.sentences)
    else:
        assert m.verdict == "incorrect", text


@pytest.mark.slow
@pytest.mark.parametrize("case", list(questions.CASES))
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_a_rewrite_of_each_hinge_case_stays_correct(case, seed):
    target = EXAM.target("ex1.q2")
    expr = next(c.expr for c in target.result.cases if c.name == questions.CASES[case])
    text = Typist(target.vocab, random.Random(seed)).write(sp.expand(expr))
    assert grade("ex1.q2", text, case).verdict == "correct", text


@pytest.mark.parametrize("question", ["ex1.q1", "ex1.q2", "ex1.q7"])
def test_the_echo_and_the_sheets_latex_read_back_correct(question):
    target = EXAM.target(question)
    for text in (printing.text(target.result.expr, target.vocab.notation, "fr"),
                 printing.latex(target.result.expr, target.vocab.notation, "fr")):
        assert grade(question, text).verdict == "correct", text
