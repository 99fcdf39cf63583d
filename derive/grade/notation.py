"""The spellings of the exam's notation brought to one form before parsing, each character's origin kept.

Students copy the sheet's Unicode (s⁽⁶′⁾_k, ρ̂_g, Σ_{k=1..n₆}, ·, −) or type LaTeX (\\hat{\\rho}, \\{ \\}).
``normalise`` rewrites these into the plain spelling the grammar reads (s^{(6')}_k, rhohat_g,
sum_{k=1..n_{6}}, *, -) and returns, for every character of the result, the column it came from,
so that an error is reported where the student typed it. Nothing here interprets the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾′ᵗⁱ⁺⁻⁼ʲᵏ", "0123456789()'ti+-=jk"))
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉ᵢⱼₖ", "0123456789ijk"))
SCRIPTS = ((SUPERSCRIPTS, "^"), (SUBSCRIPTS, "_"))
# Single characters and their plain spelling; words get spaces around them where letters touch.
CHARACTERS = {
    "·": "*", "⋅": "*", "×": "*", "∗": "*", "÷": "/", "−": "-", "–": "-", "≤": "<=", "≥": ">=", "≠": "!=",
    "′": "'", "’": "'", "″": "''", "‖": "||", "∧": " and ", "Σ": "sum", "∑": "sum", "ρ": "rho", "β": "beta",
    "σ": "sigma", "𝟙": "\\mathbb{1}", "∂": " d ", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ",
    "\n": " ", "\r": " ",
}
HAT = "\u0302"  # combining circumflex: ρ̂ is ρ followed by it
# LaTeX spellings rewritten as a whole (regular expression -> replacement).
PHRASES = (
    (re.compile(r"\\(?:wide)?hat\s*\{\s*\\rho\s*\}|\\(?:wide)?hat\s*\\rho(?![A-Za-z])"), "rhohat"),
    (re.compile(r"\\prime(?![A-Za-z])"), "'"),
    (re.compile(r"\\([{}])"), r"\1"),
    (re.compile(r"\\mathcal\s*\{\s*L\s*\}"), "L"),
    (re.compile(r"\*\*"), "^"),                                   # Python's power
    (re.compile(r"^\s*(?:\$\$?|\\[(\[])|(?:\$\$?|\\[)\]])\s*$"), " "),   # $...$, \(...\), \[...\] around it all
    # the text printer's s^(5)(i) (a label and an example): one superscript, as s^{(5)(i)}
    (re.compile(r"\^((?:\([^()]*\)){2,})"), r"^{\1}"),
)


@dataclass(frozen=True)
class Normalised:
    """Plain text for the grammar, and for each of its characters the column (0-based) it came from."""

    text: str
    origin: tuple

    def column(self, pos: int) -> int:
        """The 1-based column of the original answer that produced character ``pos`` of the plain text."""
        if not self.origin:
            return 1
        return self.origin[min(max(pos, 0), len(self.origin) - 1)] + 1


def normalise(answer: str) -> Normalised:
    """Rewrite Unicode and LaTeX spellings into the grammar's plain form, keeping each character's origin.

    >>> normalise("s⁽⁶′⁾_k − ρ̂_g").text
    "s^{(6')}_k - rhohat_g"
    """
    out, origin = [], []
    chars = unicodedata.normalize("NFC", answer)
    i = 0
    while i < len(chars):
        ch = chars[i]
        script = next(((table, mark) for table, mark in SCRIPTS if ch in table), None)
        if script:  # a run of superscript (or subscript) characters: one ^{...} (or _{...})
            table, mark = script
            j = i
            while j < len(chars) and chars[j] in table:
                j += 1
            _emit(out, origin, mark + "{" + "".join(table[c] for c in chars[i:j]) + "}", i)
            i = j
        elif ch == "ρ" and i + 1 < len(chars) and chars[i + 1] == HAT:
            _word(out, origin, "rhohat", i, chars, i + 2)
            i += 2
        elif ch in CHARACTERS:
            _word(out, origin, CHARACTERS[ch], i, chars, i + 1)
            i += 1
        else:
            _emit(out, origin, ch, i)
            i += 1
    text, origin = "".join(out), list(origin)
    for pattern, repl in PHRASES:
        text, origin = _substitute(pattern, repl, text, origin)
    return Normalised(text, tuple(origin))


def _emit(out, origin, text: str, at: int) -> None:
    out.append(text)
    origin.extend([at] * len(text))


def _word(out, origin, text: str, at: int, chars: str, after: int) -> None:
    """A replacement made of letters is kept apart from letters or digits on either side."""
    if text[:1].isalpha() and out and (out[-1][-1:].isalnum()):
        text = " " + text
    if text[-1:].isalpha() and after < len(chars) and chars[after].isalnum():
        text = text + " "
    _emit(out, origin, text, at)


def _substitute(pattern, repl: str, text: str, origin: list) -> tuple[str, list]:
    pieces, where, last = [], [], 0
    for m in pattern.finditer(text):
        pieces.append(text[last:m.start()])
        where.extend(origin[last:m.start()])
        new = m.expand(repl)
        pieces.append(new)
        where.extend([origin[m.start()]] * len(new))
        last = m.end()
    pieces.append(text[last:])
    where.extend(origin[last:])
    return "".join(pieces), where
