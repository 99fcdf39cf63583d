"""The names a student may type for one graph, built from its notation table (never from internal names).

Each quantity of a graph is typed as its letter and label, as the exam writes them: ``s6'`` (or
``s^{(6')}``) for s⁽⁶′⁾, ``w56`` for w⁽⁵⁶⁾, ``rhohat`` for ρ̂, ``D`` and ``l`` (their ``(t)`` is the
iteration, an optional mark). ``a`` and ``a'`` name the PReLU slopes when one layer has them;
``n5`` (or ``n_5``) the size of a layer. The labels come from the spec, so another spec's
layer names (``s^{(fc2)}_k``) are typed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.symbolic import graph as graphs

GREEK = ("rho", "beta", "sigma")   # typed with or without a backslash: \rho or rho
ITERATION = "t"                    # the label of D and l: the exam's (t), the pair of iteration t


@dataclass(frozen=True)
class Quantity:
    """One name of the graph: internal name, the sizes its unit indices run over, its example axis."""

    name: str
    sizes: tuple = ()          # size symbol of each unit index
    batch: object = None       # size symbol of the example index (the KL graph's batch), or None
    symbol: object = None      # the SymPy symbol of a scalar (None for an indexed family)

    def item(self, indices=(), example=None) -> sp.Expr:
        """The SymPy object at the given indices (the example index first, when it has one)."""
        if self.symbol is not None:
            return self.symbol
        lead = (example,) if self.batch is not None else ()
        return graphs.base(self.name)[lead + tuple(indices)]


@dataclass(frozen=True)
class Vocabulary:
    """Typed names of one graph, the labels each letter takes, and what each size counts."""

    quantities: dict           # typed name -> Quantity
    labels: dict               # letter -> labels it takes (superscripts such as (6') or (56))
    notation: dict             # the graph's notation table, for printing what was read
    counts: dict               # size symbol -> the layer (or "examples") whose units it counts
    sizes: dict                # size symbol -> its value in the spec (the examples' m has none)
    examples: object = None    # the size symbol of the examples (m), or None

    def lookup(self, typed: str) -> Quantity | None:
        """The quantity a typed name stands for (``\\rho`` as ``rho``), or None."""
        if typed.startswith("\\") and typed[1:] in GREEK:
            typed = typed[1:]
        return self.quantities.get(typed)

    def names(self) -> list[str]:
        """Every typed name, sorted (for messages)."""
        return sorted(self.quantities)


def of(graph) -> Vocabulary:
    """The vocabulary of a loss or KL graph, from its nodes and notation table."""
    quantities, labels, counts = {}, {}, {}
    _, lower, upper = graph.top
    by_label = {graphs.label(n): n for n in graph.top if n}
    examples = None
    for size in graph.sizes:
        lab = graph.notation.get(size.name, ("", "", ""))[1]
        counts[size] = by_label.get(lab, "input" if lab == "0" else lab)
        quantities[f"n{lab}"] = Quantity(size.name, symbol=size)
    for node in graph.nodes.values():
        if node.name == graph.output:
            continue
        letter, lab, style = graph.notation[node.name]
        indices, batch = node.indices, None
        if style == "batch":
            batch, indices = graph.ranges[indices[0]], indices[1:]
            examples = batch
        sizes = tuple(graph.ranges[x] for x in indices)
        symbol = graphs.scalar(node.name) if not node.indices else None
        key = letter if lab in ("", ITERATION) else letter + lab
        quantities[key] = Quantity(node.name, sizes, batch, symbol)
        if lab not in ("", ITERATION):
            labels.setdefault(letter, set()).add(lab)
    for name, (letter, _, style) in graph.notation.items():
        if name in graph.nodes or style == "sub" or letter in quantities:
            continue
        quantities[letter] = Quantity(name, symbol=_symbol(graph, name))
    if examples is not None:
        counts[examples] = "examples"
    _slope_aliases(graph, quantities)
    if graph.shared:
        _tied_aliases(graph, quantities)
    return Vocabulary(quantities, {k: frozenset(v) for k, v in labels.items()}, graph.notation, counts,
                      dict(graph.sizes), examples)


def _symbol(graph, name: str) -> sp.Symbol:
    """A scalar of the notation table that is no node: a size (m) or a constant (ρ, β)."""
    for size in graph.ranges.values():
        if size.name == name:
            return size
    return graphs.scalar(name)


def _tied_aliases(graph, quantities) -> None:
    """Under tied weights the second branch's parameters are the first's: w5'6' is w56, b6' is b6."""
    for node in graph.nodes.values():
        if node.kind != "param":
            continue
        letter, lab, _ = graph.notation[node.name]
        parts = lab.split(",") if "," in lab else list(lab) if len(lab) == 2 else [lab]
        primed = ",".join(p + "'" for p in parts) if "," in lab else "".join(p + "'" for p in parts)
        quantities.setdefault(letter + primed, quantities[letter + lab])
    if "a" in quantities:
        quantities.setdefault("a'", quantities["a"])


def _slope_aliases(graph, quantities) -> None:
    """``a`` (and ``a'``) for the PReLU slopes when a single layer of each branch has them."""
    slopes = [n for n in graph.nodes.values() if n.kind == "param" and n.param.endswith(".a")]
    for primed, alias in ((False, "a"), (True, "a'")):
        mine = [n for n in slopes if n.layer.endswith("'") == primed]
        if len(mine) == 1 and alias not in quantities:
            letter, lab, _ = graph.notation[mine[0].name]
            quantities[alias] = quantities[letter + lab]
