"""Rendering: the Jinja environment and its filters, pandoc conversions, and the two PDF engines.

Markdown is the one source of every answer's prose. The LaTeX and Typst sheets are skeletons
(title block, marking-scheme table, sections) whose bodies are that Markdown converted by pandoc
(the pypandoc-binary wheel), all fragments in one pandoc call per format to keep the build fast.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jinja2

from derive.errors import DeriveError

ENGINES = ("typst", "latex")
PANDOC_FORMATS = {"latex": "latex", "typst": "typst"}
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


def num(value, lang: str = "en", digits: int = 3) -> str:
    """A number for running text: integers with thin grouping, floats with `digits` significant digits."""
    if isinstance(value, bool):
        raise TypeError("num() got a bool")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15
                                  and digits >= len(str(int(abs(value))))):
        text = f"{int(value):,}"
        return text.replace(",", "\u00a0" if lang == "fr" else ",")
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return _decimal(text, lang)


def fixed(value: float, spec: str, lang: str = "en") -> str:
    """A number written with a Python format spec (a check's precision), with the decimal comma in French."""
    return _decimal(format(value, spec), lang)


def _decimal(text: str, lang: str) -> str:
    return text.replace(".", ",") if lang == "fr" else text


def mnum(value, lang: str = "en", digits: int = 3) -> str:
    """A number for LaTeX math: powers of ten written out, commas braced so that they add no space."""
    mantissa, _, exponent = num(value, lang, digits).partition("e")
    mantissa = mantissa.replace(",", "{,}").replace("\u00a0", r"\,")
    if not exponent:
        return mantissa
    return rf"10^{{{exponent}}}" if mantissa == "1" else rf"{mantissa} \times 10^{{{exponent}}}"


def points(value, lang: str = "en") -> str:
    """Points as the sheet writes them: "1,5 pt" in French, "1.5 pts" in English."""
    text = num(float(value), lang, 4) if not float(value).is_integer() else str(int(value))
    if lang == "fr":
        return f"{text}\u00a0pt" + ("s" if float(value) >= 2 else "")
    return f"{text} pt" + ("" if float(value) == 1 else "s")


def primed(name: str) -> str:
    """The second branch's name of a layer, as the exam writes it: L2 -> L'2 (other names: conv2 -> conv2')."""
    head = name.rstrip("0123456789")
    return f"{head}'{name[len(head):]}" if head == "L" and head != name else f"{name}'"


# How the prose names an activation that has no parameter, per language.
ACTIVATION_NAMES = {
    "en": {"relu": "ReLU", "linear": "the linear output", "tanh": "tanh", "sigmoid": "the sigmoid"},
    "fr": {"relu": "ReLU", "linear": "la sortie linéaire", "tanh": "tanh", "sigmoid": "la sigmoïde"},
}


def activation_name(name: str, lang: str = "en") -> str:
    """An activation's name for running text in one language."""
    return ACTIVATION_NAMES[lang][name]


def listing(items, lang: str = "en") -> str:
    """Words joined for running text: "a", "a and b", "a, b and c" (French: "et")."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + (" et " if lang == "fr" else " and ") + items[-1]


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
    env.filters.update(num=num, mnum=mnum, points=points, tex_escape=tex_escape, typ_escape=typ_escape, primed=primed,
                       activation_name=activation_name, listing=listing)
    return env


def package_dir(name: str) -> Path:
    """The folder of a resource directory shipped inside the package (templates, answers)."""
    return Path(str(resources.files("derive").joinpath(name)))


TEX_SPECIALS = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """Plain text made safe for LaTeX."""
    return "".join(TEX_SPECIALS.get(ch, ch) for ch in str(text))


def typ_escape(text: str) -> str:
    """Plain text made safe for Typst markup."""
    return "".join("\\" + ch if ch in "\\#*_`$<>@[]=-+/~'\"" else ch for ch in str(text))


def convert(fragments: list[str], to: str) -> list[str]:
    """Convert Markdown fragments to LaTeX or Typst with one pandoc call; one output per fragment."""
    if not fragments:
        return []
    import pypandoc

    for f in fragments:
        if SPLIT in f:
            raise ValueError("a fragment contains the pandoc split marker")
    text = f"\n\n{SPLIT}\n\n".join(fragments)
    if to == "typst":
        text = _DECIMAL_COMMA.sub(lambda _: _TYPST_MARK, text)
    out = pypandoc.convert_text(text, PANDOC_FORMATS[to], format=PANDOC_READER,
                                extra_args=["--wrap=preserve", "--columns=100"])
    parts = [p.strip("\n") for p in out.replace("\r\n", "\n").split(SPLIT)]
    if len(parts) != len(fragments):
        raise RuntimeError(f"pandoc returned {len(parts)} fragments for {len(fragments)}")
    if to == "latex":
        parts = [p.strip() for p in parts]
    else:  # a content block keeps the comma out of math spacing: 1,42 as one number
        parts = [_TYPST_MARKED.sub("#[,]", p) for p in parts]
    return parts


def pandoc_version() -> str:
    """The version of the pandoc binary that pypandoc runs."""
    import pypandoc

    return pypandoc.get_pandoc_version()


def pdf_typst(source: Path) -> Path:
    """Compile a Typst file (figures relative to its folder) to a PDF beside it."""
    source = Path(source).resolve()
    import typst

    target = source.with_suffix(".pdf")
    try:
        typst.compile(str(source), output=str(target), root=str(source.parent))
    except Exception as exc:  # typst raises its own error type, carrying the compiler's diagnostics
        raise RuntimeError(f"typst could not compile {source.name}: {exc}") from exc
    return target


def pdf_latex(source: Path) -> Path:
    """Compile a LaTeX file with latexmk (pdfLaTeX) to a PDF beside it."""
    source = Path(source).resolve()  # latexmk runs in the file's folder: relative paths would point elsewhere
    if shutil.which("latexmk") is None:
        raise DeriveError("the latex PDF engine needs latexmk and TeX Live (e.g. apt-get install latexmk "
                          "texlive-latex-recommended texlive-fonts-recommended texlive-lang-french); "
                          "or use --pdf-engine typst")
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           f"-outdir={source.parent}", str(source)]
    done = subprocess.run(cmd, cwd=source.parent, capture_output=True, text=True, errors="replace", timeout=LATEX_TIMEOUT,
                          env=_latex_env())
    target = source.with_suffix(".pdf")
    if done.returncode != 0 or not target.exists():
        lines = done.stdout.splitlines()
        errors = [f"{line} {lines[i + 1].strip()}" if i + 1 < len(lines) else line
                  for i, line in enumerate(lines) if line.startswith(("!", str(source)))]
        raise RuntimeError(f"latexmk failed on {source.name}: " + " | ".join(errors[:5] or [done.stdout[-500:]]))
    return target


def _latex_env() -> dict:
    import os

    env = dict(os.environ)
    # Fixed dates and IDs make the PDF reproducible where the TeX engine honours them.
    env.setdefault("SOURCE_DATE_EPOCH", "1576195200")
    env.setdefault("FORCE_SOURCE_DATE", "1")
    return env


def latex_version() -> str:
    """The first line of `pdflatex --version`, or '' when TeX Live is absent."""
    if shutil.which("pdflatex") is None:
        return ""
    done = subprocess.run(["pdflatex", "--version"], capture_output=True, text=True)
    return done.stdout.splitlines()[0] if done.stdout else ""
