"""Claims: what a sentence of the sheet concludes, as a predicate over the evidence's numbers.

An answer unit states each empirical or comparative conclusion as a :class:`Claim`: an id, what the
sentence says (per language), a predicate written over named numbers (``"acc_dropout < chance_top"``)
and the numbers themselves. The predicate is evaluated when the sheet is built, by a small
evaluator that understands comparisons, arithmetic, ``and``/``or``/``not`` and a few functions, and
nothing else: the text shown to the teacher is the very expression that was evaluated. A template
chooses its wording from ``claims.<name>``; a claim marked ``required`` has no other wording, and the
build stops when it does not hold.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field

_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "sqrt": math.sqrt, "log10": math.log10, "all": all, "any": any}


class PredicateError(ValueError):
    """A predicate that is not a plain expression over its numbers (or names a number it was not given)."""


def evaluate(predicate: str, numbers: dict):
    """The value of a predicate over named numbers; only comparisons, arithmetic and a few functions."""
    try:
        tree = ast.parse(predicate, mode="eval")
    except SyntaxError as exc:
        raise PredicateError(f"cannot read the predicate {predicate!r}: {exc.msg}") from None
    return _eval(tree.body, numbers, predicate)


def _eval(node, numbers, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in numbers:
            raise PredicateError(f"the predicate {text!r} names {node.id!r}, which is not among its numbers")
        return numbers[node.id]
    if isinstance(node, ast.BoolOp):
        values = [bool(_eval(v, numbers, text)) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        value = _eval(node.operand, numbers, text)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, numbers, text), _eval(node.right, numbers, text))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left, numbers, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, numbers, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        return _FUNCTIONS[node.func.id](*(_eval(a, numbers, text) for a in node.args))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, numbers, text) for e in node.elts]
    raise PredicateError(f"the predicate {text!r} uses {ast.unparse(node)!r}, which a claim may not")


@dataclass(frozen=True)
class Claim:
    """One conclusion of the sheet: what it says, the predicate it rests on and the numbers it was checked on."""

    id: str                                   # "ex1.q6.at_chance": the question's id, then the claim's name
    says: dict[str, str]                      # the sentence's conclusion, per language
    predicate: str
    numbers: dict = field(default_factory=dict)
    required: bool = False                    # no other wording exists: the build stops when it fails

    @property
    def name(self) -> str:
        """The claim's name within its question (what templates test)."""
        return self.id.rsplit(".", 1)[-1]

    @property
    def holds(self) -> bool:
        """Whether the predicate is true on the numbers."""
        return bool(evaluate(self.predicate, self.numbers))

    def as_dict(self, question: str) -> dict:
        """The claim as ``claims.json`` records it."""
        return {"id": self.id, "question": question, "holds": self.holds, "predicate": self.predicate,
                "numbers": {k: _plain(v) for k, v in sorted(self.numbers.items())}, "required": self.required,
                "says": dict(self.says)}

    def failure(self) -> str:
        """One line naming the claim, its predicate and its numbers, for a build that stops."""
        numbers = ", ".join(f"{k} = {_plain(v)}" for k, v in sorted(self.numbers.items()))
        return f"claim {self.id} does not hold: {self.predicate} (with {numbers})"


def _plain(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 and not isinstance(value, float) else number


class Verdicts(dict):
    """The claims of one question by name (``claims.at_chance`` in a template), each True or False."""

    def __getattr__(self, name: str) -> bool:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no claim named {name!r}") from None


def verdicts(claims) -> Verdicts:
    """The holds of a question's claims, by name (a name used twice is a mistake of the unit)."""
    out = Verdicts()
    for c in claims:
        if c.name in out:
            raise ValueError(f"two claims are named {c.id}")
        out[c.name] = c.holds
    return out



class Replacements:
    """The wordings a question's templates print in place of its claims that fail.

    A template writes ``{% call otherwise("name") %}wording{% endcall %}``: the wording is printed (and
    remembered) only when the claim ``name`` does not hold. The appendix quotes it next to the failed
    claim, and refuses to label a claim as failed when no such wording was printed.
    """

    def __init__(self, held: dict[str, bool]):
        self.held = dict(held)
        self.printed: dict[str, str] = {}

    def __call__(self, name: str, caller) -> str:
        """The wording inside the call block when the claim fails, else nothing."""
        if name not in self.held:
            raise ValueError(f"otherwise() names {name!r}, which is not a claim of this question")
        if self.held[name]:
            return ""
        text = caller()
        if " ".join(text.split()):
            self.printed[name] = " ".join(text.split())
        return text

    def instead(self, claims) -> dict[str, str]:
        """The printed wording of each claim that fails, by name (a failed claim without one is left out)."""
        return {c.name: self.printed[c.name] for c in claims if not c.holds and c.name in self.printed}
