"""Derivations: the chain rule's steps and results agree with the textbook answers, in every case and convention."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from derive import spec
from derive.certify import lambdify
from derive.cli import cli
from derive.errors import DeriveError
from derive.symbolic import derivation, graph, printing, report

i, j, k = (graph.index(n) for n in "ijk")
D, l = graph.scalar("D"), graph.scalar("l")
s5, s5p, s6, s6p, s4 = (graph.base(n) for n in ("s5", "s5p", "s6", "s6p", "s4"))
w56, o5, a5 = graph.base("w5_6"), graph.base("o5"), graph.base("a5")
# ∂L/∂D from the exam's loss, written independently: 1 − l, minus l inside the margin.
DL = 1 - l - l * sp.Piecewise((1, D < 1), (0, True))
RNG = np.random.default_rng(1)


def same_function(a, b, symbols, trials=20) -> bool:
    """Two expressions agree at random points (D drawn on both sides of the kink, l in {0, 1})."""
    fa, fb = (sp.lambdify(symbols, e, modules=lambdify.MODULES) for e in (a, b))
    for _ in range(trials):
        point = [float(RNG.integers(0, 2)) if s == l else float(RNG.uniform(0, 2)) if s == D else RNG.normal()
                 for s in symbols]
        if not np.isclose(float(fa(*point)), float(fb(*point)), rtol=1e-12, atol=1e-12):
            return False
    return True


def result(d, param):
    return next(r for r in d.results if r.param == param)


def test_upper_layer_untied_steps_results_and_cases():
    d = derivation.derive(spec.default_spec(), "L6", shared=False)
    assert d.steps[0].lhs == sp.Derivative(graph.scalar("L"), D, evaluate=False)
    assert [r.param for r in d.results] == ["L6.W", "L6.b", "L6'.W", "L6'.b"]
    syms = [l, D, s6[k], s6p[k], s5[j], s5p[j]]
    assert same_function(result(d, "L6.W").expr, DL * (s6[k] - s6p[k]) * s5[j], syms)
    assert same_function(result(d, "L6'.W").expr, -DL * (s6[k] - s6p[k]) * s5p[j], syms)  # opposite sign
    assert same_function(result(d, "L6.b").expr, DL * (s6[k] - s6p[k]), syms)
    cases = {c.name: c.expr for c in result(d, "L6.W").cases}
    assert sp.expand(cases["same"] - (s6[k] - s6p[k]) * s5[j]) == 0
    assert sp.expand(cases["different_inside_margin"] + (s6[k] - s6p[k]) * s5[j]) == 0
    assert cases["different_outside_margin"] == 0


def test_tied_weights_add_both_paths_and_the_upper_bias_cancels():
    d = derivation.derive(spec.default_spec(), "L6", shared=True)
    assert [r.param for r in d.results] == ["L6.W", "L6.b"]
    syms = [l, D, s6[k], s6p[k], s5[j], s5p[j]]
    assert same_function(result(d, "L6.W").expr, DL * (s6[k] - s6p[k]) * (s5[j] - s5p[j]), syms)
    assert result(d, "L6.b").expr == 0  # a shared bias shifts s6 and s6' alike: D does not depend on it
    # with a non-linear upper layer the same bias does not cancel: the algebra, not a rule, decides
    text = spec.default_spec_text().replace('units = 32\nactivation = "linear"', 'units = 32\nactivation = "tanh"')
    tanh = derivation.derive(spec.parse(text, "tanh").with_options(shared=True), "L6")
    assert result(tanh, "L6.b").expr != 0
    lower = derivation.derive(spec.default_spec(), "L5", shared=True)
    assert result(lower, "L5.b").expr != 0  # the PReLU factors of the two branches differ


def test_lower_layer_sums_over_the_upper_units_with_the_prelu_factor():
    d = derivation.derive(spec.default_spec(), "L5", shared=False)
    r = result(d, "L5.W")
    sums = r.expr.atoms(sp.Sum)
    assert len(sums) == 1 and sums.pop().limits[0][0] == k
    prelu = sp.Piecewise((1, o5[j] > 0), (a5[j], True))
    expected = DL * sp.Sum((s6[k] - s6p[k]) * w56[j, k], (k, 1, sp.Symbol("n_6", integer=True, positive=True))) \
        * prelu * s4[i]
    for lv, case in ((0, "same"), (1, "different_inside_margin")):
        got = next(c.expr for c in r.cases if c.name == case)
        want = (1 - 2 * lv) * expected.subs(l, 0) / DL.subs(l, 0)
        assert sp.simplify(got - want) == 0
    assert any(s.lhs == sp.Derivative(s5[j], o5[j], evaluate=False) and s.rhs == prelu for s in d.steps)


def test_prelu_slope_per_unit_and_scalar():
    d = derivation.derive(spec.default_spec(), "prelu")
    r = result(d, "L5.a")
    assert r.expr.has(sp.Piecewise((0, o5[j] > 0), (o5[j], True)))
    scalar = derivation.derive(spec.default_spec().with_options(prelu="scalar"), "prelu")
    limits = [s.limits[0][0] for s in result(scalar, "L5.a").expr.atoms(sp.Sum)]
    assert j in limits and k in limits  # a single slope collects every unit j of the layer


def test_kl_readings_domain_and_the_bias_result():
    d = derivation.derive(spec.default_spec(), "kl")
    assert [(r.param, r.reading) for r in d.results] == [
        ("L6.W", "literal"), ("L6.b", "literal"), ("L6.W", "sigmoid"), ("L6.b", "sigmoid")]
    rhat = graph.base("rhohat")[graph.index("g")]
    assert result(d, "L6.W").condition == sp.And(rhat > 0, rhat < 1)
    assert all(r.condition == sp.true for r in d.results if r.reading == "sigmoid")
    rho, beta = graph.scalar("rho"), graph.scalar("beta")
    bias = result(d, "L6.b").expr  # Σ_t of 1/m is 1: the literal bias gradient is ∂L_reg/∂ρ̂_g itself
    assert sp.simplify(bias - beta * (-rho / rhat + (1 - rho) / (1 - rhat))) == 0
    cases = [c for r in d.results for c in r.cases]
    assert all(c.condition == sp.Eq(rho, sp.Rational(1, 10)) and not c.expr.has(rho) for c in cases)
    assert {s.reading for s in d.steps} == {"", "literal", "sigmoid"}


def test_layer_names_resolve_through_the_spec_and_bad_layers_are_errors():
    net = spec.default_spec()
    assert derivation.layers(net) == ["upper", "lower", "prelu", "kl"]
    renamed = spec.parse(spec.default_spec_text().replace('"L5"', '"fc1"').replace('"L6"', '"fc2"'), "renamed")
    assert derivation.resolve(renamed, "L6") == "upper" and derivation.resolve(renamed, "fc1") == "lower"
    assert derivation.derive(renamed, "fc2").key == "fc2" and derivation.derive(renamed, "L5").key == "fc1"
    with pytest.raises(DeriveError, match="unknown layer 'L7'"):
        derivation.resolve(net, "L7")
    no_prelu = spec.parse(spec.default_spec_text().replace('activation = "prelu"', 'activation = "relu"'), "relu")
    assert derivation.layers(no_prelu) == ["upper", "lower", "kl"]
    with pytest.raises(DeriveError, match="uses a PReLU"):
        derivation.derive(no_prelu, "prelu")


def test_printing_uses_the_exam_notation_through_printer_settings():
    d = derivation.derive(spec.default_spec(), "L6")
    r = result(d, "L6.W")
    tex = printing.latex(r.lhs, d.notation)
    assert tex == r"\frac{\partial \mathcal{L}}{\partial w^{(56)}_{jk}}"
    assert printing.text(r.lhs, d.notation) == "∂L/∂w⁽⁵⁶⁾_jk"
    assert "s^{(6')}_{k}" in printing.latex(r.expr, d.notation)
    assert r"\text{si }" in printing.latex(r.expr, d.notation, lang="fr")
    assert printing.latex(r.lhs) != tex  # without the notation table, the plain internal names print
    chain = printing.text(r.chain, d.notation)
    assert chain.index("∂L/∂D") < chain.index("∂D⁽ᵗ⁾/∂s⁽⁶⁾_k") < chain.index("∂o⁽⁶⁾_k/∂w⁽⁵⁶⁾_jk")


def run(*args):
    return CliRunner().invoke(cli, ["gradients", *args])


def test_gradients_json_has_one_key_per_layer_with_steps_result_and_cases():
    out = run("--format", "json")
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert list(data) == ["L6", "L5", "prelu", "kl"]
    for entry in data.values():
        assert entry["steps"] and all({"name", "latex"} <= set(s) for s in entry["steps"])
        assert {"latex", "sympy"} <= set(entry["result"]) and entry["cases"]
    assert [c["name"] for c in data["L6"]["cases"]] == ["same", "different_inside_margin", "different_outside_margin"]
    one = json.loads(run("--layer", "L5", "--shared", "--format", "json").output)
    assert list(one) == ["L5"] and [r["param"] for r in one["L5"]["results"]] == ["L5.W", "L5.b"]


@pytest.mark.parametrize("fmt, marker", [("text", "∂L/∂w⁽⁵⁶⁾_jk"), ("latex", r"\frac{\partial \mathcal{L}}"),
                                          ("markdown", "$$ ")])
def test_gradients_formats_are_deterministic(fmt, marker):
    first, second = run("--format", fmt), run("--format", fmt)
    assert first.exit_code == 0 and first.output == second.output and marker in first.output


@pytest.mark.slow
def test_gradients_output_does_not_depend_on_hash_randomisation():
    outs = set()
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-m", "derive", "gradients", "--format", "json"], env=env,
                                capture_output=True, check=True).stdout)
    assert len(outs) == 1


@pytest.mark.parametrize("args, message", [(("--layer", "L7"), "unknown layer 'L7'"),
                                           (("--layer", "prelu", "--prelu", "scalar", "--spec", "missing.toml"),
                                            "no such spec file")])
def test_gradients_bad_input_is_one_line_and_exit_2(args, message):
    out = run(*args)
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_gradients_refuses_a_spec_without_two_dense_layers_at_the_top(tmp_path):
    path = tmp_path / "conv-top.toml"
    path.write_text('input = [8, 8, 3]\n[[layer]]\nname = "L5"\ntype = "conv"\nkernel = 3\nfilters = 4\n'
                    'activation = "relu"\n[[layer]]\nname = "L6"\ntype = "dense"\nunits = 2\nactivation = "linear"\n')
    out = run("--spec", str(path))
    assert out.exit_code == 2 and "two dense layers at the top" in out.output and "Traceback" not in out.output


def _named_top(lower: str, upper: str, below: str = "B") -> spec.Spec:
    return spec.parse(f'input = [4, 4, 1]\n[[layer]]\nname = "{below}"\ntype = "dense"\nunits = 4\n'
                      'activation = "relu"\n'
                      f'[[layer]]\nname = "{lower}"\ntype = "dense"\nunits = 3\nactivation = "prelu"\n'
                      f'[[layer]]\nname = "{upper}"\ntype = "dense"\nunits = 2\nactivation = "linear"\n', "top.toml")


def test_l6_is_the_upper_layer_even_when_the_spec_calls_another_layer_l6():
    for net in (_named_top("L6", "L7"), _named_top("X", "Y", below="L6")):
        d = derivation.derive(net, "L6")
        assert d.kind == "upper" and d.key == net.layers[-1].name
        assert {r.param.split(".")[0].rstrip("'") for r in d.results} == {net.layers[-1].name}
    lower = derivation.derive(_named_top("L6", "L7"), "L5")
    assert lower.key == "L6" and lower.results[0].param == "L6.W"


@pytest.mark.parametrize("upper", ["kl", "prelu"])
def test_a_top_layer_named_like_a_derivation_keeps_its_own_gradient(upper):
    net = _named_top("A", upper)
    d = derivation.derive(net, "upper")
    assert d.kind == "upper" and d.results[0].param == f"{upper}.W" and d.results[0].reading == ""
    assert derivation.derive(net, upper).kind == upper  # the word means the derivation, as in every spec
    assert [x.kind for x in report.derive_all(net)] == ["upper", "lower", "prelu", "kl"]
    data = report.gradients(net).data()
    assert list(data) == ["L6", "L5", "prelu", "kl"] and data["L6"]["layer"] == upper


def test_a_scalar_slope_under_a_relu_layer_keeps_each_condition_inside_its_sum():
    """SymPy's Sum folds the body's Piecewise outward; relu'(o_k) must stay under the sum over k."""
    from derive.certify import certificate

    net = spec.parse('input = [8, 8, 1]\nprelu = "scalar"\n[[layer]]\nname = "A"\ntype = "dense"\nunits = 3\n'
                     'activation = "tanh"\n[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\nactivation = "prelu"\n'
                     '[[layer]]\nname = "C"\ntype = "dense"\nunits = 2\nactivation = "relu"\n', "slope.toml")
    for shared in (False, True):
        d = derivation.derive(net, "prelu", shared)
        for r in d.results:
            free = r.expr.free_symbols & {graph.index(n) for n in graph.LOSS_INDICES}
            assert not free, (r.param, sp.sstr(r.expr))  # a scalar slope: every index is summed over
        report = certificate.run(net.with_options(shared=shared), seed=0, exhaustive=False, use_torch=False, steps=1)
        assert report["failures"] == [], report["failures"]
