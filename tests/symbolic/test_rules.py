"""Local derivative rules: the table covers every graph, and each rule gives the textbook derivative."""

import numpy as np
import pytest
import sympy as sp

from derive import spec
from derive.certify import lambdify
from derive.errors import DeriveError
from derive.symbolic import graph, rules

ACTS = ("linear", "relu", "prelu", "tanh", "sigmoid")


def spec_with(lower: str, upper: str, prelu: str = "channel"):
    text = spec.default_spec_text().replace('units = 256\nactivation = "prelu"', f'units = 256\nactivation = "{lower}"')
    text = text.replace('units = 32\nactivation = "linear"', f'units = 32\nactivation = "{upper}"')
    return spec.parse(text, "variant").with_options(prelu=prelu)


def local(g, consumer, node):
    return rules.local(g, g.nodes[consumer], g.nodes[node])


@pytest.mark.parametrize("lower", ACTS)
@pytest.mark.parametrize("upper", ACTS)
def test_the_table_has_a_rule_for_every_edge_of_every_graph(lower, upper):
    net = spec_with(lower, upper)
    graphs = [graph.loss_graph(net, shared) for shared in (False, True)]
    graphs += [graph.kl_graph(net, r) for r in graph.READINGS]
    for g in graphs:
        for c in g.nodes.values():
            for role, src in c.inputs:
                assert (c.kind, role) in rules.RULES
                out = rules.local(g, c, g.nodes[src])
                assert len(out.cidx) == len(c.indices)


def test_dense_rules_are_the_textbook_ones():
    g = graph.loss_graph(spec.default_spec())
    j, k = graph.index("j"), graph.index("k")
    w, s5 = graph.base("w5_6"), graph.base("s5")
    by_weight = local(g, "o6", "w5_6")
    assert by_weight.expr == s5[j] and by_weight.cidx == (k,)      # diagonal in k: only o6_k depends on w_jk
    by_input = local(g, "o6", "s5")
    assert by_input.expr == w[j, k] and by_input.cidx == (k,)      # every o6_k depends on s5_j: k is summed
    assert local(g, "o6", "b6").expr == 1


def test_distance_and_loss_rules():
    g = graph.loss_graph(spec.default_spec())
    k = graph.index("k")
    s6, s6p = graph.base("s6")[k], graph.base("s6p")[k]
    assert sp.expand(local(g, "D", "s6").expr - (s6 - s6p)) == 0
    assert sp.expand(local(g, "D", "s6p").expr + (s6 - s6p)) == 0
    dl = local(g, "L", "D").expr
    D, l = graph.scalar("D"), graph.scalar("l")
    table = {(0, 0.5): 1, (0, 2.0): 1, (1, 0.5): -1, (1, 1.0): 0, (1, 2.0): 0}  # kink D = 1: derivative 0
    for (lv, dv), want in table.items():
        assert dl.subs({l: lv, D: dv}) == want


@pytest.mark.parametrize("kind", ACTS)
def test_activation_rules_match_finite_differences_and_the_kink_convention(kind):
    g = graph.loss_graph(spec_with(kind, "linear"))
    rule = local(g, "s5", "o5")
    c = g.nodes["s5"]
    o, a = graph.base("o5")[graph.index("j")], graph.base("a5")[graph.index("j")]
    forward = sp.lambdify([o, a], c.expr, modules=lambdify.MODULES)
    slope = 0.25
    # written through the output for tanh and sigmoid: substitute s = f(o) before evaluating
    deriv = sp.lambdify([o, a], rule.expr.xreplace({c.item: c.expr}), modules=lambdify.MODULES)
    for z in (-1.3, -0.2, 0.4, 2.0):
        h = 1e-6
        fd = (forward(z + h, slope) - forward(z - h, slope)) / (2 * h)
        assert np.isclose(float(deriv(z, slope)), fd, rtol=1e-6, atol=1e-9)
    at_zero = {"relu": 0.0, "prelu": slope, "linear": 1.0, "tanh": 1.0, "sigmoid": 0.25}[kind]
    assert float(deriv(0.0, slope)) == pytest.approx(at_zero)


def test_prelu_slope_rule_per_unit_and_scalar():
    g = graph.loss_graph(spec.default_spec())
    j = graph.index("j")
    rule = local(g, "s5", "a5")
    o = graph.base("o5")[j]
    assert rule.cidx == (j,) and rule.expr.subs(o, -2) == -2 and rule.expr.subs(o, 3) == 0
    gs = graph.loss_graph(spec.default_spec().with_options(prelu="scalar"))
    scalar = local(gs, "s5", "a5")
    assert scalar.cidx == (j,) and gs.nodes["a5"].indices == ()  # a scalar slope is summed over the units


def test_kl_rules():
    g = graph.kl_graph(spec.default_spec(), "literal")
    rho, beta, r = graph.scalar("rho"), graph.scalar("beta"), graph.base("rhohat")[graph.index("g")]
    got = local(g, "R", "rhohat").expr
    assert sp.simplify(got - beta * (-rho / r + (1 - rho) / (1 - r))) == 0
    mean = local(g, "rhohat", "s6")
    assert mean.expr == 1 / sp.Symbol("m", integer=True, positive=True) and mean.cidx == (graph.index("g"),)


def test_a_missing_rule_and_an_irreducible_delta_are_errors():
    g = graph.loss_graph(spec.default_spec())
    with pytest.raises(DeriveError, match="no derivative rule for dense"):
        rules.local(g, g.nodes["o6"], g.nodes["w5_6"], rules={})
    k = graph.index("k")
    odd = graph.Node("odd", (k,), "dense", (("input", "s6"),), graph.base("s6")[k] + graph.base("s6")[1])
    with pytest.raises(DeriveError, match="cannot reduce the derivative of odd"):
        rules.by_diff(g, odd, g.nodes["s6"])
