"""A name and its scripts read as one quantity of the graph: layer labels, the example, indices, powers.

``s^{(6')}_k`` is s⁽⁶′⁾ at k; ``w_{(56)jk}`` (the exam's own subscript) is w⁽⁵⁶⁾ at j, k; ``s5_f^(i)`` is
s⁽⁵⁾ at f for the i-th example of the batch; a superscript that is neither a layer label nor an example
is a power. An index letter is bound by the innermost sum over it, else free; the size it runs over
is that of what it indexes, and one letter that counts the units of two layers is :class:`Meaningless`.
:class:`Names` is the part of the reader (:mod:`derive.grade.reading`) that does this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp
from lark import Token

from derive.symbolic import graph as graphs


class Meaningless(ValueError):
    """An answer that reads but has no value: a message key and its values (rendered by feedback.py)."""

    def __init__(self, key: str, **values):
        super().__init__(f"{key} {values}")
        self.key, self.values = key, values


@dataclass
class Binding:
    """An index letter in scope: its symbol, the size it runs over (once known), the quantity that told."""
    symbol: sp.Symbol
    size: object = None
    seen: str = ""            # the first quantity it indexed, for messages


@dataclass
class State:
    """What the reader is inside: the scopes of index letters, a mean's example, a norm's component."""
    scopes: list = field(default_factory=lambda: [{}])
    example: sp.Symbol | None = None     # the example of a mean, for batch names written without one
    vector: Binding | None = None       # the component index of a norm being read


class Names:
    """Reading names; the reader using it has ``vocab``, ``state`` (scopes, example, vector), ``fail``, ``powers``."""

    def name(self, tok: Token, scripts) -> sp.Expr:
        """A name with its scripts: layer labels, an example, indices, then powers."""
        typed, marks, indices, powers = tok.value, [], None, []
        for s in scripts:
            raw = self.parsed.raw(s)[1:] if s.kind != "prime" else "'"
            if powers and s.kind != "sup":
                self.fail(s, "script_here")
            if s.kind == "prime":
                typed += "'"
            elif s.kind == "sup":
                chunks = _chunks(raw)
                chunks = chunks if chunks is None else [_layer(c) for c in chunks]
                if not powers and chunks is not None and all(self.is_mark(typed, c) for c in chunks):
                    marks += chunks
                else:
                    powers.append(s)
            else:
                if indices is not None:
                    self.fail(s, "script_here")
                chunks, rest = _subscript(raw)
                chunks = [_layer(c) for c in chunks]
                parts = [p.strip() for p in rest.split(",")] if "," in rest else ([rest] if rest else [])
                if parts and (typed + parts[0]) in self.vocab.quantities and not chunks:
                    chunks, parts = [parts[0]], parts[1:]  # the exam's own s_{6'}: the label as a subscript
                marks += chunks
                letters = []
                for p in parts:
                    got = index_letters(p)
                    if got is None:
                        self.fail(s, "index", found=p)
                    letters += got
                indices = letters
        labels = [c for c in marks if (typed + c) in self.vocab.quantities]
        if len(labels) > 1:
            self.fail(tok, "labels", name=typed)
        key = typed + (labels[0] if labels else "")
        quantity = self.vocab.lookup(key)
        if quantity is None:
            if typed.startswith("\\") and not labels:
                self.fail(tok, "unknown_command", found=typed)
            self.fail(tok, "unknown_name", found=key, names=self.vocab.names())
        examples = [c for c in marks if c not in labels]
        return self.powers(self.quantity(tok, key, quantity, indices, examples), powers)

    def is_mark(self, typed: str, chunk: str) -> bool:
        """Whether a parenthesised superscript is part of a name: a layer label, the (t) or an example."""
        return (typed + chunk) in self.vocab.quantities or index_letters(chunk) == [chunk]

    def quantity(self, tok, key, quantity, indices, examples) -> sp.Expr:
        indices = list(indices or [])
        if quantity.symbol is not None:
            if indices:
                self.fail(tok, "no_index", name=key)
            return quantity.symbol
        if len(examples) > 1:
            self.fail(tok, "labels", name=key)
        example = None
        if quantity.batch is not None:
            if examples and examples[0] != "t" or examples and self.state.example is None:
                example = self.bind(examples[0], quantity.batch, key, tok)
            elif self.state.example is not None:
                example = self.state.example
            else:
                example = self.bind(graphs.KL_INDICES[2], quantity.batch, key, tok)
        elif examples and examples[0] != "t":
            self.fail(tok, "example_here", name=key)
        want = len(quantity.sizes)
        if not indices and want == 1 and self.state.vector is not None:
            vec = self.state.vector
            self.record(vec, quantity.sizes[0], key)
            return quantity.item((vec.symbol,), example)
        if len(indices) != want:
            self.fail(tok, "indices", name=key, want=want, got=len(indices))
        symbols = [self.bind(letter, size, key, tok) for letter, size in zip(indices, quantity.sizes)]
        return quantity.item(symbols, example)

    def bind(self, letter: str, size, key: str, tok) -> sp.Symbol:
        """The symbol of an index letter in scope (the innermost sum over it, else free), its size recorded."""
        for scope in reversed(self.state.scopes):
            if letter in scope:
                binding = scope[letter]
                break
        else:
            binding = self.state.scopes[0].setdefault(letter, Binding(graphs.index(letter)))
        self.record(binding, size, key)
        return binding.symbol

    def record(self, binding: Binding, size, key: str) -> None:
        if binding.size is None:
            binding.size, binding.seen = size, key
        elif binding.size != size:
            raise Meaningless("index_ranges", index=binding.symbol.name, first=binding.seen, second=key,
                              first_counts=self.vocab.counts.get(binding.size, str(binding.size)),
                              second_counts=self.vocab.counts.get(size, str(size)))


def _layer(chunk: str) -> str:
    """A layer written by its name, (L5') or (L56), as the exam's label: 5', 56."""
    m = re.fullmatch(r"L(\d+'*)", chunk)
    return m.group(1) if m else chunk


def _chunks(raw: str) -> list[str] | None:
    """The parenthesised parts of a superscript, ``(5)(t)`` -> ["5", "t"]; None if it is not made of them."""
    text = re.sub(r"\s+", "", raw)
    while text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not re.fullmatch(r"(\([^()]*\))+", text):
        return None
    return re.findall(r"\(([^()]*)\)", text)


def _subscript(raw: str) -> tuple[list[str], str]:
    """A subscript's leading labels in parentheses (the exam's w_{(56)}) and the rest (its indices)."""
    text = re.sub(r"\s+", "", raw)
    while text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    head = re.match(r"(\([^()]*\))*", text).group(0)
    return re.findall(r"\(([^()]*)\)", head), text[len(head):]


def index_letters(text: str) -> list[str] | None:
    """Index letters of a subscript: ``jk`` -> ["j", "k"], ``k'`` -> ["k'"]; None if it holds anything else."""
    if not re.fullmatch(r"(?:[a-z]'*)+", text):
        return None
    return re.findall(r"[a-z]'*", text)
