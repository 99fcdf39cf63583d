"""The SymPy graph of a spec's top: its quantities, indices, sizes and notation, and the specs it refuses."""

import numpy as np
import pytest
import sympy as sp

from derive import spec
from derive.errors import DeriveError
from derive.symbolic import graph

DENSE_ONLY = """
input = [8, 8, 1]
[[layer]]
name = "fc1"
type = "dense"
units = 5
activation = "tanh"
[[layer]]
name = "fc2"
type = "dense"
units = 2
activation = "sigmoid"
"""


def names(g, kind):
    return sorted(n.name for n in g.nodes.values() if n.kind == kind)


def test_default_graph_has_both_branches_with_the_exam_sizes():
    g = graph.loss_graph(spec.default_spec())
    assert g.top == ("L4", "L5", "L6") and g.output == "L"
    assert {s.name: v for s, v in g.sizes.items()} == {"n_4": 8 * 8 * 64, "n_5": 256, "n_6": 32}
    assert {n.param for n in g.nodes.values() if n.kind == "param"} == {
        "L5.W", "L5.b", "L5.a", "L6.W", "L6.b", "L5'.W", "L5'.b", "L5'.a", "L6'.W", "L6'.b"}
    assert names(g, "dense") == ["o5", "o5p", "o6", "o6p"] and names(g, "prelu") == ["s5", "s5p"]
    w = g.nodes["w5_6"]
    assert w.indices == (graph.index("j"), graph.index("k")) and g.notation["w5_6"] == ("w", "56", "layer")
    assert g.notation["w5_6p"] == ("w", "5'6'", "layer") and g.notation["s6p"] == ("s", "6'", "layer")


def test_tied_weights_leave_one_set_of_parameters_read_by_both_branches():
    g = graph.loss_graph(spec.default_spec(), shared=True)
    params = {n.param for n in g.nodes.values() if n.kind == "param"}
    assert params == {"L5.W", "L5.b", "L5.a", "L6.W", "L6.b"}
    second = g.nodes["o6p"].expr
    assert graph.base("w5_6") in second.atoms(sp.IndexedBase) and graph.base("s5p") in second.atoms(sp.IndexedBase)


def test_definitions_follow_the_exam():
    g = graph.loss_graph(spec.default_spec())
    j, k = graph.index("j"), graph.index("k")
    o6 = g.nodes["o6"].expr
    n5 = sp.Symbol("n_5", integer=True, positive=True)
    assert o6 == sp.Sum(graph.base("w5_6")[j, k] * graph.base("s5")[j], (j, 1, n5)) + graph.base("b6")[k]
    D, l = graph.scalar("D"), graph.scalar("l")
    loss = g.nodes["L"].expr
    # the hinge is max(1 - D, 0) everywhere but at the kink, where it takes the flat piece
    for value in (0.3, 0.999, 1.0, 1.5):
        assert float(loss.subs({D: value, l: 1})) == max(1 - value, 0)
        assert float(g.display["L"].subs({D: value, l: 1})) == max(1 - value, 0)
    assert loss.subs(l, 0) == D


def test_other_specs_take_their_names_and_sizes_from_the_spec():
    net = spec.parse(DENSE_ONLY, "dense-only")
    g = graph.loss_graph(net)
    assert g.top == ("", "fc1", "fc2")
    assert {s.name: v for s, v in g.sizes.items()} == {"n_4": 64, "n_5": 5, "n_6": 2}
    assert g.nodes["s6"].kind == "sigmoid" and g.nodes["s5"].kind == "tanh"
    assert g.notation["w4_5"] == ("w", "0,fc1", "layer") and g.notation["n_6"] == ("n", "fc2", "sub")


def _top(names, activations=("relu", "prelu", "linear"), input_="[4, 4, 1]"):
    layers = "".join(f'[[layer]]\nname = "{n}"\ntype = "dense"\nunits = {3 + i}\nactivation = "{a}"\n'
                     for i, (n, a) in enumerate(zip(names, activations)))
    return spec.parse(f"input = {input_}\n" + layers, "names.toml")


@pytest.mark.parametrize("names", [("a-b", "a_b", "c"), ("x", "xp", "y"), ("L0", "L1"), ("A", "eta", "B"),
                                   ("a__b", "c--d", "kl"), ("beta", "rho", "rhohat"), ("D", "l", "L")])
def test_internal_names_depend_on_positions_only(names):
    """Names that an identifier built from them would confuse (a-b and a_b; x, xp and the primed x) change nothing."""
    reference = graph.loss_graph(_top(("P", "Q", "R")[:len(names)]))
    g = graph.loss_graph(_top(names))
    assert list(g.nodes) == list(reference.nodes) and g.sizes.keys() == reference.sizes.keys()
    kl = graph.kl_graph(_top(names))
    assert set(kl.notation) >= {"beta", "rho", "rhohat", "b6"}
    assert len({n.item for n in kl.nodes.values()} | {graph.scalar("beta")}) == len(kl.nodes) + 1


def test_display_labels_never_coincide():
    g = graph.loss_graph(_top(("L0", "L1")))  # the input's label would be 0, as L0's
    labels = {g.notation[n][1] for n in ("s4", "s5", "s6")}
    assert len(labels) == 3 and g.notation["s5"][1] == "0"
    assert graph.prose_names(_top(("L0", "L1")))["b"] == "00"


def test_labels_are_escaped_for_latex_math_only():
    net = _top(("a__b", "c-d", "e_f"))
    g = graph.loss_graph(net)
    assert g.notation["s6"] == ("s", "e_f", "layer")  # the notation table keeps the names
    from derive.symbolic import printing

    tex = printing.latex(g.nodes["w5_6"].item, g.notation)
    assert tex == r"w^{(\mathrm{c\text{-}d},\mathrm{e\_f})}_{jk}"
    assert printing.text(g.nodes["w5_6"].item, g.notation) == "w^(c-d,e_f)_jk"
    assert graph.prose_names(net)["u"] == r"\mathrm{e\_f}"


def test_scalar_prelu_has_one_slope_per_layer():
    g = graph.loss_graph(spec.default_spec().with_options(prelu="scalar"))
    assert g.nodes["a5"].indices == () and isinstance(g.nodes["a5"].item, sp.Symbol)


@pytest.mark.parametrize("text, message", [
    (DENSE_ONLY.replace('name = "fc1"\ntype = "dense"\nunits = 5',
                        'name = "c"\ntype = "conv"\nkernel = 3\nfilters = 2'),
     "two dense layers at the top"),
    ("input = [8, 8, 3]\n[[layer]]\nname = \"L6\"\ntype = \"dense\"\nunits = 3\nactivation = \"linear\"\n",
     "two dense layers at the top"),
])
def test_specs_without_two_dense_layers_at_the_top_are_refused(text, message):
    with pytest.raises(DeriveError, match=message):
        graph.loss_graph(spec.parse(text, "bad"))


def test_kl_graph_in_both_readings_and_an_unknown_reading():
    lit = graph.kl_graph(spec.default_spec(), "literal")
    sig = graph.kl_graph(spec.default_spec(), "sigmoid")
    assert lit.nodes["rhohat"].kind == "mean" and sig.nodes["rhohat"].kind == "mean_sigmoid"
    assert sig.nodes["rhohat"].expr.has(graph.sigmoid) and not lit.nodes["rhohat"].expr.has(graph.sigmoid)
    assert lit.output == "R" and lit.ranges[graph.index("i")] == sp.Symbol("m", integer=True, positive=True)
    with pytest.raises(DeriveError, match="unknown reading"):
        graph.kl_graph(spec.default_spec(), "softmax")


def test_sigmoid_derivative_rule_is_the_derivative_of_the_logistic_function():
    x = sp.Symbol("x", real=True)
    by_rule = sp.diff(graph.sigmoid(x), x).rewrite(sp.exp)
    by_hand = sp.diff(1 / (1 + sp.exp(-x)), x)
    f = sp.lambdify(x, by_rule - by_hand)
    assert np.allclose(f(np.linspace(-6, 6, 13)), 0, atol=1e-15)
