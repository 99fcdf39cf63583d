"""The students' answers: a UTF-8 CSV with the header student,question,answer[,case], or the same as JSON lines.

A spreadsheet's CSV may use semicolons or tabs and begin with a byte-order mark; other columns are
ignored. A file that cannot be read, a missing column, an unknown question or case, an empty student
name is a DeriveError naming the line; what a student wrote is never an error here (an empty or
unreadable answer is graded ``invalid``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from derive.errors import DeriveError
from derive.grade.questions import CASES, QUESTIONS

COLUMNS = ("student", "question", "answer")


@dataclass(frozen=True)
class Answer:
    """One answer: where it was read (line), whose, to which question and hinge case, and its text."""

    line: int
    student: str
    question: str
    case: str          # "" (every case), "same", "inside" or "outside"
    text: str


def load(path) -> list[Answer]:
    """Every answer of a CSV or JSON-lines file, in file order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DeriveError(f"{path}: no such file") from None
    except OSError as exc:
        raise DeriveError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeriveError(f"{path}: not UTF-8 (byte {exc.start + 1})") from None
    answers = parse(text, path)
    if not answers:
        raise DeriveError(f"{path}: no answers (expected the header {','.join(COLUMNS)}[,case] and rows)")
    return answers


def parse(text: str, name="answers") -> list[Answer]:
    """Answers from text (CSV, or JSON lines when it starts with '{'), named ``name`` in messages."""
    path = Path(name)
    rows = _json_lines(path, text) if text.lstrip()[:1] == "{" else _csv(path, text)
    return [_answer(path, line, row) for line, row in rows]


def _csv(path: Path, text: str):
    head = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=head.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise DeriveError(f"{path}: line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DeriveError(f"{path}: line 1: the header lacks {', '.join(missing)} "
                          f"(expected {','.join(COLUMNS)}[,case])")
    out = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise DeriveError(f"{path}: line {line}: {len(row)} fields for {len(header)} columns "
                                  "(quote an answer that holds the separator)")
            out.append((line, dict(zip(header, row + [""] * (len(header) - len(row))))))
    except csv.Error as exc:
        raise DeriveError(f"{path}: line {reader.line_num}: {exc}") from None
    return out


def _json_lines(path: Path, text: str):
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DeriveError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DeriveError(f"{path}: line {number}: expected an object with {', '.join(COLUMNS)}")
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise DeriveError(f"{path}: line {number}: no {', '.join(missing)}")
        out.append((number, row))
    return out


def _answer(path: Path, line: int, row: dict) -> Answer:
    def field(name):
        v = row.get(name, "")
        if v is None:
            return ""
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise DeriveError(f"{path}: line {line}: '{name}' must be text")
        return str(v)

    student, question = field("student").strip(), field("question").strip().lower()
    case = field("case").strip().lower()
    if not student:
        raise DeriveError(f"{path}: line {line}: no student")
    if question not in QUESTIONS:
        raise DeriveError(f"{path}: line {line}: unknown question '{question}' (expected {', '.join(QUESTIONS)})")
    if case and case not in CASES:
        raise DeriveError(f"{path}: line {line}: unknown case '{case}' (expected nothing, {', '.join(CASES)})")
    if case and question not in ("ex1.q1", "ex1.q2"):
        raise DeriveError(f"{path}: line {line}: {question} has no hinge cases (leave 'case' empty)")
    return Answer(line, student, question, case, field("answer"))
