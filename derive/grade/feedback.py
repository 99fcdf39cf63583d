"""Feedback as data, rendered per language and medium: sentences whose formulas are SymPy objects.

The grader says what it found as :class:`Sentence` objects (a key of ``words.toml``, ``error.*`` or
a mistake of ``catalogue.toml``, and its values); this module writes them in French or English, with
formulas printed by :mod:`derive.symbolic.printing` as Unicode text or, for the Markdown pages, as
LaTeX. What a student typed is never interpreted as markup: in Markdown it is set as code.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from derive import prose
from derive.grade import catalogue
from derive.symbolic import printing

MEDIA = ("text", "markdown")


@dataclass(frozen=True)
class Formula:
    """A SymPy object to print in the exam's notation (``lhs = expr`` when lhs is given)."""

    expr: object
    notation: dict = field(default_factory=dict, compare=False)
    lhs: object = None


@dataclass(frozen=True)
class Case:
    """A hinge case's condition, its parts joined by commas in parentheses: (l = 1, D < 1)."""

    condition: object
    notation: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Choice:
    """Values joined by 'or'."""

    items: tuple


@dataclass(frozen=True)
class Typed:
    """Text a student typed, shown as it is."""

    text: str


@dataclass(frozen=True)
class Problem:
    """An Unreadable or Meaningless error, written in the sentence's language."""

    exc: Exception


@dataclass(frozen=True)
class Sentence:
    """One sentence: a key (``sentence.correct``, ``error.empty``, ``mistake.sign``) and its values."""

    key: str
    values: dict = field(default_factory=dict)


@functools.cache
def words() -> dict:
    """words.toml: sentences, error messages and the words of what the parser expected."""
    return tomllib.loads(Path(__file__).with_name("words.toml").read_text(encoding="utf-8"))


def template(key: str, lang: str) -> str:
    """The text of a key in one language."""
    group, name = key.split(".", 1)
    table = catalogue.data()["mistake"] if group == "mistake" else words()[group]
    return table[name][lang]


def render(sentences, lang: str = "en", medium: str = "text") -> str:
    """Sentences joined into one paragraph."""
    return " ".join(sentence(s, lang, medium) for s in sentences)


def sentence(s: Sentence, lang: str, medium: str = "text") -> str:
    """One sentence in one language and medium."""
    values = {k: value(v, lang, medium, k) for k, v in s.values.items()}
    text = template(s.key, lang)
    return (markdown_escape(text) if medium == "markdown" else text).format(**values)


def markdown_escape(text: str) -> str:
    """Our own words made literal in Markdown (a k_h or a * is not emphasis); format fields are kept."""
    parts = re.split(r"(\{\{|\}\}|\{[^{}]*\})", text)
    return "".join(p if i % 2 else "".join("\\" + ch if ch in "\\*_[]<>#|`" else ch for ch in p)
                   for i, p in enumerate(parts))


def value(v, lang: str, medium: str, name: str = "") -> str:
    """A value of a sentence written out: formulas printed, numbers per language, lists joined."""
    if isinstance(v, Sentence):
        return sentence(v, lang, medium)
    if isinstance(v, Problem):
        return problem(v.exc, lang, medium)
    if isinstance(v, Case):
        return case(v, lang, medium)
    if isinstance(v, Choice):
        return template("sentence.or", lang).join(value(x, lang, medium) for x in v.items)
    if name == "expected":
        return prose.listing([expected(x, lang) for x in v], lang)
    if isinstance(v, Formula):
        return formula(v, lang, medium)
    if isinstance(v, Typed):
        return f"`{v.text.replace('`', chr(0x2018))}`" if medium == "markdown" else v.text
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return prose.num(v, lang, 4)
    if isinstance(v, (list, tuple)):
        items = [value(x, lang, medium, name) for x in v]
        return prose.listing(items, lang) if name != "names" else ", ".join(items)
    if name.endswith("counts"):
        return counts(str(v), lang)
    if name.endswith("_of"):
        return counts(str(v), lang, "_of")
    return str(v)


def counts(what: str, lang: str, form: str = "") -> str:
    """What an index runs over: the units of a layer, or the examples of the batch (``_of``: after "de")."""
    if what == "examples":
        return template(f"sentence.examples{form}", lang)
    return template(f"sentence.units{form}", lang).format(layer=what)


def case(c: Case, lang: str, medium: str) -> str:
    """(l = 1, D < 1): each part of the condition printed, joined by commas."""
    parts = list(c.condition.args) if c.condition.func.__name__ == "And" else [c.condition]
    if medium == "markdown":
        return "$(" + ",\\ ".join(printing.latex(p, c.notation, lang) for p in parts) + ")$"
    return "(" + ", ".join(printing.text(p, c.notation, lang) for p in parts) + ")"


def expected(word: str, lang: str) -> str:
    """A word of the parser's 'expected ...' (a term, an operator) in one language, or a quoted terminal."""
    table = words()["expected"]
    return table[word][lang] if word in table else word


def formula(f: Formula, lang: str, medium: str) -> str:
    """A formula printed as Unicode text, or as inline LaTeX for Markdown."""
    if medium == "markdown":
        body = printing.latex(f.expr, f.notation, lang)
        if f.lhs is not None:
            body = f"{printing.latex(f.lhs, f.notation, lang)} = {body}"
        return f"${body}$"
    body = printing.text(f.expr, f.notation, lang)
    return body if f.lhs is None else f"{printing.text(f.lhs, f.notation, lang)} = {body}"


def problem(exc, lang: str, medium: str = "text") -> str:
    """The message of an Unreadable or Meaningless error in one language (what the student typed as typed)."""
    values = {k: Typed(v) if k in ("found", "lhs") else v for k, v in exc.values.items()}
    return sentence(Sentence(f"error.{exc.key}", values), lang, medium)
