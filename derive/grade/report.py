"""``derive grade``: every answer graded, as text, JSON or CSV, with a page per student and a grades table.

``grade(path, spec, ...)`` reads the answers, grades each one (:mod:`derive.grade.grader`) and, with
``out``, writes one Markdown page per student and ``grades.csv`` / ``grades.md`` (per student, per
question, total) into that folder, all at once. The bytes depend only on the answers, the spec, the
seed and the language (the time box aside: an answer that needs longer is ``undecided``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from derive import prose
from derive.errors import DeriveError, printable
from derive.grade import feedback, grader, questions, submissions
from derive.grade.feedback import Formula
from derive.runtime import cache, output
from derive.symbolic import printing

FORMATS = ("text", "json", "csv")
FIELDS = ("student", "question", "case", "verdict", "misconceptions", "points", "out_of", "feedback", "read_as")


def grade(path, spec, shared: bool | None = None, lang: str = "en", seed: int = 0,
          time_box: float = grader.TIME_BOX, out=None, progress=None) -> Grades:
    """Grade every answer of a CSV or JSON-lines file; with ``out``, also write the pages and the grades table."""
    if lang not in ("fr", "en"):
        raise DeriveError(f"unknown language '{lang}' (expected fr or en)")
    if out is not None:
        cache.check_folder(out)
    answers = submissions.load(path)
    if out is not None:  # before the grading: a name that cannot be written, or the answers file overwritten
        names = [f"{n}.md" for n in page_names(a.student for a in answers).values()] + list(TABLES)
        output.check_targets(out, names)
        output.check_keeps(out, names, [path])
        _check_only_ours(out, names)
    marker = grader.Grader(questions.Exam(spec, shared, seed), time_box)
    marks = []
    for answer in answers:
        marks.append(marker.grade(answer))
        if progress is not None:
            progress(answer)
    grades = Grades(marks, lang, marker)
    if out is not None:
        grades.write(out)
    return grades


def word(key: str, lang: str, **values) -> str:
    """A word of the reports in one language."""
    return feedback.template(f"label.{key}", lang).format(**values)


@dataclass
class Grades:
    """The marks of a run, in input order, and everything written from them."""

    marks: list
    lang: str
    grader: object

    def rows(self) -> list[dict]:
        """One dict per answer with the stable keys of FIELDS."""
        return [self.row(m) for m in self.marks]

    def row(self, m, medium: str = "text") -> dict:
        """The fields of one mark (feedback in the run's language)."""
        return {"student": m.answer.student, "question": m.answer.question, "case": m.answer.case,
                "verdict": m.verdict, "misconceptions": list(m.misconceptions),
                "points": None if m.points is None else round(m.points, 4), "out_of": round(m.out_of, 4),
                "feedback": feedback.render(m.sentences, self.lang, medium), "read_as": read_as(m, self.lang, medium)}

    def render(self, fmt: str = "text") -> str:
        """Every answer as text (with a summary), JSON (a list of objects) or CSV (one row each)."""
        if fmt == "json":
            return json.dumps(self.rows(), indent=1, ensure_ascii=False) + "\n"
        if fmt == "csv":
            return _csv([FIELDS] + [[_cell(r[f], f == "student") for f in FIELDS] for r in self.rows()])
        if fmt != "text":
            raise DeriveError(f"unknown format '{fmt}' (expected one of {', '.join(FORMATS)})")
        lines = []
        for r in self.rows():
            case = word(r["case"] or "all_cases", self.lang)
            points = "-" if r["points"] is None else _points(r["points"], self.lang)
            lines.append(f"{r['student']}  {r['question']}  {case}  {word(r['verdict'], self.lang)}  "
                         f"{points} / {_points(r['out_of'], self.lang)}")
            if r["read_as"]:
                lines.append(f"    {word('read_as', self.lang)}{_colon(self.lang)}{r['read_as']}")
            lines.append(f"    {r['feedback']}")
            lines.append("")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """How many answers got each verdict."""
        n = {v: sum(m.verdict == v for m in self.marks) for v in grader.VERDICTS}
        recognised = sum(m.verdict == "incorrect" and bool(m.misconceptions) for m in self.marks)
        return word("summary", self.lang, answers=len(self.marks), recognised=recognised, **n)

    # -- per student ---------------------------------------------------------------------------------
    def students(self) -> list[str]:
        """The students, in the order of their first answer."""
        return list(dict.fromkeys(m.answer.student for m in self.marks))

    def question_points(self, student: str, question: str) -> tuple[float | None, bool]:
        """(points, to review) of one student's question: the best answer for every case, or the best
        answers of the three cases added up, whichever is more; None when nothing was answered."""
        mine = [m for m in self.marks if m.answer.student == student and m.answer.question == question]
        if not mine:
            return None, False
        best = {}
        for m in mine:
            have = best.get(m.answer.case)
            if have is None or (m.points or 0) > (have.points or 0):
                best[m.answer.case] = m
        whole = (best[""].points or 0) if "" in best else 0.0
        parts = sum((best[c].points or 0) for c in questions.CASES if c in best)
        counted = [best[""]] if whole >= parts and "" in best else [best[c] for c in questions.CASES if c in best]
        review = any(m.verdict in ("undecided", "invalid") or (m.verdict == "incorrect" and not m.misconceptions)
                     for m in counted)
        return round(max(whole, parts), 4), review

    def table(self) -> list[dict]:
        """Per student: the points of each question, the total, the most it could be, what to review."""
        rows = []
        for s in self.students():
            row, total, review = {"student": s}, 0.0, []
            for q in questions.QUESTIONS:
                points, check = self.question_points(s, q)
                row[q] = points
                total += points or 0
                if check:
                    review.append(q)
            row.update(total=round(total, 4), out_of=round(sum(self.grader.out_of(q) for q in questions.QUESTIONS), 4),
                       review=review)
            rows.append(row)
        return rows

    def grades_csv(self) -> str:
        """The grades table as CSV (points with a decimal point, as spreadsheets import them)."""
        head = ["student", *questions.QUESTIONS, "total", "out_of", "review"]
        body = [[_cell(r["student"], True), *("" if r[q] is None else f"{r[q]:.2f}" for q in questions.QUESTIONS),
                 f"{r['total']:.2f}", f"{r['out_of']:.2f}", " ".join(r["review"])] for r in self.table()]
        return _csv([head] + body)

    def grades_markdown(self) -> str:
        """The grades table as Markdown."""
        lang = self.lang
        head = [word("student", lang), *questions.QUESTIONS, word("total", lang), word("review", lang)]
        lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(questions.QUESTIONS) + 1) + "---|"]
        for r in self.table():
            cells = [feedback.markdown_escape(r["student"])]
            cells += ["–" if r[q] is None else _points(r[q], lang) for q in questions.QUESTIONS]
            cells += [f"{_points(r['total'], lang)} / {_points(r['out_of'], lang)}", ", ".join(r["review"])]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def page(self, student: str) -> str:
        """One student's feedback page (Markdown): each answer as typed, as read, its verdict and feedback."""
        lang, units = self.lang, self.grader.units
        out = [f"# {word('page_title', lang, student=feedback.markdown_escape(student))}", ""]
        total = 0.0
        for q in questions.QUESTIONS:
            mine = [m for m in self.marks if m.answer.student == student and m.answer.question == q]
            unit = units[q]
            out += [f"## {word('question', lang)} {unit.number} — {unit.title[lang]}", ""]
            points, _ = self.question_points(student, q)
            total += points or 0
            if not mine:
                out += [f"*{word('no_answer', lang)}*", ""]
                continue
            for m in mine:
                r = self.row(m, "markdown")
                case = word(m.answer.case or "all_cases", lang)
                fence = "`" * max(3, 1 + max((len(x) for x in re.findall(r"`+", m.answer.text)), default=0))
                out += [f"**{word('answer', lang)}** ({case}){_colon(lang).rstrip()}", "", fence + "text",
                        m.answer.text, fence, ""]
                if r["read_as"]:
                    out += [f"{word('read_as', lang).capitalize()}{_colon(lang)}{r['read_as']}", ""]
                got = "–" if m.points is None else _points(m.points, lang)
                scope = word("by_hand", lang, question=prose.points(unit.points, lang))
                out += [f"**{word('verdict', lang)}**{_colon(lang)}{word(m.verdict, lang)}, {got} / "
                        f"{_points(m.out_of, lang)} {word('points', lang)} ({scope}).", "", r["feedback"], ""]
        out += [f"**{word('total', lang)}**{_colon(lang)}{_points(round(total, 4), lang)} / "
                f"{_points(sum(self.grader.out_of(q) for q in questions.QUESTIONS), lang)}", ""]
        return "\n".join(out)

    def files(self) -> dict[str, str]:
        """Every file ``--out`` writes: a page per student, grades.csv and grades.md."""
        names = page_names(self.students())
        files = {f"{names[s]}.md": self.page(s) for s in self.students()}
        files[TABLES[0]] = self.grades_csv()
        files[TABLES[1]] = self.grades_markdown()
        return files

    def write(self, out) -> list:
        """Write the pages and the grades table into ``out``, all at once; returns the paths."""
        with output.staging(out, ".derive-grade-") as tmp:
            paths = [output.write_text(tmp / name, text) for name, text in sorted(self.files().items())]
            return output.move_into(paths, tmp, out)


TABLES = ("grades.csv", "grades.md")
STEM_LIMIT = 100  # characters of a name kept in its page's file name (file systems allow 255 bytes)


def page_names(students) -> dict[str, str]:
    """Each student's page file stem: the name in letters, digits, '.', '_' and '-', distinct without case."""
    names = {}
    for s in dict.fromkeys(students):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:STEM_LIMIT].strip("._") or "student"
        if stem.lower().startswith("grades"):  # the tables' names; a suffix would not change how it starts
            stem = f"student-{stem}"
        name, n = stem, 2
        while name.lower() in {v.lower() for v in names.values()}:
            name, n = f"{stem}-{n}", n + 1
        names[s] = name
    return names


def _check_only_ours(out, names) -> None:
    """Refuse to replace a file of ``out`` that this command did not write (a student named README...)."""
    from pathlib import Path

    langs = ("fr", "en")
    heads = {TABLES[0]: ("student,",), TABLES[1]: tuple(f"| {word('student', x)} |" for x in langs)}
    page = tuple("# " + word("page_title", x, student="") for x in langs)
    for name in names:
        target = Path(out) / name
        if not target.is_file():
            continue
        with open(target, "rb") as f:
            head = f.read(256).decode("utf-8", "replace")
        if head.strip() and not head.startswith(heads.get(name, page)):
            raise DeriveError(f"{printable(target)}: exists and was not written by derive grade (the output would "
                              "replace it); choose another --out")


def read_as(mark, lang: str, medium: str = "text") -> str:
    """What an answer was read as, printed in the exam's notation (a number as its digits)."""
    r = mark.read
    if r is None:
        return ""
    if isinstance(r, Formula):
        if medium == "markdown":
            return f"${printing.latex(r.expr, r.notation, lang)}$"
        return printing.text(r.expr, r.notation, lang)
    return str(r)


def _colon(lang: str) -> str:
    """A colon as each language sets it (French puts a space before it)."""
    return " : " if lang == "fr" else ": "


def _points(x: float, lang: str) -> str:
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "fr" else text


def _cell(v, typed: bool = False) -> str:
    """A CSV cell; a name a teacher typed that a spreadsheet would run as a formula (=, +, -, @) is quoted."""
    if v is None:
        return ""
    if isinstance(v, list):
        return " ".join(v)
    text = str(v)
    return "'" + text if typed and text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()
