"""Benchmark of derive grade: 100 students x 4 answers (Q1, Q2, Q3, Q7), graded in one run, beside SymPy's
``simplify(a - b) == 0`` on the same (answer, certified answer) pairs, in the same process.

The copies are drawn (seeded) from the test set tests/grade/copies.csv: correct answers in many forms,
each classic mistake, pairs of them, garbage; each drawn answer is retyped (spacing, a summation
index renamed, ``*`` or juxtaposition) so that few students hand in the same text. Prints the wall and
CPU time of the whole run (the tensors, derivations and catalogue included), per answer, and the same
for simplify, each of its comparisons limited to SIMPLIFY_SECONDS.

    python tests/bench_grade.py            # 100 students
    python tests/bench_grade.py 20         # fewer
"""

from __future__ import annotations

import csv
import os
import random
import re
import sys
import time
from pathlib import Path

import sympy as sp

from derive import spec
from derive.grade import counting, grader, questions, reading, report, syntax, timebox
from derive.shapes import total_params

SEED = 2019
SIMPLIFY_SECONDS = 2.0
COPIES = Path(__file__).parent / "grade" / "copies.csv"


def retype(text: str, rng: random.Random) -> str:
    """The same answer typed by another hand: a summation index renamed, other spacing and products."""
    m = re.search(r"sum_([a-z])\(", text)
    if m and rng.random() < 0.5:
        old, new = m.group(1), rng.choice("pqruv")
        text = re.sub(rf"(?<![A-Za-z]){old}(?![A-Za-z0-9(])", new, text.replace(f"sum_{old}(", f"sum_{new}("))
    if rng.random() < 0.5:
        text = text.replace(" - ", "-").replace(" + ", "+")
    if rng.random() < 0.3 and "\\" not in text:
        text = text.replace(")*", ") ")
    return text.strip() + " " * rng.randrange(3)


def copies(students: int) -> str:
    """A CSV of `students` copies with one answer to each of Q1, Q2, Q3 and Q7 (a case split now and then)."""
    with COPIES.open(encoding="utf-8", newline="") as f:
        pool = list(csv.DictReader(f))
    by_question = {q: [r for r in pool if r["question"] == q] for q in questions.QUESTIONS}
    rng = random.Random(SEED)
    rows = [["student", "question", "case", "answer"]]
    for n in range(students):
        for q in questions.QUESTIONS:
            r = rng.choice(by_question[q])
            text = r["answer"] if q == "ex1.q3" else retype(r["answer"], rng)
            rows.append([f"student{n + 1:03d}", q, r["case"], text])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"derive-bench-grade-{os.getpid()}.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def simplify_baseline(grades, exam) -> dict:
    """simplify(a - b) == 0 for every answer that reads, against the certified answer of its question and case."""
    done = {"pairs": 0, "equal": 0, "not_equal": 0, "no_answer": 0, "agree": 0, "missed": 0, "conflict": 0,
            "wall": 0.0, "cpu": 0.0}
    wall, cpu = time.perf_counter(), time.process_time()
    for m in grades.marks:
        a = m.answer
        if m.verdict == "invalid":
            continue
        if a.question == "ex1.q3":  # against the spec's own total (simplify knows one reading of the figure)
            left, right = sp.Integer(counting.number(a.text)), sp.Integer(total_params(exam.spec))
        else:
            target = exam.target(a.question)
            try:
                left = reading.read(syntax.parse(grader.equation(a.text)[0]), target.vocab).expr
            except (syntax.Unreadable, reading.Meaningless):
                continue
            case = questions.CASES.get(a.case)
            right = target.result.expr if case is None else next(c.expr for c in target.result.cases
                                                                 if c.name == case)
        done["pairs"] += 1
        said = timebox.within(SIMPLIFY_SECONDS, lambda x, y: bool(sp.simplify(x - y) == 0), left, right)
        if said is timebox.EXPIRED:
            done["no_answer"] += 1
            continue
        done["equal" if said else "not_equal"] += 1
        done["agree"] += said == (m.verdict == "correct")
        done["missed"] += not said and m.verdict == "correct"       # a correct answer simplify does not see equal
        done["conflict"] += said and m.verdict != "correct"         # equal for simplify, not for derive grade
    done["wall"], done["cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    return done


def main(students: int = 100) -> None:
    path = copies(students)
    net = spec.default_spec()
    load = os.getloadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    grades = report.grade(path, net, lang="en")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(grades.marks)
    distinct = len({(m.answer.question, m.answer.case, m.answer.text) for m in grades.marks})
    verdicts = {v: sum(m.verdict == v for m in grades.marks) for v in grader.VERDICTS}
    print(f"derive grade: {students} students x 4 answers = {n} answers ({distinct} distinct texts), default spec")
    print(f"  whole run (tensors, derivations, catalogue included): {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"(target: 30 s)")
    print(f"  per answer: {1000 * wall / n:.1f} ms wall, {1000 * cpu / n:.1f} ms CPU")
    print("  verdicts: " + ", ".join(f"{v} {k}" for k, v in verdicts.items()))
    base = simplify_baseline(grades, questions.Exam(net))
    pairs = base["pairs"] or 1
    print(f"SymPy simplify(a - b) == 0 on the same pairs (each limited to {SIMPLIFY_SECONDS:g} s): {base['pairs']} "
          f"pairs in {base['wall']:.2f} s wall, {base['cpu']:.2f} s CPU")
    print(f"  per pair: {1000 * base['wall'] / pairs:.1f} ms wall, {1000 * base['cpu'] / pairs:.1f} ms CPU")
    print(f"  says equal {base['equal']}, not equal {base['not_equal']}, no answer in time {base['no_answer']}; "
          f"agrees with derive grade on {base['agree']} of {base['pairs']}")
    print(f"  of derive grade's correct answers, simplify does not find {base['missed']} equal (among them Q3 totals "
          f"of another reading of the figure); it finds {base['conflict']} equal that derive grade does not")
    print(f"  ratio, simplify per pair / derive grade per answer: {base['wall'] / pairs / (wall / n):.1f} (wall)")
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    os.unlink(path)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
