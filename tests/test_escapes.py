"""One escape per target: user text (a spec's path, a layer's name) reaches Markdown, LaTeX and Typst as text."""

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import count, prose
from derive import spec as specs
from derive.errors import printable

HOSTILE = ["`x`{=latex} \\input{/etc/passwd}", "a``b`", "$\\$x$ ^sup^ ~sub~ @cite [l](u) <b> *e* _u_ #h |t|",
           "C:\\new\\tab % & { } ~ ^ _ # $", "line\nbreak \x1b[31m", "\u202eevil", "«é» 1,5"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


def _inlines(markdown: str) -> list:
    import pypandoc

    return json.loads(pypandoc.convert_text(markdown, "json", format="markdown-smart"))["blocks"]


def _raw(blocks) -> list:
    """Every raw (format-specific) element pandoc found: what would pass into LaTeX or Typst as is."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("t") in ("RawInline", "RawBlock", "Math"):
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return found


def _plain(blocks) -> str:
    import pypandoc

    return pypandoc.convert_text(json.dumps({"pandoc-api-version": [1, 23, 1], "meta": {}, "blocks": blocks}),
                                 "plain", format="json", extra_args=["--wrap=none"]).strip()


@settings(max_examples=40, deadline=None)
@given(TEXT)
def test_a_markdown_code_span_holds_any_text(text):
    blocks = _inlines(f"before {prose.md_code(text)} after")
    codes = [x for x in blocks[0]["c"] if x["t"] == "Code"]
    assert len(codes) == 1 and codes[0]["c"][1] == printable(text).strip(" ")
    assert not _raw(blocks)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_text_is_read_as_text(text):
    blocks = _inlines(f"before {prose.md_escape(text)} after")
    assert not _raw(blocks)
    assert " ".join(_plain(blocks).split()) == " ".join(f"before {printable(text)} after".split())


def test_count_params_markdown_and_latex_escape_the_spec_path(tmp_path):
    evil = tmp_path / HOSTILE[0].replace("/", "|")
    evil.write_text(specs.default_spec_text())
    report = count.report(specs.load(evil))
    blocks = _inlines(report.render("markdown"))
    assert not [x for x in _raw(blocks) if x["t"] != "Math"]  # the formulas are math; the path is not raw
    assert printable(str(evil)) in _plain(blocks[:1])
    assert "\\input" not in report.render("latex").replace("% ", "", 1).split("\n", 1)[1]


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk / TeX Live not installed")
def test_tex_escape_compiles_to_the_text_itself(tmp_path):
    from pypdf import PdfReader

    ascii_only = [t for t in HOSTILE if t.isascii()]
    body = "\n\n".join(f"[{prose.tex_escape(t)}]" for t in ascii_only)
    (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}"
                                    f"\\begin{{document}}\n{body}\n\\end{{document}}\n")
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    text = " ".join(PdfReader(tmp_path / "t.pdf").pages[0].extract_text().split())
    for t in ascii_only:
        assert " ".join(printable(t).split()) in text.replace("\u2019", "'").replace("“", '"'), t


def test_typst_escapes_compile_to_the_text_itself(tmp_path):
    import typst
    from pypdf import PdfReader

    body = "\n\n".join(f"[{prose.typ_escape(t)}] #raw(\"{prose.typ_string(t)}\")" for t in HOSTILE)
    (tmp_path / "t.typ").write_text(f"#set page(width: 30cm)\n{body}\n", encoding="utf-8")
    typst.compile(str(tmp_path / "t.typ"), output=str(tmp_path / "t.pdf"))
    text = " ".join(PdfReader(tmp_path / "t.pdf").pages[0].extract_text().split())
    for t in HOSTILE:
        shown = " ".join(printable(t).split())
        assert text.count(shown) >= 2 or text.replace("\u202e", "").count(shown) >= 1, t


def test_the_sheet_skeletons_escape_the_spec_path(tmp_path):
    from derive.sheet import document

    evil = tmp_path / "a`b $x$ \\input{z}"
    evil.write_text(specs.default_spec_text())
    doc = document.Document(specs.load(evil), "en", [])
    title = next(line for line in doc.markdown().splitlines() if line.startswith(doc.words["generated"]))
    (code,) = [x for x in _inlines(title)[0]["c"] if x["t"] == "Code"]
    assert code["c"][1] == str(evil)
    assert r"\texttt{" + prose.tex_escape(str(evil)) + "}" in doc.latex()
    assert f'#raw("{prose.typ_string(str(evil))}")' in doc.typst()


def test_the_jinja_environment_has_every_escape():
    from derive.sheet import render

    env = render.environment()
    for name in ("md_escape", "md_code", "tex_escape", "typ_escape", "typ_string", "math_label"):
        assert env.filters[name] is getattr(prose, name)
