"""Q3: a number of parameters as students write it, matched with the conventions and the classic miscounts.

``number`` reads 2245760, 2 245 760, 2,245,760, 2.245.760 or 2'245'760 (and a product or sum of
such numbers, through the formula grammar, e.g. ``2*(896 + 9248)``). ``explanations`` lists every
total a reading of the figure gives (weight sharing × PReLU convention, from ``derive.shapes``) and
every total that one or two classic miscounts give under each reading: biases forgotten, the
kernel's input channels forgotten, the flattened size of the first dense layer's input wrong,
PReLU slopes left out, and the two branches counted once under untied weights.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from derive.grade import syntax
from derive.shapes import PRELU_CONVENTIONS, count

GROUPED = re.compile(r"\d{1,3}(?:(?P<sep>[ ,.'\u00a0\u202f\u2009])\d{3})(?:(?P=sep)\d{3})*|\d+")
UNIT = re.compile(r"\s*(?:param(?:e|è)tres?|parameters?|params?)?\s*\.?\s*$", re.IGNORECASE)
MISCOUNTS = ("biases_forgotten", "kernel_channels", "flatten_size", "prelu_uncounted", "branches_not_doubled")


@dataclass(frozen=True)
class Explanation:
    """One way of arriving at a total: a reading of the figure and the miscounts made (none: correct)."""

    shared: bool
    prelu: str
    mistakes: tuple = ()
    detail: str = ""            # which wrong flattened size ("channels", "spatial", "strides")
    missing: int = 0            # what the mistake leaves out, per branch (for the feedback)


def number(text: str) -> int:
    """The whole number an answer writes; raises syntax.Unreadable with the column of the first stray character.

    >>> number("2 245 760 paramètres"), number("2,245,760"), number("2*(896 + 9248)")
    (2245760, 2245760, 20288)
    """
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    m = GROUPED.match(stripped)
    if m and UNIT.fullmatch(stripped[m.end():]):
        return int(re.sub(r"\D", "", m.group(0)))
    loose = re.search(r"\d\s+\d", text)
    if loose:  # 22 45 760 is a badly grouped number, not a product
        raise syntax.Unreadable(loose.start() + 2, "number")
    try:
        parsed = syntax.parse(text)
    except syntax.Unreadable:
        column = lead + (m.end() if m else 0) + 1
        raise syntax.Unreadable(column, "number") from None
    value = _arithmetic(parsed)
    if value is None:
        raise syntax.Unreadable(lead + 1, "number")
    return value


def _arithmetic(parsed) -> int | None:
    """The integer value of a parsed formula made only of numbers, + − × ÷ and parentheses."""
    from derive.grade import reading

    class _Empty:
        quantities, labels, counts, sizes, examples, notation = {}, {}, {}, {}, None, {}

        @staticmethod
        def lookup(typed):
            return None

        @staticmethod
        def names():
            return []

    try:
        expr = reading.read(parsed, _Empty()).expr
    except (syntax.Unreadable, reading.Meaningless):
        return None
    return int(expr) if expr.is_Integer and expr >= 0 else None


def _branch(spec, prelu: str, mistakes: tuple, detail: str = "") -> tuple[int, int]:
    """(parameters of one branch, what the miscount leaves out) under a PReLU convention and miscounts."""
    layers = count(spec, prelu)
    total, missing = 0, 0
    first_dense = next((i for i, c in enumerate(layers) if c.type == "dense"), None)
    for i, c in enumerate(layers):
        weights, biases, slopes = c.weights, c.biases, c.prelu
        if "kernel_channels" in mistakes and c.type == "conv":
            missing += weights - weights // c.input_shape[2]
            weights //= c.input_shape[2]
        if "flatten_size" in mistakes and i == first_dense and len(c.input_shape) == 3:
            wrong = _flattened(spec, c, detail)
            missing += weights - wrong * c.output_shape[0]
            weights = wrong * c.output_shape[0]
        if "biases_forgotten" in mistakes:
            missing += biases
            biases = 0
        if "prelu_uncounted" in mistakes:
            missing += slopes
            slopes = 0
        total += weights + biases + slopes
    return total, missing


def _flattened(spec, layer, detail: str) -> int:
    h, w, c = layer.input_shape
    if detail == "channels":
        return c                                     # the channels alone, as if nothing were flattened
    if detail == "spatial":
        return h * w                                 # the map's positions without its channels
    return spec.input[0] * spec.input[1] * c         # the map as if no stride had shrunk it


def explanations(spec) -> dict[int, list[Explanation]]:
    """Every total, correct or from one or two miscounts, with the readings and mistakes that give it."""
    has = {"prelu_uncounted": any(c.prelu for c in count(spec, "channel")),
           "kernel_channels": any(c.type == "conv" for c in spec.layers),
           "flatten_size": any(c.type == "dense" for c in spec.layers) and spec.layers[0].type != "dense"}
    kinds = [m for m in MISCOUNTS if has.get(m, True)]
    combos = [()] + [(m,) for m in kinds] + list(itertools.combinations(kinds, 2))
    out: dict[int, list[Explanation]] = {}
    for shared in (False, True):
        for prelu in PRELU_CONVENTIONS:
            for combo in combos:
                if "branches_not_doubled" in combo and shared:
                    continue
                for detail in (("channels", "spatial", "strides") if "flatten_size" in combo else ("",)):
                    branch, missing = _branch(spec, prelu, combo, detail)
                    doubled = 1 if shared or "branches_not_doubled" in combo else 2
                    e = Explanation(shared, prelu, combo, detail, missing)
                    out.setdefault(branch * doubled, []).append(e)
    for total in out:
        out[total].sort(key=lambda e: (len(e.mistakes), e.mistakes, e.shared, PRELU_CONVENTIONS.index(e.prelu)))
    return out
