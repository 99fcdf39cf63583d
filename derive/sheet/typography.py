"""French typography for the sheet's Markdown: non-breaking spaces and typographic apostrophes.

French puts a narrow no-break space (U+202F) before ``;`` ``?`` ``!`` and inside « », and a no-break
space (U+00A0) before ``:`` and ``%`` and between « tableau », « figure », « couche »... and their
number (Imprimerie nationale, *Lexique des règles typographiques*). Written once here, for every
French text of the sheet, instead of by hand in each template. Mathematics, code, link targets
and attribute blocks are left as they are.
"""

from __future__ import annotations

import re

NNBSP, NBSP = "\u202f", "\u00a0"
# What the rules must not touch: display and inline math, code, a link's target, an attribute block.
_PROTECTED = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|```.*?```|`[^`\n]*`|\]\([^)\n]*\)|\{[^}\n]*\}", re.S)
_SPACE = "[ \u00a0\u202f]"
_RULES = (
    (re.compile(_SPACE + r"+(?=[;?!](?!\[))"), NNBSP),            # before ; ? ! (not an image's ![)
    (re.compile(_SPACE + r"+(?=:)"), NBSP),                       # before :
    (re.compile(r"(?<=\d)" + _SPACE + r"+(?=%)"), NBSP),          # 15,6 %
    (re.compile("«" + _SPACE + "*"), "«" + NNBSP),                # inside « »
    (re.compile(_SPACE + "*»"), NNBSP + "»"),
    (re.compile(r"\b(tableau|figure|couche|section|chapitre|page|éq\.|Tableau|Figure|Couche|Section) (?=[\dA-Z$])"),
     "\\1" + NBSP),                                             # figure 8, couche L5, section 7.5
    (re.compile(r"(?<=[A-Za-zÀ-ÿ])'(?=[A-Za-zÀ-ÿ])"), "\u2019"),   # l'énoncé (not a prime: L5', L'2)
)


def french(text: str) -> str:
    """French Markdown with its no-break spaces and apostrophes set, outside math, code and link targets."""
    out, last = [], 0
    for m in _PROTECTED.finditer(text):
        out += [_prose(text[last:m.start()]), m.group(0)]
        last = m.end()
    out.append(_prose(text[last:]))
    return "".join(out)


def _prose(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
