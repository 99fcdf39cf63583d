"""The sheet end to end: every question in every format, reproducible bytes, atomic writes, docs/ up to date."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from derive import prose, spec
from derive.cli import cli
from derive.sheet import build as sheet
from derive.sheet import render
from derive.sheet import units as answers
from derive.sheet.inputs import Inputs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EVIDENCE = DOCS / "evidence"
HAS_LATEX = shutil.which("latexmk") is not None
# What raw LaTeX or Markdown looks like when it leaks into a PDF's text.
LEAKS = re.compile(r"\\[a-zA-Z]{2,}|\$|\\\(|\\\[|\{\{|\}\}|\]\(figures/|^#+ ", re.M)
PLACEHOLDERS = re.compile(r"\bTODO\b|\bTBD\b|FIXME|XXX|\?\?\?|lorem ipsum|not yet (computed|available)", re.I)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A cache holding a copy of docs/evidence: the experiments and certificates are rerun only if stale."""
    where = tmp_path_factory.mktemp("cache")
    if EVIDENCE.exists():
        shutil.copytree(EVIDENCE, where, dirs_exist_ok=True)
    return where


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir):
    """The French sheet in every format (typst PDF), built once for the module."""
    out = tmp_path_factory.mktemp("fr")
    sheet.build(spec.default_spec(), "fr", ("md", "tex", "typ", "pdf"), "typst", out, cache_dir=cache_dir)
    return out


def _plain(text: str) -> str:
    """French typography undone (no-break spaces, curly apostrophes), to compare with the plain sources."""
    return text.replace("\u202f", " ").replace("\u00a0", " ").replace("\u2019", "'")


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def _headings(lang: str) -> list[tuple[str, str]]:
    """(title, points) of every question, as the sheet must print them."""
    out = []
    for u in answers.for_spec(spec.default_spec()):
        pts = prose.points(u.points, lang) if u.points else prose.points(u.bonus, lang)
        out.append((u.title[lang], pts))
    return out


def _squash(text: str) -> str:
    # LaTeX typesets ' as a curly apostrophe and may hyphenate at a line end.
    text = _plain(text)
    return re.sub(r"\s+", " ", text).replace("- ", "")


def _assert_pdf_complete(pdf: Path, lang: str):
    text = _squash(_pdf_text(pdf))
    for title, pts in _headings(lang):
        assert _squash(title) in text, title
        assert _squash(pts) in text, pts
    leaks = LEAKS.findall(text)
    assert not leaks, leaks[:5]


def test_every_format_of_both_editions_is_written(built):
    names = {p.name for p in built.iterdir()}
    for stem in ("corrige", "corrige-teacher"):
        assert {f"{stem}.fr.{ext}" for ext in ("md", "tex", "typ", "pdf")} <= names
    assert {"claims.json", "figures"} <= names
    assert not any(p.name.startswith(".derive-sheet-") for p in built.parent.iterdir())
    assert (built / "figures" / "architecture.fr.png").exists()


def test_claims_json_lists_every_claim_with_its_predicate_and_numbers(built):
    import json

    claims = json.loads((built / "claims.json").read_text(encoding="utf-8"))
    assert claims and all({"id", "question", "holds", "predicate", "numbers"} <= set(c) for c in claims)
    assert all(c["id"].startswith(c["question"] + ".") for c in claims)
    assert all(c["holds"] for c in claims if c["required"])
    experimental = {"ex1.q4", "ex1.q5", "ex1.q6", "ex1.q7", "ex2.q3", "ex2.q4", "ex2.q5", "ex2.q6"}
    assert experimental <= {c["question"] for c in claims}
    teacher = (built / "corrige-teacher.fr.md").read_text(encoding="utf-8")
    for c in claims:  # the teacher edition lists each claim with its predicate
        assert f"`{c['predicate']}`" in teacher, c["id"]


# Words of the tool, not of a corrigé: none may reach the student edition.
TOOL_WORDS = re.compile(r"\b(derive|engine|moteur|certificat[e]?|spec\b|spécification|real tensors|vrais tenseurs|"
                        r"seed|graine|float64|SymPy|NumPy|cache|checked on|vérifié sur)\b", re.I)


def test_the_student_edition_speaks_to_students(built):
    md = (built / "corrige.fr.md").read_text(encoding="utf-8")
    body = md[:md.index("## Références")]
    assert not TOOL_WORDS.findall(body), TOOL_WORDS.findall(body)[:10]
    assert "Barème" not in md and "Éléments attendus" not in md
    from pypdf import PdfReader

    assert len(PdfReader(built / "corrige.fr.pdf").pages) <= 10


def test_the_teacher_edition_holds_the_scheme_the_register_and_the_verification(built):
    md = _plain((built / "corrige-teacher.fr.md").read_text(encoding="utf-8"))
    for heading in ("## Barème", "## Conventions et lectures de l'énoncé", "## Annexe : vérification",
                    "### Vérification de la question 1.6"):
        assert heading in md, heading
    assert md.count("**Autres réponses qui valent la note maximale**") >= 5


def test_markdown_has_every_question_heading_and_no_placeholder(built):
    md = _plain((built / "corrige.fr.md").read_text(encoding="utf-8"))
    for title, pts in _headings("fr"):
        assert re.search(rf"^##+ .*{re.escape(_plain(title))} \(.*{re.escape(_plain(pts))}", md, re.M), title
    assert not PLACEHOLDERS.search(md)
    for fig in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (built / fig).exists(), fig
    # An image glued to the line above would be inline, not a captioned figure.
    assert not re.search(r"[^\n]\n!\[", md)
    # A table glued to the paragraph above would be read as part of it.
    assert not re.search(r"^[^|\n].*\n\|", md, re.M)


def test_french_sheet_writes_its_claims_and_references_in_french(built):
    """The numbers behind each claim use the decimal comma; titles ending in ? get no extra dot."""
    md = _plain((built / "corrige-teacher.fr.md").read_text(encoding="utf-8"))
    lines = [line for line in md.splitlines() if line.startswith("- `") and line.endswith("→ **vérifiée**.")]
    assert len(lines) >= 20
    for line in lines:
        numbers = line[line.index("; nombres : "):]
        assert not re.search(r"= -?\d+\.\d", numbers), line
    assert "?." not in md[md.index("## Références"):]


def test_latex_is_a_complete_document(built):
    tex = (built / "corrige.fr.tex").read_text(encoding="utf-8")
    assert tex.startswith("%") and r"\begin{document}" in tex and tex.rstrip().endswith(r"\end{document}")
    assert "a4paper" in tex and r"\includegraphics" in tex and "$$" not in tex


def test_typst_pdf_has_every_question_and_no_raw_source(built):
    _assert_pdf_complete(built / "corrige.fr.pdf", "fr")
    _assert_pdf_complete(built / "corrige-teacher.fr.pdf", "fr")


@pytest.mark.skipif(not HAS_LATEX, reason="latexmk / TeX Live not installed")
def test_latex_pdf_has_every_question_and_no_raw_source(tmp_path, cache_dir):
    sheet.build(spec.default_spec(), "en", ("pdf",), "latex", tmp_path, cache_dir=cache_dir)
    _assert_pdf_complete(tmp_path / "corrige.en.pdf", "en")
    _assert_pdf_complete(tmp_path / "corrige-teacher.en.pdf", "en")
    assert not (tmp_path / "corrige.en.tex").exists()  # only the formats asked for are kept
    from pypdf import PdfReader

    assert len(PdfReader(tmp_path / "corrige.en.pdf").pages) <= 10


def test_markdown_and_latex_are_byte_identical_from_run_to_run(built, tmp_path, cache_dir):
    sheet.build(spec.default_spec(), "fr", ("md", "tex"), "typst", tmp_path, cache_dir=cache_dir)
    for name in ("corrige.fr.md", "corrige.fr.tex", "corrige-teacher.fr.md", "corrige-teacher.fr.tex", "claims.json"):
        assert (tmp_path / name).read_bytes() == (built / name).read_bytes(), name
    for fig in (built / "figures").iterdir():
        assert (tmp_path / "figures" / fig.name).read_bytes() == fig.read_bytes(), fig.name


def test_docs_are_up_to_date(built, tmp_path, cache_dir):
    """docs/ holds the rendered Markdown of both languages and its evidence; regenerate it with `make docs`."""
    sheet.build(spec.default_spec(), "en", ("md",), "typst", tmp_path, cache_dir=cache_dir, evidence=tmp_path / "ev")
    used = sorted(str(p.relative_to(tmp_path / "ev")) for p in (tmp_path / "ev").rglob("*") if p.is_file())
    kept = sorted(str(p.relative_to(EVIDENCE)) for p in EVIDENCE.rglob("*") if p.is_file()) if EVIDENCE.exists() else []
    assert used == kept, "docs/evidence is stale (the code or spec changed): run `make docs`"
    fresh = {f"{stem}.{lang}.md": (built if lang == "fr" else tmp_path) / f"{stem}.{lang}.md"
             for stem in ("corrige", "corrige-teacher") for lang in ("fr", "en")}
    for name, path in fresh.items():
        committed = DOCS / name
        assert committed.exists(), f"docs/{name} is missing: run `make docs`"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), \
            f"docs/{name} is stale: run `make docs`"
    from PIL import Image

    figures = sorted(p.name for p in (built / "figures").iterdir()) + sorted(
        p.name for p in (tmp_path / "figures").iterdir())
    assert sorted(p.name for p in (DOCS / "figures").iterdir()) == sorted(figures), \
        "docs/figures is stale: run `make docs`"
    for name in figures:
        here = (built if ".fr." in name else tmp_path) / "figures" / name
        with Image.open(DOCS / "figures" / name) as a, Image.open(here) as b:
            assert a.size == b.size, f"docs/figures/{name} is stale: run `make docs`"


def test_a_failed_build_leaves_the_output_folder_untouched(tmp_path, monkeypatch, cache_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "corrige.fr.md").write_text("previous sheet\n", encoding="utf-8")

    def broken(source):
        raise RuntimeError("typst could not compile it")

    monkeypatch.setattr(render, "pdf_typst", broken)
    with pytest.raises(sheet.BuildFailed, match="typst could not compile"):
        sheet.build(spec.default_spec(), "fr", ("md", "pdf"), "typst", out, cache_dir=cache_dir)
    assert sorted(p.name for p in out.iterdir()) == ["corrige.fr.md"]
    assert (out / "corrige.fr.md").read_text(encoding="utf-8") == "previous sheet\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_required_claim_stops_the_build(tmp_path, monkeypatch, cache_dir):
    unit = next(u for u in answers.load_all() if u.id == "ex1.q3")
    monkeypatch.setattr(unit.module, "recount", lambda net, prelu: [0] * len(net.layers))
    with pytest.raises(sheet.BuildFailed, match=r"claim ex1.q3.layers_recounted does not hold: counted == recounted"):
        sheet.build(spec.default_spec(), "fr", ("md",), "typst", tmp_path / "out", cache_dir=cache_dir)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "md,docx"], "unknown format 'docx'"),
    (["--lang", "de"], "Invalid value for '--lang'"),
    (["--pdf-engine", "word"], "Invalid value for '--pdf-engine'"),
    (["--spec", "no-such-file.toml"], "no such spec file"),
    (["--cache", "{file}"], "is not a folder"),
    (["--evidence", "{file}/ev"], "is a file"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    result = CliRunner().invoke(cli, ["sheet", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    lines = result.output.splitlines()  # nothing else, not even the progress bar's label
    assert len(lines) == 1 and lines[0].startswith("derive: error:") and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_cli_refuses_an_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sheet", "--format", "md", "--out", str(target)])
    assert result.exit_code == 2 and "is not a folder" in result.output
    assert target.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("args, message", [
    (["--out", "{file}/sub"], "{file} is a file"),
    (["--out", "{dir}/o", "--cache", "{file}"], "{file}: exists and is not a folder"),
    (["--out", "{dir}/o", "--cache", "{file}/cache"], "{file} is a file"),
    (["--out", "{dir}/o", "--evidence", "{file}"], "{file}: exists and is not a folder"),
])
def test_cli_refuses_folders_it_cannot_write_before_any_work(tmp_path, args, message):
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    args = [a.format(file=target, dir=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "derive", "sheet", "--format", "md", *args],
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("derive: error:")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert message.format(file=target) in lines[0] and "Traceback" not in proc.stderr
    assert target.read_text(encoding="utf-8") == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_writes_the_sheet_and_names_the_files(tmp_path, cache_dir):
    result = CliRunner().invoke(cli, ["sheet", "--lang", "en", "--format", "md", "--out", str(tmp_path),
                                      "--cache", str(cache_dir)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "corrige.en.md") in result.output


def test_workers_compute_what_the_sheet_uses_with_the_bytes_of_this_process(tmp_path):
    from derive.runtime import workers

    names = ("loss", "convolution")
    with workers.Pool(2) as pool:
        inputs = Inputs(spec.default_spec(), tmp_path / "f1", tmp_path / "a", quick=True)
        inputs.start(pool, names=names, certificates=())
        assert set(inputs.pending) == {("experiment", n) for n in names}
        parallel = {n: inputs.experiment(n) for n in names}
        assert not inputs.pending
    here = Inputs(spec.default_spec(), tmp_path / "f2", tmp_path / "b", quick=True)
    for name, result in parallel.items():
        local = here.experiment(name)
        assert local.key == result.key and local.directory != result.directory
        for path in sorted(result.directory.iterdir()):
            assert (local.directory / path.name).read_bytes() == path.read_bytes(), (name, path.name)
    with workers.Pool(1) as pool:  # nothing left to compute: no task handed out
        inputs = Inputs(spec.default_spec(), tmp_path / "f3", tmp_path / "a", quick=True)
        inputs.start(pool, names=names, certificates=())
        assert not inputs.pending



def _tampered(monkeypatch, name, change):
    """Make the sheet read an experiment whose conclusion was changed (evidence that says something else)."""
    real = Inputs.experiment

    def experiment(self, which):
        result = real(self, which)
        if which != name:
            return result
        import copy
        import dataclasses

        conclusion = copy.deepcopy(result.conclusion)
        change(conclusion)
        return dataclasses.replace(result, conclusion=conclusion)

    monkeypatch.setattr(Inputs, "experiment", experiment)


def test_tampered_evidence_changes_the_sentence_that_rested_on_it(tmp_path, monkeypatch, cache_dir):
    sentence = "both dropout settings stay at chance level"

    def accuracies(lower, both):
        def change(c):
            c["held_out_accuracy"] = dict(c["held_out_accuracy"], **{"L5": lower, "L5+L6": both, "none": 0.62})
        return change

    texts = {}
    for name, change in (("chance", accuracies(0.51, 0.5)), ("learned", accuracies(0.75, 0.74))):
        with monkeypatch.context() as m:
            _tampered(m, "dropout", change)
            sheet.build(spec.default_spec(), "en", ("md",), "typst", tmp_path / name, cache_dir=cache_dir, workers=0)
        texts[name] = {e: (tmp_path / name / f"{e}.en.md").read_text(encoding="utf-8")
                       for e in ("corrige", "corrige-teacher")}
    assert sentence in texts["chance"]["corrige"]
    # the ordering the claim rests on, reversed: the sentence goes, the teacher edition says why
    assert sentence not in texts["learned"]["corrige"]
    assert "differs from that without dropout" in texts["learned"]["corrige-teacher"]
    assert "Both dropout settings are within two standard errors of chance" in texts["chance"]["corrige-teacher"]


def test_tampered_evidence_that_breaks_a_required_claim_stops_the_build(tmp_path, monkeypatch, cache_dir):
    def flat(c):  # a standard initialisation whose gradients would not shrink, against the theory
        c["backprop_ratio_first_last"] = dict(c["backprop_ratio_first_last"], glorot_standard=0.9)

    _tampered(monkeypatch, "glorot", flat)
    with pytest.raises(sheet.BuildFailed, match=r"claim ex2.q5.theory does not hold: .*standard = 0.9"):
        sheet.build(spec.default_spec(), "en", ("md",), "typst", tmp_path / "out", cache_dir=cache_dir, workers=0)
    assert not (tmp_path / "out").exists()


def test_french_prose_has_no_breakable_space_before_high_punctuation_or_straight_apostrophe(built):
    from derive.sheet import typography

    for edition in ("corrige", "corrige-teacher"):
        prose = typography._PROTECTED.sub("", (built / f"{edition}.fr.md").read_text(encoding="utf-8"))
        for bad in (" ;", " :", " ?", "« ", " »", " %"):
            assert bad not in prose, f"{edition}.fr.md: {bad!r}"
        assert not re.search(r"[a-zé]'[a-zé]", prose), re.search(r".{20}[a-zé]'[a-zé].{20}", prose)
