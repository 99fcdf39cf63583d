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
    assert {s.name: v for s, v in g.sizes.items()} == {"n_0": 64, "n_fc1": 5, "n_fc2": 2}
    assert g.nodes["sfc2"].kind == "sigmoid" and g.nodes["sfc1"].kind == "tanh"
    assert g.notation["w0_fc1"] == ("w", "0,fc1", "layer")


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
