"""Students' answers graded as expected: equivalent forms, each mistake alone and in pairs, cases, garbage,
hostile LaTeX, huge and deeply nested input; points from the marking scheme; other specs; the time box."""

import csv
import itertools
import time
from pathlib import Path

import pytest

from derive.grade import feedback, grader, submissions

COPIES = Path(__file__).with_name("copies.csv")
CORRECT_Q1 = "(s6_k - s6'_k)*s5_j*(1 - l - l*[D<1])"


def answer(question, text, case="", student="x"):
    return submissions.Answer(1, student, question, case, text)


def expected():
    with COPIES.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_test_set_is_large_and_covers_every_verdict_and_mistake():
    rows = expected()
    assert len(rows) >= 80
    assert {r["verdict"] for r in rows} >= {"correct", "incorrect", "invalid"}
    named = {m for r in rows for m in r["misconceptions"].split()}
    assert {"half_factor", "sign", "relu_derivative", "missing_sum", "margin_case", "norm_not_vector",
            "missing_label", "swapped_indices", "kl_first_term", "kl_missing_mean"} <= named
    assert sum(len(r["misconceptions"].split()) == 2 for r in rows) >= 8
    assert {r["case"] for r in rows} == {"", "same", "inside", "outside"}


@pytest.mark.slow
def test_every_answer_of_the_test_set_is_graded_as_expected(marker):
    wrong = []
    for a, row in zip(submissions.load(COPIES), expected()):
        m = marker.grade(a)
        if m.verdict != row["verdict"] or set(m.misconceptions) != set(row["misconceptions"].split()):
            wrong.append(f"{a.student}: {m.verdict} {m.misconceptions}, expected {row['verdict']} "
                         f"{row['misconceptions']}: {feedback.render(m.sentences)[:300]}")
    assert wrong == []


def test_a_correct_answer_earns_the_items_it_shows_and_a_case_a_third(marker):
    m = marker.grade(answer("ex1.q1", CORRECT_Q1))
    assert m.verdict == "correct" and m.points == m.out_of == 1.0   # chain rule, cases, result: 0.25 + 0.5 + 0.25
    part = marker.grade(answer("ex1.q1", "(s6_k - s6'_k)*s5_j", "same"))
    assert part.verdict == "correct" and part.points == pytest.approx(1 / 3)


def test_q2_is_compared_on_both_sides_of_the_prelu_kink(marker):
    right = "sum_k((s6_k-s6'_k)*w56_jk) * s4_i * ([o5_j>0] + a_j*[o5_j<=0]) * (1 - l - l*[D<1])"
    m = marker.grade(answer("ex1.q2", right))
    kink = next(s for s in m.sentences if s.key == "sentence.kink")
    assert kink.values["above"] > 50 and kink.values["below"] > 50
    assert "o⁽⁵⁾_j ≤ 0" in feedback.render(m.sentences, "en")


def test_a_mistake_loses_its_items_and_the_feedback_names_it(marker):
    m = marker.grade(answer("ex1.q1", "2*" + CORRECT_Q1))
    assert m.verdict == "incorrect" and m.misconceptions == ("half_factor",) and m.points == 0.75
    for lang, word in (("en", "twice"), ("fr", "double")):
        text = feedback.render(m.sentences, lang)
        assert word in text and "∂D⁽ᵗ⁾/∂s⁽⁶⁾_k = s⁽⁶⁾_k - s⁽⁶′⁾_k" in text
    none = marker.grade(answer("ex1.q1", "(s6_k + s6'_k)*s5_j"))
    assert none.verdict == "incorrect" and none.misconceptions == () and none.points == 0
    assert "grader" in feedback.render(none.sentences, "en")


def test_invalid_answers_say_where_and_nothing_raises(marker):
    for text in [r"\input{/etc/passwd}", "(s6_k", "", "s6_k ** ** 2", "\x00", "s6_k\n+\n", "🙂"]:
        m = marker.grade(answer("ex1.q1", text))
        assert m.verdict in ("invalid", "incorrect", "correct"), text
    m = marker.grade(answer("ex1.q1", "s6_k + $"))
    assert m.verdict == "invalid" and "column 8" in feedback.render(m.sentences, "en")
    assert "colonne 8" in feedback.render(m.sentences, "fr")


@pytest.mark.slow
def test_a_100_kB_expression_is_graded(marker):
    terms = [f"s^{{(5)}}_{{j}}^{{{a}}} s^{{(6)}}_{{k}}^{{{b}}} s^{{(6')}}_{{k}}^{{{c}}} l^{{{d}}}"
             for a, b, c, d in itertools.product(range(1, 17), range(1, 17), range(3), range(1, 4))]
    wrong = " + ".join(terms)
    right = CORRECT_Q1 + " + " + " + ".join(f"({t}) - ({t})" for t in terms[:1500])
    assert len(wrong) > 100_000 and len(right) > 100_000
    slow = grader.Grader(marker.exam, time_box=120)
    assert slow.grade(answer("ex1.q1", right)).verdict == "correct"
    assert slow.grade(answer("ex1.q1", wrong)).verdict == "incorrect"


def test_the_time_box_makes_a_long_answer_undecided_never_wrong(marker):
    terms = [f"s5_j^{a}*s6_k^{b}*s6'_k^{c}" for a, b, c in itertools.product(range(1, 17), range(1, 17), range(3))]
    hurried = grader.Grader(marker.exam, time_box=0.001)  # far below what comparing 768 terms takes
    start = time.monotonic()
    m = hurried.grade(answer("ex1.q1", " + ".join(terms)))
    assert m.verdict == "undecided" and m.points is None and time.monotonic() - start < 5
    assert "by hand" in feedback.render(m.sentences, "en")


def test_a_comparison_that_fails_leaves_that_answer_to_a_grader(exam, monkeypatch):
    fresh = grader.Grader(exam)

    def broken(*args):
        raise TypeError("a form nobody tried")

    monkeypatch.setattr(grader.equivalence, "agree", broken)
    m = fresh.grade(answer("ex1.q1", CORRECT_Q1))
    assert m.verdict == "undecided" and m.points is None
    assert "a form nobody tried" in feedback.render(m.sentences, "en")


def test_deep_nesting_is_refused_and_deep_parentheses_are_not(marker):
    assert marker.grade(answer("ex1.q1", "-" * 10_000 + "s5_j")).verdict == "invalid"
    assert marker.grade(answer("ex1.q1", "max(0, " * 300 + "s5_j" + ")" * 300)).verdict == "invalid"
    assert marker.grade(answer("ex1.q1", "(" * 5000 + CORRECT_Q1 + ")" * 5000)).verdict == "correct"


def test_other_layer_names(named):
    right = "(s^{(fc2)}_k - s^{(fc2')}_k) s^{(fc1)}_j (1 - l - l [D<1])"
    assert named.grade(answer("ex1.q1", right)).verdict == "correct"
    assert named.grade(answer("ex1.q1", "(s6_k - s6'_k) s5_j")).verdict == "invalid"
    q2 = ("(s^(fc2)_k - s^(fc2')_k) w^{(fc1,fc2)}_{jk} s^{(1)}_i ([o^{(fc1)}_j > 0] + a_j [o^{(L1)}_j <= 0])"
          " (1 - l - l [D<1])")
    assert named.grade(answer("ex1.q2", "sum_k(" + q2 + ")")).verdict == "invalid"  # o^{(1)}: L1 has no o here


@pytest.mark.slow
def test_other_layer_names_in_the_feedback(named):
    m = named.grade(answer("ex1.q2", "(s^(fc2)_k - s^(fc2')_k) w^{(fc1,fc2)}_{jk} s^{(L1)}_i [o^{(fc1)}_j > 0]"
                                     " (1 - l - l [D<1])"))
    assert m.verdict == "incorrect" and set(m.misconceptions) == {"missing_sum", "relu_derivative"}
    assert "fc1" in feedback.render(m.sentences, "en")


TIED_Q2 = ("(s1_i*([o5_j>0] + a*[o5_j<=0]) - s1'_i*([o5'_j>0] + a'*[o5'_j<=0]))"
           " * sum_k((s6_k - s6'_k)*w56_jk) * (1 - l - l*[D<1])")


def test_shared_weights_and_one_slope_per_layer(tied):
    both = "((s6_k - s6'_k)*s5_j - (s6_k - s6'_k)*s5'_j)*(1 - l - l*[D<1])"
    assert tied.grade(answer("ex1.q1", both)).verdict == "correct"
    assert tied.grade(answer("ex1.q2", TIED_Q2)).verdict == "correct"
    assert tied.grade(answer("ex1.q2", TIED_Q2.replace("a*", "a_j*"))).verdict == "invalid"  # one slope per layer


@pytest.mark.slow
def test_shared_weights_with_one_branchs_path_only(tied):
    one = tied.grade(answer("ex1.q1", CORRECT_Q1))
    assert one.verdict == "incorrect" and one.misconceptions == ("tied_not_summed",)
    assert one.points == tied.out_of("ex1.q1") - 0.25
    relu = tied.grade(answer("ex1.q2", TIED_Q2.replace("a*[o5_j<=0]", "0").replace("a'*[o5'_j<=0]", "0")))
    assert relu.verdict == "incorrect" and relu.misconceptions == ("relu_derivative",)


def test_identical_answers_get_identical_marks(marker):
    a = marker.grade(answer("ex1.q2", "sum_k((s6_k-s6'_k)*w56_jk) * s4_i * [o5_j>0] * (1 - l - l*[D<1])", student="a"))
    b = marker.grade(answer("ex1.q2", "sum_k((s6_k-s6'_k)*w56_jk) * s4_i * [o5_j>0] * (1 - l - l*[D<1])", student="b"))
    assert (a.verdict, a.misconceptions, a.points, a.sentences) == (b.verdict, b.misconceptions, b.points, b.sentences)
    assert b.answer.student == "b"
