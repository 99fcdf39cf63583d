"""The students' answers: a UTF-8 CSV with the header student,question,answer[,case], or the same as JSON lines.

A spreadsheet's CSV may use semicolons or tabs and begin with a byte-order mark; other columns are
ignored. A file that cannot be read, a missing column, an unknown question or case, an empty student
name is a DeriveError naming the line; what a student wrote is never an error here (an empty or
unreadable answer is graded ``invalid``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from derive import spec as specs
from derive.errors import DeriveError, printable, quote
from derive.grade.questions import CASES, QUESTIONS

COLUMNS = ("student", "question", "answer")
MAX_BYTES = 2**26  # 64 MiB: thousands of students' answers; a larger file (or /dev/zero) is not a class's copies


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
    raw = specs.read_file(Path(path), "answers file", MAX_BYTES)  # a regular file: never a FIFO or a device
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeriveError(f"{printable(path)}: not UTF-8 (byte {exc.start + 1})") from None
    answers = parse(text, path)
    if not answers:
        raise DeriveError(f"{printable(path)}: no answers (expected the header {','.join(COLUMNS)}[,case] and rows)")
    return answers


def parse(text: str, name="answers") -> list[Answer]:
    """Answers from text (CSV, or JSON lines when it starts with '{'), named ``name`` in messages."""
    where = printable(name)
    if text.lstrip()[:1] == "[":
        raise DeriveError(f"{where}: a JSON array; write one object per line (JSON lines) or a CSV")
    rows = _json_lines(where, text) if text.lstrip()[:1] == "{" else _csv(where, text)
    return [_answer(where, line, row) for line, row in rows]


@contextlib.contextmanager
def _fields_up_to(limit: int):
    """csv's field limit raised for one read (its default, 128 KiB, is below what an answer may hold)."""
    saved = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(saved)


def _csv(path: str, text: str):
    with _fields_up_to(max(MAX_BYTES, len(text))):
        return _csv_rows(path, text)


def _csv_rows(path: str, text: str):
    head = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=head.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise DeriveError(f"{path}: line 1: {exc}") from None
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:  # which of the two columns is the answer? a guess would grade the wrong one
        raise DeriveError(f"{path}: line 1: the header names {', '.join(map(quote, twice))} twice")
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


def _json_lines(path: str, text: str):
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DeriveError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        except (ValueError, RecursionError):  # an integer of thousands of digits, arrays nested thousands deep
            raise DeriveError(f"{path}: line {number}: not an answer (a number too long or nesting too deep)") from None
        if not isinstance(row, dict):
            raise DeriveError(f"{path}: line {number}: expected an object with {', '.join(COLUMNS)}")
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise DeriveError(f"{path}: line {number}: no {', '.join(missing)}")
        out.append((number, row))
    return out


def _answer(path: str, line: int, row: dict) -> Answer:
    def field(name):
        v = row.get(name, "")
        if v is None:
            return ""
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise DeriveError(f"{path}: line {line}: '{name}' must be text")
        if isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:  # JSON's \ud800: no file, page or terminal can hold it
                raise DeriveError(f"{path}: line {line}: '{name}' holds a lone surrogate (not Unicode text)") from None
        return str(v)

    student, question = field("student").strip(), field("question").strip().lower()
    case = field("case").strip().lower()
    if not student:
        raise DeriveError(f"{path}: line {line}: no student")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in student):
        # a line break or an escape in a name would break the pages' headings and the grades table
        raise DeriveError(f"{path}: line {line}: the student {quote(student)} has a control character in the name")
    if question not in QUESTIONS:
        raise DeriveError(f"{path}: line {line}: unknown question {quote(question)} (expected {', '.join(QUESTIONS)})")
    if case and case not in CASES:
        raise DeriveError(f"{path}: line {line}: unknown case {quote(case)} (expected nothing, {', '.join(CASES)})")
    if case and question not in ("ex1.q1", "ex1.q2"):
        raise DeriveError(f"{path}: line {line}: {question} has no hinge cases (leave 'case' empty)")
    return Answer(line, student, question, case, field("answer"))
