"""Rendering: number filters, pandoc fragment conversion, escaping, and the two PDF engines on a tiny sheet."""

import shutil
from pathlib import Path

import pytest

from derive import prose
from derive.errors import DeriveError
from derive.sheet import render


@pytest.mark.parametrize("value, lang, expected", [
    (1122880, "en", "1,122,880"),
    (1122880, "fr", "1\u00a0122\u00a0880"),
    (0.25, "fr", "0,25"),
    (0.25, "en", "0.25"),
    (3.0, "en", "3"),
    (3.25e-7, "en", "3.25e-7"),
])
def test_num_writes_numbers_for_running_text(value, lang, expected):
    assert prose.num(value, lang) == expected


@pytest.mark.parametrize("value, lang, expected", [
    (3.2e-7, "en", r"3.2 \times 10^{-7}"),
    (1e-5, "fr", r"10^{-5}"),
    (0.5, "fr", "0{,}5"),
    (1234, "fr", r"1\,234"),
    (1234, "en", "1{,}234"),
])
def test_mnum_writes_numbers_for_math(value, lang, expected):
    assert prose.mnum(value, lang) == expected


def test_points_follow_each_language():
    assert prose.points(1.5, "fr") == "1,5\u00a0pt"
    assert prose.points(2, "fr") == "2\u00a0pt"
    assert prose.points(1, "en") == "1 pt"
    assert prose.points(0.5, "en") == "0.5 pts"


def test_num_refuses_bools():
    with pytest.raises(TypeError):
        prose.num(True)


def test_convert_keeps_one_output_per_fragment_in_order():
    frags = ["First *one* with $x^2$.", "", "Second:\n\n- a\n- b", "Third $$\\frac{a}{b}$$"]
    out = render.convert(frags, "latex")
    assert len(out) == 4
    assert r"\emph{one}" in out[0] and r"\(x^2\)" in out[0]
    assert out[1] == ""
    assert r"\begin{itemize}" in out[2] and "First" not in out[2]
    assert r"\frac{a}{b}" in out[3]
    typ = render.convert(frags, "typst")
    assert len(typ) == 4 and "#emph[one]" in typ[0] and "a / b" in typ[3]


def test_convert_refuses_a_fragment_holding_the_marker():
    with pytest.raises(ValueError):
        render.convert([f"text {render.SPLIT} text"], "latex")


def test_escaping_neutralises_markup():
    assert prose.tex_escape("50% of $x_1 & {y}") == r"50\% of \$x\_1 \& \{y\}"
    assert prose.typ_escape("#set *bold* $x$") == r"\#set \*bold\* \$x\$"


TINY_TYP = '#set page(paper: "a4")\n= Question 1 (2 pts)\nLe gradient vaut $x^2$.\n'
TINY_TEX = (r"\documentclass{article}\usepackage[T1]{fontenc}\usepackage[utf8]{inputenc}"
            r"\begin{document}\section*{Question 1 (2 pts)} Le gradient vaut $x^2$.\end{document}" "\n")


def _text(pdf) -> str:
    from pypdf import PdfReader

    return "".join(p.extract_text() for p in PdfReader(pdf).pages)


def test_typst_engine_makes_a_pdf(tmp_path):
    src = tmp_path / "tiny.typ"
    src.write_text(TINY_TYP, encoding="utf-8")
    text = _text(render.pdf_typst(src))
    assert "Question 1 (2 pts)" in text and "gradient" in text


def test_typst_engine_reports_a_broken_source(tmp_path):
    src = tmp_path / "bad.typ"
    src.write_text("#let x = (\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="typst could not compile"):
        render.pdf_typst(src)


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk / TeX Live not installed")
def test_latex_engine_makes_a_pdf_and_reports_errors(tmp_path):
    src = tmp_path / "tiny.tex"
    src.write_text(TINY_TEX, encoding="utf-8")
    assert "Question 1 (2 pts)" in _text(render.pdf_latex(src))
    bad = tmp_path / "bad.tex"
    bad.write_text(r"\documentclass{article}\begin{document}\undefinedmacro\end{document}" "\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="latexmk failed"):
        render.pdf_latex(bad)


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk / TeX Live not installed")
def test_latex_engine_accepts_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tiny.tex").write_text(TINY_TEX, encoding="utf-8")
    assert render.pdf_latex(Path("sub/tiny.tex")).exists()


def test_typst_keeps_a_decimal_comma_tight_and_a_list_comma_spaced(tmp_path):
    """1{,}42 is one number in Typst (no space after the comma); the comma of f(1, 2) stays punctuation."""
    typ = render.convert([r"Écart $1{,}42 \times 10^{-7}$, couple $f(1, 2)$."], "typst")[0]
    assert "1#[,]42" in typ and r"1 \, 2" in typ
    assert render.convert([r"$1{,}42$"], "latex")[0] == r"\(1{,}42\)"
    src = tmp_path / "comma.typ"
    src.write_text(typ + "\n", encoding="utf-8")
    text = _text(render.pdf_typst(src))
    assert "1,42" in text and "1, 42" not in text


@pytest.mark.parametrize("items, lang, expected", [
    ([], "en", ""), (["ReLU"], "en", "ReLU"), (["a", "b"], "fr", "a et b"), (["a", "b", "c"], "en", "a, b and c"),
])
def test_listing_joins_words_for_running_text(items, lang, expected):
    assert prose.listing(items, lang) == expected


def test_fixed_keeps_the_precision_asked_and_the_decimal_comma_in_french():
    assert prose.fixed(1.0, ".6f", "fr") == "1,000000" and prose.fixed(2.2e-16, ".1e", "en") == "2.2e-16"


def test_two_typst_pdfs_of_the_same_source_are_byte_identical(tmp_path, monkeypatch):
    import time

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    pdfs = []
    for name in ("a", "b"):
        source = tmp_path / name / "sheet.typ"
        source.parent.mkdir()
        source.write_text("#set document(title: \"t\")\n= Title\n\nSome text.\n", encoding="utf-8")
        pdfs.append(render.pdf_typst(source).read_bytes())
        time.sleep(1.1)  # typst's default date is the time of day, to the second
    assert pdfs[0] == pdfs[1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render.pdf_typst(tmp_path / "a" / "sheet.typ").read_bytes() != pdfs[0]  # the date set is honoured
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(DeriveError, match="SOURCE_DATE_EPOCH"):
        render.source_date()


@pytest.mark.parametrize("latex, text", [
    (r"\frac{\partial \mathcal{L}}{\partial b^{(6)}_{k}}", r"\partial \mathcal{L} / \partial b^{(6)}_{k}"),
    (r"\frac{1 - \rho}{1 - \hat{\rho}_{g}}", r"(1 - \rho) / (1 - \hat{\rho}_{g})"),
    (r"\frac{\beta x}{\left(1 - y\right) y}", r"\beta x / (\left(1 - y\right) y)"),
    (r"a + b", r"a + b"),
])
def test_fractions_in_running_text_are_written_with_a_slash(latex, text):
    assert prose.slashed(latex) == text


@pytest.mark.parametrize("lang, text", [("fr", r"(4\,096 + 1) \cdot 256 = 1\,049\,088, w^{(56)}"),
                                        ("en", r"(4{,}096 + 1) \cdot 256 = 1{,}049{,}088, w^{(56)}")])
def test_counts_in_formulas_are_grouped_like_the_numbers_of_the_text(lang, text):
    assert prose.grouped(r"(4096 + 1) \cdot 256 = 1049088, w^{(56)}", lang) == text


def test_a_decimal_number_is_not_grouped():
    assert prose.grouped(r"0.12345 + 1{,}23456", "fr") == r"0.12345 + 1{,}23456"


def test_a_two_sided_condition_is_printed_as_one_chain():
    import sympy as sp

    from derive.sheet.present import _between

    x = sp.Symbol("x")
    assert _between(sp.And(x > 0, x < 1), sp.latex) == "0 < x < 1"
    assert _between(sp.And(x > 0, x < 1, x > -1), sp.latex) == sp.latex(sp.And(x > 0, x < 1, x > -1))
    assert _between(x > 0, sp.latex) == "x > 0"
