"""A syntax tree read as a SymPy expression in a graph's names: indices, sums, means, norms, brackets, cases.

The reader walks the tree of :mod:`derive.grade.syntax` with the vocabulary of one graph. A name and
its scripts become one quantity (``s^{(6')}_k`` is s⁽⁶′⁾ at k; a superscript that is not a layer
label or an example is a power); an index letter is bound by the innermost ``sum`` over it, else
free, and the size it runs over is taken from the quantities it indexes, so a sum needs no limits.
``mean(...)`` (the KL question) is the mean over the m examples; ``||v||`` is the Euclidean norm of a
vector written without its index. Names and their scripts are :mod:`derive.grade.names`' part. An
answer that cannot be read raises ``syntax.Unreadable`` (at a column); one that reads but means
nothing (an index counting units of two layers) raises ``names.Meaningless``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from lark import Token

from derive.grade import syntax
from derive.grade.names import Binding, Meaningless, Names, State, index_letters
from derive.grade.syntax import Node, Unreadable
from derive.symbolic import graph as graphs

MAX_EXPONENT = 16     # x^2 or x^(1/2) are what answers need; 9^9^9 would make SymPy compute for ever
MAX_DIGITS = 30
OPERATORS = {"PLUS", "MINUS", "TIMES", "DIVIDE", "ROWSEP", "AND", "IF", "OTHERWISE", "NORM", "SUM", "FUNC", "FRAC",
             "BEGIN_CASES", "END_CASES", "RANGE", "PRIME"}
RELATIONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "=": sp.Eq, "!=": sp.Ne}
FUNCTIONS = {"max": sp.Max, "min": sp.Min, "log": sp.log, "ln": sp.log, "exp": sp.exp, "sqrt": sp.sqrt,
             "sigma": graphs.sigmoid}
SPARE = "qpruvxyz"    # letters for an index the reader adds itself (a norm's components)


@dataclass(frozen=True)
class Reading:
    """What an answer was read as: the expression, and the size each of its free indices runs over."""

    expr: sp.Expr
    ranges: dict


def read(parsed: syntax.Parsed, vocab) -> Reading:
    """The SymPy expression of a parsed answer in a graph's vocabulary.

    Raises Unreadable (with a column) or Meaningless.
    """
    reader = _Reader(parsed, vocab)
    expr = reader.value(parsed.tree)
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise Meaningless("divides_by_zero")
    free = {b.symbol: b.size for b in reader.state.scopes[0].values() if b.size is not None}
    return Reading(expr, free)


class _Reader(Names):
    def __init__(self, parsed, vocab):
        self.parsed, self.vocab, self.state = parsed, vocab, State()

    # -- errors --------------------------------------------------------------------------------------
    def fail(self, item, key: str, **values):
        raise Unreadable(self.parsed.column(item), key, **values)

    # -- values --------------------------------------------------------------------------------------
    def value(self, item) -> sp.Expr:
        """The expression of a node or token that stands for a number."""
        if isinstance(item, Token):
            return self.token(item)
        method = getattr(self, f"_{item.kind}", None)
        if method is None:
            self.fail(item, "not_value", found=self.parsed.raw(item)[:40])
        return method(item)

    def token(self, tok: Token) -> sp.Expr:
        if tok.type == "NUMBER":
            if len(tok.value) > MAX_DIGITS:
                self.fail(tok, "number_long", limit=MAX_DIGITS)
            return sp.Rational(tok.value)
        if tok.type == "INDICATOR":
            return sp.Integer(1)  # 𝟙 before [D<1] or (D<1): the bracket carries the condition
        if tok.type == "NAME":
            return self.name(tok, ())
        self.fail(tok, "unexpected", found=tok.value, expected=["term"])

    def _add(self, node):
        return self._chain(node, ("add", "sub"), lambda terms: sp.Add(*terms), lambda x, op: -x if op == "sub" else x)

    _sub = _add

    def _mul(self, node):
        return self._chain(node, ("mul", "div", "imul"), lambda fs: sp.Mul(*fs),
                           lambda x, op: sp.Pow(x, -1) if op == "div" else x)

    _div = _imul = _mul

    def _chain(self, node, kinds, join, signed):
        """A left-nested chain of + and − (or × and ÷) read without recursing once per term."""
        parts, item = [], node
        while isinstance(item, Node) and item.kind in kinds:
            parts.append((item.kind, item.children[-1]))
            item = item.children[0]
        parts.append(("", item))
        return join([signed(self.value(child), op) for op, child in reversed(parts)])

    def _neg(self, node):
        return -self.value(node.children[-1])

    def _pos(self, node):
        return self.value(node.children[-1])

    def _frac(self, node):
        _, top, bottom = node.children
        return self.value(top) / self.value(bottom)

    def _bracket(self, node):
        inner = node.children[0]
        if isinstance(inner, Node) and inner.kind in ("cond", "rel"):
            return sp.Piecewise((1, self.condition(inner)), (0, True))
        return self.value(inner)

    def _paren(self, node):
        self.fail(node, "tuple")

    def _brace(self, node):
        self.fail(node, "tuple")

    def _cond(self, node):
        return sp.Piecewise((1, self.condition(node)), (0, True))  # (D < 1) as a value is its indicator

    _rel = _cond

    def _cases(self, node):
        rows = next(c for c in node.children if isinstance(c, Node) and c.kind == "rows")
        return self._rows(rows)

    def _rows(self, node):
        pieces = []
        for row in node.children:
            if not isinstance(row, Node):
                continue
            if row.kind == "row_else":
                pieces.append((self.value(row.children[0]), sp.true))
            else:
                pieces.append((self.value(row.children[0]), self.condition(row.children[-1])))
        return sp.Piecewise(*pieces)

    def _ifelse(self, node):
        a, _, cond, _, b = node.children
        return sp.Piecewise((self.value(a), self.condition(cond)), (self.value(b), True))

    def _start(self, node):
        return self.value(node.children[0])

    def _call(self, node):
        func, *args = node.children
        name = func.value.lstrip("\\")
        if name == "mean":
            return self.mean(node, args)
        if name == "norm":
            return self.norm(node, args, ())
        if name not in FUNCTIONS:
            self.fail(func, "unknown_function", found=func.value)
        values = [self.value(a) for a in args]
        if name not in ("max", "min") and len(values) != 1:
            self.fail(node, "arguments", function=name, count=1)
        if name in ("max", "min") and len(values) < 2:
            self.fail(node, "arguments", function=name, count=2)
        return FUNCTIONS[name](*values)

    def _normed(self, node):
        _, inner, _, *scripts = node.children
        return self.norm(node, [inner], scripts)

    def _scripted(self, node):
        atom, *scripts = node.children
        if isinstance(atom, Token) and atom.type == "NAME":
            return self.name(atom, scripts)
        if isinstance(atom, (Token, Node)) and _is_one(atom) and scripts and scripts[0].kind == "sub":
            cond = scripts[0].children[0]
            if isinstance(cond, Node) and cond.kind in ("cond", "rel"):  # 1_{D<1}, \mathbb{1}_{D<1}
                return self.powers(sp.Piecewise((1, self.condition(cond)), (0, True)), scripts[1:])
        return self.powers(self.value(atom), scripts)

    def _bigop(self, node):
        _, *scripts, body = node.children
        subs = [s for s in scripts if s.kind == "sub"]
        sups = [s for s in scripts if s.kind == "sup"]
        if len(subs) != 1 or len(sups) > 1 or len(subs) + len(sups) != len(scripts):
            self.fail(node, "sum_index")
        letter, lower, upper = self.limits(subs[0].children[0])
        if upper is None and sups:
            upper = sups[0].children[0]
        if lower is not None and self.value(lower) != 1:
            self.fail(lower, "sum_lower")
        binding = Binding(graphs.index(letter))
        self.state.scopes.append({letter: binding})
        try:
            inner = self.value(body)
        finally:
            self.state.scopes.pop()
        if binding.size is None:
            raise Meaningless("sum_empty", index=letter)
        if upper is not None:
            self.check_upper(upper, binding, letter)
        return sp.Sum(inner, (binding.symbol, 1, binding.size))

    # -- pieces --------------------------------------------------------------------------------------
    def limits(self, item):
        """(index letter, lower limit node or None, upper limit node or None) of a sum's subscript."""
        if isinstance(item, Token) and item.type == "NAME" and index_letters(item.value) == [item.value]:
            return item.value, None, None
        if isinstance(item, Node) and item.kind in ("rel", "range_"):
            kids = [c for c in item.children if not (isinstance(c, Token) and c.type in ("REL", "RANGE"))]
            rel = next(c for c in item.children if isinstance(c, Token) and c.type == "REL")
            head = kids[0]
            if rel.value == "=" and isinstance(head, Token) and head.type == "NAME" and len(kids) in (2, 3):
                return head.value, kids[1], (kids[2] if len(kids) == 3 else None)
        self.fail(item, "sum_index")

    def check_upper(self, upper, binding, letter):
        value = self.value(upper)
        size = binding.size
        if value == size or (value.is_Integer and self.vocab.sizes.get(size) == int(value)):
            return
        raise Meaningless("sum_limit", index=letter, given=str(value), counts=self.vocab.counts.get(size, str(size)))

    def mean(self, node, args):
        if self.vocab.examples is None:
            self.fail(node, "mean_here")
        if len(args) != 1:
            self.fail(node, "arguments", function="mean", count=1)
        symbol = graphs.index(graphs.KL_INDICES[2])
        binding = Binding(symbol, self.vocab.examples, "mean")
        outer = self.state.example
        self.state.example = symbol
        self.state.scopes.append({symbol.name: binding})
        try:
            inner = self.value(args[0])
        finally:
            self.state.scopes.pop()
            self.state.example = outer
        m = self.vocab.examples
        return sp.Sum(inner, (symbol, 1, m)) / m

    def norm(self, node, args, scripts):
        if len(args) != 1:
            self.fail(node, "arguments", function="norm", count=1)
        used = set(self.parsed.source.text)
        letter = next(c for c in SPARE if c not in used)
        outer, self.state.vector = self.state.vector, Binding(graphs.index(letter))
        try:
            inner = self.value(args[0])
            vec = self.state.vector
        finally:
            self.state.vector = outer
        if vec.size is None:
            value = sp.Abs(inner)
        else:
            value = sp.sqrt(sp.Sum(inner ** 2, (vec.symbol, 1, vec.size)))
        rest = []
        for s in scripts:
            if s.kind == "sub" and self.parsed.raw(s).strip("_{} ") == "2":
                continue  # ||v||_2: the Euclidean norm it is
            rest.append(s)
        return self.powers(value, rest)

    def condition(self, item) -> sp.Basic:
        if not isinstance(item, Node) or item.kind not in ("cond", "rel"):
            self.fail(item, "condition")
        if item.kind == "cond":
            return sp.And(*[self.condition(c) for c in item.children if isinstance(c, Node)])
        kids = item.children
        terms = [self.value(k) for k in kids[0::2]]
        ops = [k.value for k in kids[1::2]]
        return sp.And(*[RELATIONS[op](a, b) for op, a, b in zip(ops, terms, terms[1:])])

    def powers(self, base, scripts):
        for s in scripts:
            if s.kind != "sup":
                self.fail(s, "script_here")
            exponent = self.value(s.children[0])
            if not exponent.is_Rational or abs(exponent.p) > MAX_EXPONENT or exponent.q > MAX_EXPONENT:
                self.fail(s, "exponent", limit=MAX_EXPONENT)
            if base.is_Rational and base != 0 and abs(exponent) * _digits(base) > MAX_DIGITS:
                self.fail(s, "exponent", limit=MAX_EXPONENT)  # (9^9)^9 is exact and huge
            base = base ** exponent
        return base

def _digits(number: sp.Rational) -> int:
    """Decimal digits of a rational's larger part (how big its powers grow)."""
    return max(len(str(abs(number.p))), len(str(number.q)))


def _is_one(item) -> bool:
    return isinstance(item, Token) and (item.type == "INDICATOR" or (item.type == "NUMBER" and item.value == "1"))
