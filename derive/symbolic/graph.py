"""The SymPy graph of a network's top, in the exam's notation: flattened input, two dense layers, D, the loss.

The "top" of a spec is its last two layers, which must be dense (the exam's L5 and L6); the layer
below them (L4 in the exam) only provides the input vector s. Every quantity is an indexed family
(``o5[j]``, ``w5_6[j, k]``) or a scalar, defined by one SymPy expression of the quantities below it.
Internal names are fixed identifiers that say where a quantity sits, never what a layer is called:
the layer below, the lower and the upper dense layer are 4, 5 and 6 as in the exam (``s6p`` is the
primed branch's output of the upper layer, ``w5_6`` its weights), whatever the spec names them. The
names of the spec are for display only: the ``notation`` table each graph carries maps every
internal name to (letter, label, style), and the printers escape a label for their target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from derive.errors import DeriveError
from derive.prose import math_label

LOSS_INDICES = ("i", "j", "k")  # units of the layer below, of L5 and of L6
KL_INDICES = ("f", "g", "i")    # units of L5 and L6 (the exam's w_(fg)), and i the example (t is the iteration)
READINGS = ("literal", "sigmoid")
RHO = sp.Rational(1, 10)        # the exam's sparsity target


class sigmoid(sp.Function):  # noqa: N801  (a SymPy function reads like the maths)
    """The logistic function σ(x) = 1 / (1 + e^(−x)), with the derivative rule σ' = σ(1 − σ)."""

    def fdiff(self, argindex=1):
        """σ'(x) = σ(x)(1 − σ(x)); tests check it against the derivative of 1 / (1 + e^(−x))."""
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


def relu(z):
    """max(z, 0) with the kink z = 0 on the flat piece (so that relu'(0) = 0, as PyTorch)."""
    return sp.Piecewise((z, z > 0), (0, True))


# Forward definitions of the activations, f(z, a); a is the PReLU slope (ignored by the others).
# The strict z > 0 puts every kink on the lower piece: relu'(0) = 0 and prelu'(0) = a, as PyTorch.
ACTIVATIONS = {
    "linear": lambda z, a: z,
    "relu": lambda z, a: relu(z),
    "prelu": lambda z, a: sp.Piecewise((z, z > 0), (a * z, True)),
    "tanh": lambda z, a: sp.tanh(z),
    "sigmoid": lambda z, a: sigmoid(z),
}


@dataclass(frozen=True)
class Node:
    """One quantity: an indexed family (or a scalar) and the expression that defines it."""

    name: str
    indices: tuple = ()
    kind: str = "input"       # input, label, param, dense, an activation, distance, contrastive, mean, kl
    inputs: tuple = ()        # (role, node name) pairs, in the order of the definition
    expr: sp.Expr | None = None
    layer: str = ""           # spec layer name, primed for the second branch
    param: str = ""           # network parameter key ("L6.W") for a parameter node
    level: str = ""           # where in the top: BELOW, LOWER or UPPER (4, 5, 6), whatever the layer's name
    batched: bool = False     # carries one value per pair (or per example) of the batch

    @property
    def item(self) -> sp.Expr:
        """The SymPy object for this quantity at its canonical indices."""
        return base(self.name)[self.indices] if self.indices else scalar(self.name)


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order, the output node, index ranges and the notation table."""

    nodes: dict
    output: str
    ranges: dict              # index symbol -> size symbol
    sizes: dict               # size symbol -> number, from the spec
    notation: dict            # internal name -> (letter, label, style)
    top: tuple                # (below, lower, upper) spec layer names; below is "" for the input
    shared: bool
    display: dict = field(default_factory=dict)   # node name -> the exam's form of its definition

    def consumers(self, name: str) -> list[Node]:
        """The nodes computed directly from ``name``, in graph order."""
        return [n for n in self.nodes.values() if any(src == name for _, src in n.inputs)]

    def role(self, consumer: Node, name: str) -> str:
        """The role of ``name`` in the definition of ``consumer`` (input, weight, pre, first, ...)."""
        return next(r for r, src in consumer.inputs if src == name)


def base(name: str) -> sp.IndexedBase:
    """The IndexedBase of an internal name (real-valued)."""
    return sp.IndexedBase(name, real=True)


def scalar(name: str) -> sp.Symbol:
    """The scalar symbol of an internal name (real-valued)."""
    return sp.Symbol(name, real=True)


def index(name: str) -> sp.Symbol:
    """An index symbol."""
    return sp.Symbol(name, integer=True, positive=True)


# The internal labels of the three levels of the top (layer below, lower and upper dense layer).
BELOW, LOWER, UPPER = "4", "5", "6"


def label(name: str) -> str:
    """The exam's short label of a layer: "L5" -> "5", any other name unchanged."""
    m = re.fullmatch(r"L(\d+)", name)
    return m.group(1) if m else name


def labels(spec) -> tuple[str, str, str]:
    """The display labels of the top (below, lower, upper): the layers' labels, "0" for an input below.

    Labels of layers never coincide (a name starts with a letter, a label from L<digits> is all
    digits); the input's "0" becomes "00" (and so on) when a top layer is called L0.
    """
    below, lower, upper, _ = top(spec)
    lo, up = label(lower.name), label(upper.name)
    b = label(below) if below else next(z for z in ("0" * n for n in range(1, 4)) if z not in (lo, up))
    return b, lo, up


def top(spec) -> tuple[str, object, object, int]:
    """(name of the layer below, lower dense layer, upper dense layer, input width) of a spec's top."""
    layers = spec.layers
    if len(layers) < 2 or layers[-1].type != "dense" or layers[-2].type != "dense":
        kinds = ", ".join(f"{x.name} ({x.type})" for x in layers[-2:])
        raise DeriveError(f"{spec.source}: the derivations need two dense layers at the top of the network "
                          f"(the exam's L5 and L6); the last layers are {kinds}")
    shapes = spec.shapes()
    below = layers[-3].name if len(layers) > 2 else ""
    width = 1
    for n in (shapes[-3] if len(layers) > 2 else spec.input):
        width *= n
    return below, layers[-2], layers[-1], width


def prose_names(spec) -> dict:
    """How the sheet's prose names the top: layer names (below, lower, upper) and their notation labels.

    ``b``, ``l``, ``u`` are the superscripts of s, o and a; ``w_lower`` and ``w_upper`` those of the two
    weight families; ``flat`` says whether the lower dense layer's input is a flattened map or image.
    ``b``, ``l``, ``u``, ``w_lower`` and ``w_upper`` are written for LaTeX math, as the printers write
    them (a label such as ``a_b`` is escaped); the layer names are as the spec writes them.
    """
    below, lower, upper, _ = top(spec)
    b, lo, up = labels(spec)
    below_type = spec.layers[-3].type if len(spec.layers) > 2 else None
    return {"below": below, "lower": lower.name, "upper": upper.name, "b": math_label(b), "l": math_label(lo),
            "u": math_label(up), "w_lower": math_label(_pair(b, lo, "")), "w_upper": math_label(_pair(lo, up, "")),
            "flat": below_type != "dense"}


class _Builder:
    """Collects nodes and notation while a graph is assembled."""

    def __init__(self, spec, names):
        self.spec, self.nodes, self.notation = spec, {}, {}
        self.idx = {n: index(n) for n in names}
        self.display = dict(zip((BELOW, LOWER, UPPER), labels(spec)))  # internal level -> display label

    def add(self, name, letter, lab, style="layer", **kw) -> Node:
        node = Node(name, **kw)
        self.nodes[name] = node
        self.notation[name] = (letter, lab, style)
        return node

    def dense(self, layer, level: str, src: Node, i, j, prime: bool, shared: bool, batch=()):
        """Parameters, pre-activation and activation of one dense layer at ``level`` (5 or 6) fed by ``src``."""
        p = "p" if prime else ""
        q = "p" if prime and not shared else ""
        mark, pmark = ("'" if prime else ""), ("'" if prime and not shared else "")
        lab = self.display[level]
        src_lab = self.notation[src.name][1].rstrip("'")
        key = layer.name + pmark
        w = self.add(f"w{src.level}_{level}{q}", "w", _pair(src_lab, lab, pmark), kind="param",
                     indices=(i, j), layer=key, param=f"{key}.W", level=level)
        b = self.add(f"b{level}{q}", "b", lab + pmark, kind="param", indices=(j,), layer=key, param=f"{key}.b",
                     level=level)
        size = self.ranges[i]
        o = self.add(f"o{level}{p}", "o", lab + mark, kind="dense", indices=batch + (j,), layer=layer.name + mark,
                     inputs=(("input", src.name), ("weight", w.name), ("bias", b.name)), batched=not batch,
                     level=level, expr=sp.Sum(w.item * base(src.name)[batch + (i,)], (i, 1, size)) + b.item)
        inputs, slope = (("pre", o.name),), sp.S.Zero
        if layer.activation == "prelu":
            per_unit = self.spec.prelu != "scalar"
            a = self.add(f"a{level}{q}", "a", lab + pmark, kind="param", indices=(j,) if per_unit else (),
                         layer=key, param=f"{key}.a", level=level)
            inputs, slope = inputs + (("slope", a.name),), a.item
        s = self.add(f"s{level}{p}", "s", lab + mark, kind=layer.activation, indices=batch + (j,), inputs=inputs,
                     layer=layer.name + mark, batched=not batch, level=level,
                     expr=ACTIVATIONS[layer.activation](o.item, slope))
        return s


def tying(g: Graph) -> dict:
    """What tying the branches substitutes: each parameter of the primed branch -> the first branch's.

    Weights, biases and PReLU slopes alike (a scalar slope is a Symbol, the others IndexedBases).
    """
    out = {}
    for n in g.nodes.values():
        if n.kind == "param" and n.layer.endswith("'"):
            first = n.name[:-1]  # the primed branch's parameter is the first's name with a final "p"
            out[base(n.name) if n.indices else scalar(n.name)] = base(first) if n.indices else scalar(first)
    return out


def _pair(a: str, b: str, mark: str) -> str:
    joined = a + b if len(a) == 1 and len(b) == 1 else f"{a},{b}"
    return joined if not mark else f"{a}{mark}{b}{mark}" if len(a) == len(b) == 1 else f"{a}{mark},{b}{mark}"


def _sizes(builder, lower, upper, width):
    syms = []
    for level, value in ((BELOW, width), (LOWER, lower.units), (UPPER, upper.units)):
        sym = sp.Symbol(f"n_{level}", integer=True, positive=True)
        builder.notation[sym.name] = ("n", builder.display[level], "sub")
        syms.append((sym, value))
    return syms


def loss_graph(spec, shared: bool | None = None) -> Graph:
    """The graph of the exam's loss over one pair: both branches' tops, D and L."""
    shared = spec.shared_weights if shared is None else shared
    below, lower, upper, width = top(spec)
    b = _Builder(spec, LOSS_INDICES)
    i, j, k = (b.idx[n] for n in LOSS_INDICES)
    sizes = _sizes(b, lower, upper, width)
    b.ranges = {i: sizes[0][0], j: sizes[1][0], k: sizes[2][0]}
    outs = []
    for prime in (False, True):
        mark = "'" if prime else ""
        src = b.add(f"s{BELOW}{'p' if prime else ''}", "s", b.display[BELOW] + mark, indices=(i,), batched=True,
                    layer=(below or "input") + mark, level=BELOW)
        s5 = b.dense(lower, LOWER, src, i, j, prime, shared)
        outs.append(b.dense(upper, UPPER, s5, j, k, prime, shared))
    first, second = (base(s.name)[k] for s in outs)
    d = b.add("D", "D", "t", kind="distance", inputs=(("first", outs[0].name), ("second", outs[1].name)),
              batched=True, expr=sp.Rational(1, 2) * sp.Sum((first - second) ** 2, (k, 1, b.ranges[k])))
    lab_node = b.add("l", "l", "t", kind="label", batched=True)
    loss = b.add("L", "L", "", style="plain", kind="contrastive", inputs=(("distance", d.name),), batched=True,
                 expr=lab_node.item * relu(1 - d.item) + (1 - lab_node.item) * d.item)
    display = {"L": lab_node.item * sp.Max(1 - d.item, 0) + (1 - lab_node.item) * d.item}
    return Graph(b.nodes, loss.name, b.ranges, dict(sizes), b.notation, (below, lower.name, upper.name), shared,
                 display)


def kl_graph(spec, reading: str = "sigmoid", shared: bool | None = None) -> Graph:
    """The graph of Q7's penalty β·Σ_g KL(ρ‖ρ̂_g) on the upper dense layer, first branch, m examples."""
    if reading not in READINGS:
        raise DeriveError(f"unknown reading of the KL term '{reading}' (expected one of {', '.join(READINGS)})")
    shared = spec.shared_weights if shared is None else shared
    below, lower, upper, width = top(spec)
    b = _Builder(spec, KL_INDICES)
    f, g, t = (b.idx[n] for n in KL_INDICES)
    m = sp.Symbol("m", integer=True, positive=True)
    b.notation["m"] = ("m", "", "plain")
    sizes = _sizes(b, lower, upper, width)
    b.ranges = {f: sizes[1][0], g: sizes[2][0], t: m}
    s5 = b.add(f"s{LOWER}", "s", b.display[LOWER], style="batch", indices=(t, f), batched=False, layer=lower.name,
               level=LOWER)
    s6 = b.dense(upper, UPPER, s5, f, g, False, shared, batch=(t,))
    for name in (s6.name, s6.inputs[0][1]):
        b.notation[name] = (*b.notation[name][:2], "batch")
    act = base(s6.name)[t, g]
    kind, mean = ("mean", act) if reading == "literal" else ("mean_sigmoid", sigmoid(act))
    rho_hat = b.add("rhohat", "rhohat", "", style="plain", kind=kind, indices=(g,), inputs=(("activation", s6.name),),
                    expr=sp.Sum(mean, (t, 1, m)) / m)
    rho, beta = scalar("rho"), scalar("beta")
    b.notation.update(rho=("rho", "", "plain"), beta=("beta", "", "plain"))
    r = rho_hat.item
    kl = rho * sp.log(rho / r) + (1 - rho) * sp.log((1 - rho) / (1 - r))
    out = b.add("R", "R", "", style="plain", kind="kl", inputs=(("mean", rho_hat.name),),
                expr=beta * sp.Sum(kl, (g, 1, b.ranges[g])))
    return Graph(b.nodes, out.name, b.ranges, dict(sizes), b.notation, (below, lower.name, upper.name), shared)
