"""Numbers and words of the sheet in both languages, and the escapes of each output format.

Light on purpose (no Jinja, no pandoc, no NumPy): answer units and reports import it freely.
French writes a decimal comma and groups thousands with a no-break space; English writes a decimal
point and groups with commas.
"""

from __future__ import annotations

import re

from derive.errors import printable

LANGS = ("fr", "en")


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


def value(v, lang: str = "en") -> str:
    """Any number of a claim for running text: a truth value as a word, a number through ``num``, a list of them."""
    if isinstance(v, bool):
        return {"fr": {True: "vrai", False: "faux"}, "en": {True: "true", False: "false"}}[lang][v]
    if isinstance(v, (list, tuple)):
        return "[" + ("; " if lang == "fr" else ", ").join(value(x, lang) for x in v) + "]"
    if v is None:
        return "—"
    return num(v, lang, 4)


def mnum(value, lang: str = "en", digits: int = 3) -> str:
    """A number for LaTeX math: powers of ten written out, commas braced so that they add no space."""
    mantissa, _, exponent = num(value, lang, digits).partition("e")
    mantissa = mantissa.replace(",", "{,}").replace("\u00a0", r"\,")
    if not exponent:
        return mantissa
    return rf"10^{{{exponent}}}" if mantissa == "1" else rf"{mantissa} \times 10^{{{exponent}}}"


def points(value, lang: str = "en") -> str:
    """Points as the sheet writes them: "7 pt" in French (an invariable abbreviation), "1.5 pts" in English."""
    text = num(float(value), lang, 4) if not float(value).is_integer() else str(int(value))
    if lang == "fr":
        return f"{text}\u00a0pt"
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


# --- escapes: one per target, for any text the user controls (a spec's path, a layer's name) --------------
# Each first writes control characters as escapes (errors.printable): a newline must not end a table
# cell, a paragraph or a comment, and an ESC must not reach a terminal.

TEX_SPECIALS = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "`": r"\textasciigrave{}"}  # a backtick would print as an opening quote
# What Markdown reads inside a line (pandoc's extensions included: $math$, ^super^, ~sub~, @cite, {attr});
# a line's start never comes from user text, which holds no newline once printable.
MD_PUNCTUATION = set("\\`*_[]<>!$^~|#&{}@")
TYP_SPECIALS = set("\\#*_`$<>@[]=-+/~'\"")
PLAIN_LABEL = re.compile(r"[A-Za-z0-9]*")


def tex_escape(text: str) -> str:
    """Plain text made safe for LaTeX's text mode: every special character written as a command.

    >>> tex_escape("a_b `x` \\input{/etc/passwd}")
    'a\\_b `x` \\textbackslash{}input\\{/etc/passwd\\}'
    """
    return "".join(TEX_SPECIALS.get(ch, ch) for ch in printable(text))


def typ_escape(text: str) -> str:
    """Plain text made safe for Typst markup (each markup character backslash-escaped)."""
    return "".join("\\" + ch if ch in TYP_SPECIALS else ch for ch in printable(text))


def typ_string(text: str) -> str:
    """Text made safe inside a Typst string literal ("..."): backslashes and quotes escaped."""
    return printable(text).replace("\\", "\\\\").replace('"', '\\"')


def md_escape(text: str) -> str:
    """Plain text made safe inside a line of Markdown (pandoc's and GitHub's): its markup backslash-escaped."""
    return "".join("\\" + ch if ch in MD_PUNCTUATION else ch for ch in printable(text))


def md_code(text: str) -> str:
    """Text as a Markdown code span, fenced by more backticks than it holds in a row (so it cannot close it).

    >>> md_code("a`b")
    '``a`b``'
    """
    text = printable(text)
    if not text:
        return "` `"
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def math_label(label: str) -> str:
    """A label (a layer's name, or names joined by commas and primes) for LaTeX math, as in s^{(label)}.

    Plain letters and digits stay as they are (s^{(56)}, s^{(F1)}); a part with '_' or '-' is set
    upright with both escaped, so that it is neither a subscript nor a minus sign. The result also
    reads right in MathJax, KaTeX, pandoc's Typst and matplotlib's mathtext.

    >>> math_label("a_b,c'")
    "\\mathrm{a\\_b},c'"
    """
    out = []
    for part in re.split(r"([,'])", printable(label)):
        if PLAIN_LABEL.fullmatch(part) or part in (",", "'"):
            out.append(part)
        else:
            body = "".join({"_": r"\_", "-": r"\text{-}"}.get(ch, ch) if ch.isalnum() or ch in "_-" else "?"
                           for ch in part)
            out.append(rf"\mathrm{{{body}}}")
    return "".join(out)


_GROUP = r"((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)"
_FRACTION = re.compile(r"\\frac\{" + _GROUP + r"\}\{" + _GROUP + r"\}")


def slashed(latex: str) -> str:
    """A LaTeX fraction for running text: \\frac{a}{b} written a / b (sub-scripts stay legible in a line)."""
    def bare(t: str) -> str:  # the term without its groups: what is left shows a sum or a product
        previous = None
        while previous != t:
            previous, t = t, re.sub(r"\{[^{}]*\}|\\left\([^()]*\\right\)|\([^()]*\)", "", t)
        return t.strip()

    def one(m):
        top, bottom = m.group(1).strip(), m.group(2).strip()
        top = f"({top})" if re.search(r"[+-]", bare(top)) else top
        if re.search(r"[+-]", bare(bottom)) or (" " in bottom and not bottom.startswith("\\partial")):
            bottom = f"({bottom})"
        return f"{top} / {bottom}"
    return _FRACTION.sub(one, latex)


def grouped(latex: str, lang: str = "en") -> str:
    """LaTeX with its whole numbers of four digits or more grouped as ``mnum`` writes them (9248 -> 9\\,248)."""
    return re.sub(r"(?<![\d.])(?<!\{,\})\d{4,}(?![\d.])(?!\{,\})", lambda m: mnum(int(m.group()), lang), latex)
