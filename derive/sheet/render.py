"""Rendering: the Jinja environment and its filters, pandoc conversions, and the two PDF engines.

Markdown is the one source of every answer's prose. The LaTeX and Typst sheets are skeletons
(title block, marking-scheme table, sections) whose bodies are that Markdown converted by pandoc
(the pypandoc-binary wheel), all fragments in one pandoc call per format to keep the build fast.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2

from derive import prose
from derive.errors import DeriveError, quote

ENGINES = ("typst", "latex")
PANDOC_FORMATS = {"latex": "latex", "typst": "typst", "html": "html"}
# Math in HTML is left as \( \) and \[ \] for MathJax (Moodle's filter reads these delimiters).
PANDOC_ARGS = {"html": ["--mathjax"]}
PANDOC_READER = "markdown-smart"
# A paragraph that no answer contains: it separates fragments sent to pandoc in one call.
SPLIT = "DERIVEFRAGMENTBOUNDARY"
# A decimal comma in math is written 1{,}42 (LaTeX's way to keep the comma from adding a space).
# Pandoc turns it into Typst's `1 \, 42`, where the comma is punctuation and is followed by a
# space, the same output as for a list (1, 2); a marker carried through pandoc tells the two apart.
_DECIMAL_COMMA = re.compile(r"(?<=\d)\{,\}(?=\d)")
_TYPST_MARK = r"\mathrm{derivedecimalcomma}"
_TYPST_MARKED = re.compile(r"\s*upright\(d e r i v e d e c i m a l c o m m a\)\s*")
LATEX_TIMEOUT = 300


def environment(*roots: Path) -> jinja2.Environment:
    """A strict Jinja environment over the given template folders (undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(r) for r in roots]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    # One escape per target for what the user controls (a spec's path, a layer's name): md_escape and
    # md_code for Markdown text and code spans, tex_escape for LaTeX, typ_escape and typ_string for
    # Typst markup and string literals, math_label for a label inside LaTeX math.
    env.filters.update(num=prose.num, mnum=prose.mnum, points=prose.points, tex_escape=prose.tex_escape,
                       typ_escape=prose.typ_escape, typ_string=prose.typ_string, md_escape=prose.md_escape,
                       md_code=prose.md_code, math_label=prose.math_label, primed=prose.primed,
                       activation_name=prose.activation_name, listing=prose.listing, value=prose.value,
                       slashed=prose.slashed, grouped=prose.grouped)
    return env


def convert(fragments: list[str], to: str) -> list[str]:
    """Convert Markdown fragments to LaTeX, Typst or HTML with one pandoc call; one output per fragment."""
    if not fragments:
        return []
    import pypandoc

    for f in fragments:
        if SPLIT in f:
            raise ValueError("a fragment contains the pandoc split marker")
    text = f"\n\n{SPLIT}\n\n".join(fragments)
    if to == "typst":
        text = _DECIMAL_COMMA.sub(lambda _: _TYPST_MARK, text)
    out = pypandoc.convert_text(
        text,
        PANDOC_FORMATS[to],
        format=PANDOC_READER,
        extra_args=["--wrap=preserve", "--columns=100", *PANDOC_ARGS.get(to, [])],
    )
    parts = [p.strip("\n") for p in out.replace("\r\n", "\n").split(SPLIT)]
    if len(parts) != len(fragments):
        raise RuntimeError(f"pandoc returned {len(parts)} fragments for {len(fragments)}")
    if to == "html":
        parts = _html_parts(parts)
    elif to == "latex":
        parts = [p.strip() for p in parts]
    else:  # a content block keeps the comma out of math spacing: 1,42 as one number
        parts = [_TYPST_MARKED.sub("#[,]", p) for p in parts]
    return parts


def _html_parts(parts: list[str]) -> list[str]:
    """The marker paragraph comes back as <p>MARKER</p>: its tags are dropped from the parts around it."""
    out = []
    for i, p in enumerate(parts):
        p = p.strip()
        if i > 0:
            p = p.removeprefix("</p>").strip()
        if i < len(parts) - 1:
            p = p.removesuffix("<p>").strip()
        out.append(p)
    return out


def pandoc_version() -> str:
    """The version of the pandoc binary that pypandoc runs."""
    import pypandoc

    return pypandoc.get_pandoc_version()


def pdf_typst(source: Path) -> Path:
    """Compile a Typst file (figures relative to its folder) to a PDF beside it."""
    source = Path(source).resolve()
    import typst

    target = source.with_suffix(".pdf")
    try:  # a fixed date: the same source gives the same PDF bytes (typst would write the time of day)
        typst.compile(str(source), output=str(target), root=str(source.parent), timestamp=source_date())
    except Exception as exc:  # typst raises its own error type, carrying the compiler's diagnostics
        raise RuntimeError(f"typst could not compile {source.name}: {exc}") from exc
    return target


def check_latex() -> None:
    """Refuse the latex engine where latexmk is missing (a DeriveError naming what to install)."""
    if shutil.which("latexmk") is None:
        raise DeriveError("the latex PDF engine needs latexmk and TeX Live (e.g. apt-get install latexmk "
                          "texlive-latex-recommended texlive-fonts-recommended texlive-lang-french); "
                          "or use --pdf-engine typst")


def pdf_latex(source: Path) -> Path:
    """Compile a LaTeX file with latexmk (pdfLaTeX) to a PDF beside it."""
    source = Path(source).resolve()  # latexmk runs in the file's folder: relative paths would point elsewhere
    check_latex()
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           f"-outdir={source.parent}", str(source)]
    done = _run_group(cmd, source.parent)
    target = source.with_suffix(".pdf")
    if done.returncode != 0 or not target.exists():
        lines = done.stdout.splitlines()
        errors = [f"{line} {lines[i + 1].strip()}" if i + 1 < len(lines) else line
                  for i, line in enumerate(lines) if line.startswith(("!", str(source)))]
        raise RuntimeError(f"latexmk failed on {source.name}: " + " | ".join(errors[:5] or [done.stdout[-500:]]))
    return target


def _run_group(cmd, cwd) -> subprocess.CompletedProcess:
    """Run latexmk in a process group of its own, and end the whole group (pdflatex too) if we stop first."""
    import os
    import signal

    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                          env=_latex_env(), start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=LATEX_TIMEOUT)
        except BaseException:  # a timeout, Ctrl-C, SIGTERM: no TeX process outlives the build
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise RuntimeError(f"latexmk took more than {LATEX_TIMEOUT} s on {Path(cmd[-1]).name}") from None
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# The date written into a PDF: SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the exam's day.
EXAM_DAY = 1576195200  # 2019-12-13 00:00 UTC


def source_date() -> int:
    """The PDF's creation date in UNIX seconds: SOURCE_DATE_EPOCH if set, else the exam's day."""
    import os

    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return EXAM_DAY
    if not text.isdigit() or int(text) > 253402300799:  # typst's dates end with the year 9999
        raise DeriveError(f"SOURCE_DATE_EPOCH must be a number of seconds since 1970, got {quote(text)}")
    return int(text)


def _latex_env() -> dict:
    import os

    env = dict(os.environ)
    # Fixed dates and IDs make the PDF reproducible where the TeX engine honours them.
    env["SOURCE_DATE_EPOCH"] = str(source_date())
    env.setdefault("FORCE_SOURCE_DATE", "1")
    return env


def latex_version() -> str:
    """The first line of `pdflatex --version`, or '' when TeX Live is absent."""
    if shutil.which("pdflatex") is None:
        return ""
    done = subprocess.run(["pdflatex", "--version"], capture_output=True, text=True)
    return done.stdout.splitlines()[0] if done.stdout else ""
