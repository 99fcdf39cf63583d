"""derive grade on the command line: text, JSON and CSV, pages and grades table, deterministic bytes, bad input."""

import json

import pytest
from click.testing import CliRunner

from derive.cli import cli

ANSWERS = """student,question,case,answer
ana,ex1.q1,,"(s6_k - s6'_k)*s5_j*(1 - l - l*[D<1])"
ana,ex1.q3,,2 245 760
ana,ex1.q7,,"beta*(-rho/rhohat_g + (1-rho)/(1-rhohat_g))*mean(s5_f)"
"Ben O'Neil",ex1.q1,same,"(s6_k - s6'_k) s5_j"
"Ben O'Neil",ex1.q1,inside,"-(s6_k - s6'_k) s5_j"
"Ben O'Neil",ex1.q3,,2244800
"Ben O'Neil",ex1.q2,,"\\input{/etc/passwd}"
"""


def run(*args, answers=ANSWERS, tmp_path=None, name="copies.csv"):
    path = tmp_path / name
    path.write_text(answers, encoding="utf-8")
    return CliRunner().invoke(cli, ["grade", str(path), *args])


def test_text_output_with_a_summary(tmp_path):
    out = run("--lang", "en", tmp_path=tmp_path)
    assert out.exit_code == 0, out.output
    assert "ana  ex1.q1  every case  correct  1 / 1" in out.output
    assert "read as: (s⁽⁶⁾_k - s⁽⁶′⁾_k)" in out.output
    assert "7 answers: 5 correct, 1 incorrect (1 with a recognised mistake), 0 undecided, 1 unreadable." in out.output


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One run with --format json --out: (its output, the folder)."""
    tmp = tmp_path_factory.mktemp("graded")
    out = run("--format", "json", "--out", str(tmp / "feedback"), tmp_path=tmp)
    assert out.exit_code == 0, out.output
    return out.output, tmp / "feedback"


def test_json_and_csv_have_the_stable_keys(graded, tmp_path):
    data = json.loads(graded[0])
    assert [set(r) for r in data] == [{"student", "question", "case", "verdict", "misconceptions", "points", "out_of",
                                       "feedback", "read_as"}] * 7
    assert data[5]["misconceptions"] == ["biases_forgotten"] and data[5]["points"] == 0.5
    assert data[6]["verdict"] == "invalid" and "\\input" in data[6]["feedback"]
    lines = run("--format", "csv", tmp_path=tmp_path).output.splitlines()
    assert lines[0] == "student,question,case,verdict,misconceptions,points,out_of,feedback,read_as"
    assert len(lines) == 8


def test_out_writes_a_page_per_student_and_the_grades_table(graded):
    folder = graded[1]
    assert sorted(p.name for p in folder.iterdir()) == ["Ben_O_Neil.md", "ana.md", "grades.csv", "grades.md"]
    grades = (folder / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert grades[0] == "student,ex1.q1,ex1.q2,ex1.q3,ex1.q7,total,out_of,review"
    assert grades[1] == "ana,1.00,,1.00,0.75,2.75,4.00,"
    assert grades[2].startswith("Ben O'Neil,0.67,0.00,0.50,,1.17,4.00,ex1.q2")
    page = (folder / "Ben_O_Neil.md").read_text(encoding="utf-8")
    assert "# Copie de Ben O'Neil" in page and "```text\n\\input{/etc/passwd}\n```" in page
    assert "$\\left(s^{(6)}_{k} - s^{(6')}_{k}\\right) s^{(5)}_{j}$" in page


def test_the_bytes_are_the_same_from_run_to_run(graded, tmp_path):
    again = run("--format", "json", "--out", str(tmp_path / "again"), tmp_path=tmp_path)
    assert again.output == graded[0]
    first, second = graded[1], tmp_path / "again"
    assert {p.name: p.read_bytes() for p in first.iterdir()} == {p.name: p.read_bytes() for p in second.iterdir()}


def test_a_name_a_spreadsheet_would_run_is_quoted_in_the_csv(tmp_path):
    answers = 'student,question,answer\n"=HYPERLINK(""http://x"")",ex1.q3,1122880\n'
    out = run("--format", "csv", answers=answers, tmp_path=tmp_path)
    assert out.output.splitlines()[1].startswith("\"'=HYPERLINK(")


def test_json_lines_are_read_like_csv(tmp_path):
    lines = "\n".join(json.dumps(r) for r in [
        {"student": "c", "question": "ex1.q3", "answer": "1122880"},
        {"student": "c", "question": "ex1.q1", "case": "outside", "answer": "0"}]) + "\n"
    data = json.loads(run("--format", "json", answers=lines, tmp_path=tmp_path, name="copies.jsonl").output)
    assert [r["verdict"] for r in data] == ["correct", "correct"]


@pytest.mark.parametrize("answers, message", [
    ("name,question,answer\nx,ex1.q1,0\n", "line 1: the header lacks student"),
    ("student,question,answer\nx,ex1.q9,0\n", "line 2: unknown question 'ex1.q9'"),
    ("student,question,case,answer\nx,ex1.q1,maybe,0\n", "line 2: unknown case 'maybe'"),
    ("student,question,case,answer\nx,ex1.q3,same,0\n", "line 2: ex1.q3 has no hinge cases"),
    ("student,question,answer\n,ex1.q1,0\n", "line 2: no student"),
    ("student,question,answer\n", "no answers"),
    ('{"student": "x"}\n', "line 1: no question, answer"),
    ("{not json\n", "line 1: not JSON"),
    ("student,student,question,answer\na,b,ex1.q3,1\n", "line 1: the header names 'student' twice"),
    ('[{"student": "a", "question": "ex1.q3", "answer": "1"}]\n', "a JSON array; write one object per line"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, answers, message):
    out = run(answers=answers, tmp_path=tmp_path)
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_a_missing_file_or_an_output_folder_that_is_a_file(tmp_path):
    out = CliRunner().invoke(cli, ["grade", str(tmp_path / "nothing.csv")])
    assert out.exit_code == 2 and "no such answers file" in out.output
    (tmp_path / "taken").write_text("x")
    out = run("--out", str(tmp_path / "taken"), tmp_path=tmp_path)
    assert out.exit_code == 2 and "exists and is not a folder" in out.output
    (tmp_path / "latin1.csv").write_bytes("student,question,answer\né,ex1.q3,1\n".encode("latin-1"))
    out = CliRunner().invoke(cli, ["grade", str(tmp_path / "latin1.csv")])
    assert out.exit_code == 2 and "not UTF-8" in out.output


@pytest.mark.parametrize("answers, message", [
    ('{"student": "a", "question": "ex1.q3", "answer": ' + "1" * 5000 + "}\n", "line 1: not an answer"),
    ('{"student": "a", "question": "ex1.q3", "answer": ' + "[" * 100000 + "]" * 100000 + "}\n",
     "line 1: not an answer"),
    ('{"student": "a\\ud800", "question": "ex1.q3", "answer": "1"}\n', "'student' holds a lone surrogate"),
    ('{"student": "a", "question": "ex1.q3", "answer": "1\\udfff"}\n', "'answer' holds a lone surrogate"),
    ('student,question,answer\n"a\n# b",ex1.q3,1\n', "line 3: the student 'a\\n# b' has a control character"),
    ("student,question,answer\na\x1b[31m,ex1.q3,1\n", "control character"),
    ("student,question,answer\na,\x1b[31mex1.q9,1\n", "unknown question '\\x1b[31mex1.q9'"),
])
def test_hostile_rows_are_one_line_and_exit_2(tmp_path, answers, message):
    out = run("--out", str(tmp_path / "out"), answers=answers, tmp_path=tmp_path, name="copies.jsonl")
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output, out.output
    assert len(out.output.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_an_answer_longer_than_csvs_default_field_is_graded_not_refused(tmp_path):
    answers = f"student,question,answer\na,ex1.q1,{'s' * 150_000}\nb,ex1.q3,2245760\n"
    data = json.loads(run("--format", "json", answers=answers, tmp_path=tmp_path).output)
    assert [r["verdict"] for r in data] == ["invalid", "correct"]


@pytest.mark.parametrize("kind", ["fifo", "device", "too large"])
def test_the_answers_must_be_a_regular_file_of_bounded_size(tmp_path, kind, monkeypatch):
    import os

    from derive.grade import submissions

    path = tmp_path / "copies.csv"
    if kind == "fifo":
        os.mkfifo(path)  # with no writer: reading it would wait forever
    elif kind == "device":
        path = "/dev/zero"  # reading it would fill the memory
    else:
        monkeypatch.setattr(submissions, "MAX_BYTES", 100)
        path.write_text("student,question,answer\n" + "a,ex1.q3,1\n" * 20)
    out = CliRunner().invoke(cli, ["grade", str(path)])
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output


def test_out_never_replaces_the_answers_file(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    page = '{"student": "ana", "question": "ex1.q3", "answer": "1"}\n'
    for name, text in [("grades.csv", ANSWERS), ("ana.md", page)]:
        (folder / name).write_text(text, encoding="utf-8")
        out = CliRunner().invoke(cli, ["grade", str(folder / name), "--out", str(folder)])
        assert out.exit_code == 2 and "is the input file" in out.output, out.output
        assert (folder / name).read_text(encoding="utf-8") == text
    assert sorted(p.name for p in folder.iterdir()) == ["ana.md", "grades.csv"]


def test_out_empty_or_a_name_too_long_for_a_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run("--out", "", tmp_path=tmp_path)
    assert out.exit_code == 2 and "empty folder name" in out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copies.csv"]
    answers = f"student,question,answer\n{'x' * 300},ex1.q3,1\n{'x' * 300}y,ex1.q3,1\n"
    out = run("--out", "pages", answers=answers, tmp_path=tmp_path)
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == [
        "grades.csv", "grades.md", "x" * 100 + "-2.md", "x" * 100 + ".md"]


def test_an_overflowing_answer_prints_nothing_on_stderr(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "copies.csv"
    path.write_text('student,question,answer\na,ex1.q1,"exp(exp(exp(exp(1000))))"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "derive", "grade", str(path), "--format", "json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)[0]["verdict"] in ("undecided", "incorrect")


def test_out_replaces_its_own_files_but_no_other(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "README.md").write_text("# The course\n", encoding="utf-8")
    answers = "student,question,answer\nREADME,ex1.q3,1\n"
    out = run("--out", str(folder), answers=answers, tmp_path=tmp_path)
    assert out.exit_code == 2 and "was not written by derive grade" in out.output, out.output
    assert sorted(p.name for p in folder.iterdir()) == ["README.md"]
    (folder / "README.md").unlink()
    for _ in range(2):  # a second run replaces the first one's page and tables
        out = run("--out", str(folder), "--lang", "en", answers=answers, tmp_path=tmp_path)
        assert out.exit_code == 0, out.output
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "grades.csv", "grades.md"]


def test_a_student_named_like_the_grades_tables_gets_a_page_of_their_own(tmp_path):
    import threading

    from derive.grade import report

    names = {}
    worker = threading.Thread(target=lambda: names.update(report.page_names(
        ["grades", "Grades.csv", "grades", "ana", "Ana"])), daemon=True)  # it once looped for ever
    worker.start()
    worker.join(timeout=10)
    assert names == {"grades": "student-grades", "Grades.csv": "student-Grades.csv", "ana": "ana", "Ana": "Ana-2"}
