"""Reading a student's formula into a syntax tree, safely: a LALR grammar (lark), no eval, no sympify.

``parse(text)`` normalises the spelling (:mod:`derive.grade.notation`), parses with ``grammar.lark``
and returns a tree of :class:`Node` objects (and lark tokens at the leaves) whose positions are
columns of the answer as typed. Unreadable input raises :class:`Unreadable`, which says where and
what was expected; so does input longer or more deeply nested than a person writes, so that nothing
downstream (SymPy, the printers, lambdify's compiler) meets a tree it would recurse through without
end. Parentheses add no node: ``((x))`` is ``x``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from derive.grade import notation

MAX_CHARS = 200_000   # a whole copy is a few hundred characters; 100 kB is already far beyond
MAX_DEPTH = 48        # operators nested in operators; lambdify's compiler accepts about 200 parentheses
# A left-nested chain of + and − (or of ×, ÷ and juxtaposition) is one level, not one per term.
CHAINS = {"add": "sum", "sub": "sum", "mul": "product", "div": "product", "imul": "product"}

# Words and commands the grammar treats as keywords (everything else that looks like a name is a NAME).
KEYWORDS = {
    "SUM": ("sum", "\\sum", "somme"),
    "FUNC": ("max", "min", "mean", "log", "ln", "exp", "sqrt", "norm", "sigma", "\\max", "\\min", "\\log",
             "\\ln", "\\exp", "\\sqrt", "\\sigma", "\\operatorname"),
    "FRAC": ("\\frac", "\\dfrac", "\\tfrac"),
    "TIMES": ("\\cdot", "\\times", "\\ast"),
    "DIVIDE": ("\\div",),
    "REL": ("\\le", "\\leq", "\\leqslant", "\\ge", "\\geq", "\\geqslant", "\\lt", "\\gt", "\\ne", "\\neq"),
    "NORM": ("\\Vert", "\\lVert", "\\rVert", "\\|"),
    "IF": ("if", "si", "when", "quand", "lorsque"),
    "OTHERWISE": ("otherwise", "sinon", "else", "autrement"),
    "AND": ("and", "et", "\\land", "\\wedge"),
}
RETYPE = {word: kind for kind, words in KEYWORDS.items() for word in words}
# Commands the grammar knows besides the keywords: Greek letters it reads as names, and what the
# lexer's patterns match. Any other command is refused by name before parsing (\input, \def, \write).
COMMANDS = {"\\rho", "\\beta", "\\sigma", "\\begin", "\\end", "\\text", "\\textrm", "\\textnormal",
            "\\mathrm", "\\mbox", "\\textit", "\\mathbb", "\\mathbf", "\\mathds", "\\mathbbm", "\\quad",
            "\\qquad", "\\displaystyle", "\\limits", "\\left", "\\right", "\\big", "\\Big", "\\bigg", "\\Bigg",
            "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\Biggl", "\\Biggr"} | {
    w for w in RETYPE if w.startswith("\\")}
RELATIONS = {"\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=",
             "\\lt": "<", "\\gt": ">", "\\ne": "!=", "\\neq": "!=", "==": "="}
# What each terminal is called in an error message.
# What each terminal is called in an error message ("term", "operator", "comparison" and "end" are
# words that feedback.py translates; the others are quoted as typed).
DESCRIBE = {"END_CASES": "'\\end{cases}'", "ROWSEP": "';'", "NORM": "'||'", "RANGE": "'..'", "REL": "comparison",
            "PRIME": "\"'\"", "PLUS": "'+'", "MINUS": "'-'", "TIMES": "'*'", "DIVIDE": "'/'", "IF": "'if'",
            "OTHERWISE": "'otherwise'", "AND": "'and'", "$END": "end"}
TERM_STARTS = {"NAME", "NUMBER", "LPAR", "LSQB", "LBRACE", "FUNC", "FRAC", "SUM", "INDICATOR", "BEGIN_CASES"}


class Unreadable(ValueError):
    """An answer that cannot be read: the column (1-based, in the answer as typed), a message key, its values.

    The key and values are rendered in the grading's language by :mod:`derive.grade.feedback`;
    ``str()`` gives the English form, for logs and tests.
    """

    def __init__(self, column: int, key: str, **values):
        super().__init__(f"column {column}: {key} {values}")
        self.column, self.key, self.values = column, key, values


@dataclass(frozen=True)
class Node:
    """A rule of the grammar that matched: its name, where it starts and ends (plain text), its children."""

    kind: str
    start: int
    end: int
    children: tuple
    depth: int = 1


@dataclass(frozen=True)
class Parsed:
    """A syntax tree with the normalised text it was read from (for spans and error columns)."""

    tree: object
    source: notation.Normalised

    def raw(self, item) -> str:
        """The plain text under a node or token."""
        start, end = span(item)
        return self.source.text[start:end]

    def column(self, item) -> int:
        """The column of the answer where a node or token starts."""
        return self.source.column(span(item)[0])


def span(item) -> tuple[int, int]:
    """(start, end) of a node or token in the normalised text."""
    if isinstance(item, Token):
        return item.start_pos, item.end_pos
    return item.start, item.end


def depth(item) -> int:
    """How deeply operators nest under a node (a token: 0)."""
    return item.depth if isinstance(item, Node) else 0


@functools.cache
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=False,
                lexer_callbacks={"NAME": _retype, "TEXT": _text})


def _retype(tok: Token) -> Token:
    kind = RETYPE.get(tok.value)
    if kind is None:
        return tok
    value = RELATIONS.get(tok.value, tok.value)
    return Token.new_borrow_pos(kind, value, tok)


def _text(tok: Token) -> Token:
    """\\text{si } and the like: a word of the cases environment, or a function's name."""
    word = re.sub(r"^\\[A-Za-z]+\s*\{|\}$", "", tok.value).strip().lower()
    kind = RETYPE.get(word)
    if kind in ("IF", "OTHERWISE", "AND", "FUNC", "SUM"):
        return Token.new_borrow_pos(kind, word, tok)
    raise _TextError(tok)


class _TextError(Exception):
    def __init__(self, tok):
        super().__init__(tok.value)
        self.tok = tok


@v_args(meta=True)
class _Tree(Transformer_NonRecursive):
    """Lark's tree into Nodes, counting nesting as it goes (bottom up, without recursion)."""

    def __default__(self, data, children, meta):
        kids = tuple(children)
        if data in ("paren", "brace") and len(kids) == 1:
            return kids[0]  # parentheses add no level
        family = CHAINS.get(str(data))
        levels = [depth(k) - (1 if i == 0 and family and isinstance(k, Node) and CHAINS.get(k.kind) == family else 0)
                  for i, k in enumerate(kids)]
        level = 1 + max(levels, default=0)
        if level > MAX_DEPTH:
            raise _TooDeep(meta.start_pos)
        return Node(str(data), meta.start_pos, meta.end_pos, kids, level)


class _TooDeep(Exception):
    def __init__(self, pos):
        super().__init__(pos)
        self.pos = pos


def parse(text: str) -> Parsed:
    """The syntax tree of an answer; raises Unreadable with the column and what was expected.

    >>> parse("(s6_k - s6'_k) * s5_j").tree.kind
    'mul'
    """
    if len(text) > MAX_CHARS:
        raise Unreadable(MAX_CHARS + 1, "too_long", limit=MAX_CHARS)
    source = notation.normalise(text)
    if not source.text.strip():
        raise Unreadable(1, "empty")
    for m in re.finditer(r"(?<!\\)\\[A-Za-z]+", source.text):
        if m.group(0) not in COMMANDS:
            raise Unreadable(source.column(m.start()), "unknown_command", found=m.group(0))
    try:
        tree = _Tree().transform(_parser().parse(source.text))
    except _TextError as exc:
        raise Unreadable(source.column(exc.tok.start_pos), "text", found=exc.tok.value) from None
    except _TooDeep as exc:
        raise Unreadable(source.column(exc.pos), "too_deep", limit=MAX_DEPTH) from None
    except UnexpectedInput as exc:
        raise _unreadable(exc, source) from None
    return Parsed(tree.children[0] if isinstance(tree, Node) and tree.kind == "start" else tree, source)


def _unreadable(exc: UnexpectedInput, source: notation.Normalised) -> Unreadable:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        return Unreadable(source.column(pos), "character", found=source.text[pos])
    tok = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or tok is None or tok.type == "$END":
        return Unreadable(source.column(len(source.text)), "early", expected=_expected(exc))
    return Unreadable(source.column(tok.start_pos), "unexpected", found=tok.value, expected=_expected(exc))


def _expected(exc) -> list[str]:
    """What the parser would have accepted, as message words: "term", "operator" or a terminal's text."""
    names = set(getattr(exc, "accepts", None) or exc.expected or ())
    words = []
    if names & TERM_STARTS:
        words.append("term")
        names -= TERM_STARTS
    if {"PLUS", "MINUS", "TIMES", "DIVIDE"} <= names:
        words.append("operator")
        names -= {"PLUS", "MINUS", "TIMES", "DIVIDE"}
    words += [DESCRIBE.get(name) or _literal(name) for name in sorted(names)]
    return list(dict.fromkeys(words))


def _literal(name: str) -> str:
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    return f"'{pattern.value}'" if pattern.type == "str" else name
