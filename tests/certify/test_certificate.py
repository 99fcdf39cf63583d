"""The certificate passes on correct derivations of several specs and rejects each plausible wrong answer by name.

The wrong answers are the grading catalogue's (derive.grade.catalogue): each classic mistake is a rule swapped
into a copy of the rules table, and the certificate must reject every one of them.
"""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from derive import spec
from derive.certify import certificate, kl, moves, tensors
from derive.cli import cli
from derive.grade import catalogue
from derive.symbolic import derivation, graph, rules


def layer(name, kind, **fields):
    body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
    return f'[[layer]]\nname = "{name}"\ntype = "{kind}"\n{body}'


def make(*layers, size=(8, 8, 3), prelu="channel", shared=False):
    text = f"input = {list(size)}\nprelu = \"{prelu}\"\nshared_weights = {str(shared).lower()}\n" + "".join(layers)
    return spec.parse(text, "fixture")


CONV = layer("L1", "conv", kernel=3, filters=4, stride=2, activation="relu")
SMALL = make(CONV, layer("L5", "dense", units=6, activation="prelu"),
             layer("L6", "dense", units=3, activation="linear"))
SPECS = {
    "small": SMALL,
    "small-tied": SMALL.with_options(shared=True),
    "tanh-sigmoid-maxpool": make(CONV, layer("P", "maxpool", size=2), layer("fc1", "dense", units=5, activation="tanh"),
                                 layer("fc2", "dense", units=4, activation="sigmoid")),
    "scalar-prelu-tied": SMALL.with_options(prelu="scalar", shared=True),
    "element-prelu-conv": make(layer("L1", "conv", kernel=3, filters=3, stride=2, activation="prelu"),
                               layer("L5", "dense", units=7, activation="prelu"),
                               layer("L6", "dense", units=2, activation="linear"), prelu="element"),
    "relu-prelu-top": make(CONV, layer("L5", "dense", units=5, activation="relu"),
                           layer("L6", "dense", units=3, activation="prelu")),
    "dense-only-grey": make(layer("L5", "dense", units=9, activation="prelu"),
                            layer("L6", "dense", units=4, activation="linear"), size=(10, 10, 1)),
    "three-dense-wide": make(CONV, layer("L4", "dense", units=12, activation="relu"),
                             layer("L5", "dense", units=20, activation="prelu"),
                             layer("L6", "dense", units=8, activation="linear")),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_certificate_passes_on_other_specs(name):
    net = SPECS[name]
    report = certificate.run(net, seed=1, steps=2, use_torch=name == "small-tied")
    assert report["ok"], report["failures"]
    assert all(n >= 1 for n in report["hinge_cases"].values())
    names = {t["name"] for t in report["tensors"]}
    _, lower, upper, _ = graph.top(net)
    for key in tensors.Context(net, seed=1).net.params:
        if key.split(".")[0].rstrip("'") in (lower.name, upper.name):
            assert key in names
    for t in report["tensors"]:
        assert t["checked"] == t["total"] and t["max_rel_error"] < 1e-4
    tr = report["training"]
    assert tr["max_trajectory_deviation"] <= 1e-10 and tr["loss_last"] < tr["loss_first"]


@pytest.fixture(scope="module")
def untied():
    return tensors.Context(SMALL, seed=0)


@pytest.fixture(scope="module")
def tied():
    return tensors.Context(SMALL.with_options(shared=True), seed=0)


def failures(ctx, derivations):
    records = tensors.check_results(ctx, derivations)
    return {r["name"]: " | ".join(r["failures"]) for r in records if not r["ok"]}


def mutated(**overrides):
    table = dict(rules.RULES)
    table.update(overrides)
    return table


def derive(ctx, key, table=None, shared=None):
    return derivation.derive(ctx.spec, key, ctx.net.tied if shared is None else shared, rules=table)


def test_the_correct_derivations_pass(untied, tied):
    for ctx in (untied, tied):
        assert failures(ctx, [derive(ctx, k) for k in ("L6", "L5", "prelu")]) == {}


def test_rejects_the_half_factor_dropped(untied):
    bad = failures(untied, [derive(untied, "L6", catalogue.rules_for("half_factor"))])
    assert "L6.W" in bad and "∂L/∂w⁽⁵⁶⁾_jk (L6.W) vs finite differences: FAILED" in bad["L6.W"]


def test_rejects_the_relu_derivative_instead_of_prelu(untied):
    bad = failures(untied, [derive(untied, "L5", catalogue.rules_for("relu_derivative"))])
    assert "L5.W" in bad and "∂L/∂w⁽¹⁵⁾_ij (L5.W) vs finite differences: FAILED" in bad["L5.W"]


def test_rejects_the_sum_over_upper_units_dropped(untied):
    d = derive(untied, "L5")
    r = d.results[0]
    dropped = derivation.Result(r.param, r.lhs, r.chain, catalogue.BY_ID["missing_sum"].rewrite(r.expr, None), r.graph)
    bad = failures(untied, [derivation.Derivation(d.key, d.definitions, d.steps, (dropped,), d.notation)])
    assert "free index k" in bad["L5.W"] and "∂L/∂w⁽¹⁵⁾_ij (L5.W)" in bad["L5.W"]


SECOND = rules.RULES[("distance", "second")]


def flipped(g, c, n):
    """∂D/∂s6'_k written with the sign of ∂D/∂s6_k."""
    out = SECOND(g, c, n)
    return rules.Local(-out.expr, out.cidx)


@pytest.mark.parametrize("mistakes", [("sign",), ("missing_label",), ("half_factor", "sign"),
                                      ("margin_case", "half_factor")])
def test_rejects_every_other_catalogue_mistake_and_pair(untied, mistakes):
    for key in ("L6", "L5"):
        bad = failures(untied, [derive(untied, key, catalogue.rules_for(*mistakes))])
        weight = next(r.param for r in derive(untied, key).results if r.param.endswith(".W"))
        assert weight in bad and "finite differences: FAILED" in bad[weight]


def test_rejects_the_same_sign_for_both_branches(untied, tied):
    same = {("distance", "second"): flipped}
    bad = failures(untied, [derive(untied, "L6", mutated() | same)])
    assert "L6'.W" in bad and "L6.W" not in bad and "∂L/∂w⁽⁵′⁶′⁾_jk (L6'.W)" in bad["L6'.W"]
    assert "L6.W" in failures(tied, [derive(tied, "L6", mutated() | same)])


def test_rejects_the_outside_margin_case_forgotten(untied):
    bad = failures(untied, [derive(untied, "L6", catalogue.rules_for("margin_case"))])
    assert "L6.W" in bad and "finite differences: FAILED" in bad["L6.W"]


def test_rejects_the_norm_instead_of_the_difference_vector(untied):
    bad = failures(untied, [derive(untied, "L6", catalogue.rules_for("norm_not_vector"))])
    assert "L6.W" in bad and "∂L/∂w⁽⁵⁶⁾_jk (L6.W) vs finite differences: FAILED" in bad["L6.W"]


def test_rejects_branch_paths_not_summed_under_tied_weights(tied):
    one_path = derive(tied, "L6", shared=False)  # the first branch's path only, offered for the shared weights
    kept = derivation.Derivation(one_path.key, one_path.definitions, one_path.steps,
                                 tuple(r for r in one_path.results if r.param in tied.net.params), one_path.notation)
    bad = failures(tied, [kept])
    assert "L6.W" in bad and "∂L/∂w⁽⁵⁶⁾_jk (L6.W) vs finite differences: FAILED" in bad["L6.W"]


def kl_failures(ctx, table):
    """Failures of the KL check when Q7 is derived with a (deliberately wrong) rule table."""
    report = kl.check(ctx, derive(ctx, "kl", table), derive(ctx, "L6"))
    return {t["name"]: " | ".join(t["failures"]) for t in report["tensors"] if t["failures"]}


def test_the_kl_check_passes_the_correct_derivation(untied):
    assert kl_failures(untied, None) == {}


def test_rejects_the_kl_divergence_with_its_first_term_only(untied):
    bad = kl_failures(untied, catalogue.rules_for("kl_first_term"))
    assert {"L6.W (KL, literal)", "L6.W (KL, sigmoid)"} <= set(bad)
    assert "finite differences: FAILED" in bad["L6.W (KL, sigmoid)"]


def test_rejects_the_sigmoid_reading_without_its_derivative(untied):
    def no_slope(g, c, n):  # ∂ρ̂/∂s taken as 1/m, as if ρ̂ averaged s itself
        out = rules.RULES[("mean_sigmoid", "activation")](g, c, n)
        return rules.Local(out.expr.replace(graph.sigmoid, lambda x: x), out.cidx)

    bad = kl_failures(untied, mutated() | {("mean_sigmoid", "activation"): no_slope})
    assert "L6.W (KL, sigmoid)" in bad and "L6.W (KL, literal)" not in bad


def at_kink(offset):
    """The small spec's context with pair 0's pre-activation of L5's unit 0 put ``offset`` from PReLU's kink."""
    ctx = tensors.Context(SMALL, seed=0)
    net = ctx.net
    net.params["L5.b"][0] -= net.forward(ctx.x1, ctx.x2, ctx.l).o[0]["L5"][0, 0] - offset
    ctx.cache = net.forward(ctx.x1, ctx.x2, ctx.l)
    ctx.top = moves.Top(net, ctx.cache)
    ctx.values, ctx.batched = tensors.bindings(ctx.graph, net, ctx.cache)
    return ctx


def test_coordinates_next_to_a_kink_are_certified_one_sided_and_wrong_values_there_fail(monkeypatch):
    ctx = at_kink(3e-6)  # moving L5.W[i, 0] by ±1e-5 crosses the kink whenever |s4[0, i]| > 0.3
    records = {r["name"]: r for r in tensors.check_results(ctx, [derive(ctx, "L5")])}
    w = records["L5.W"]
    assert w["ok"] and w["checked"] == w["total"] and w["kinks"] > 0
    assert w["differences"]["one-sided"] + w["differences"]["smaller step"] == w["kinks"]
    assert records["L5.b"]["differences"]["one-sided"] == 1  # its −h move crosses, its +h and +2h do not
    # a formula taking the other piece of PReLU for pair 0 (its slope a instead of 1), wrong only where ±h crosses
    shape = ctx.net.params["L5.W"].shape
    _, crossed = ctx.top.moved("L5.W", np.arange(np.prod(shape)), 1e-5)
    _, crossed_down = ctx.top.moved("L5.W", np.arange(np.prod(shape)), -1e-5)
    kinked = (crossed | crossed_down).reshape(shape)
    mirrored = at_kink(-3e-6)
    other = mirrored.net.backward(mirrored.cache)["L5.W"]
    right = tensors.batch_mean

    def wrong_at_kinks(result, values, batched, shape_):
        got = right(result, values, batched, shape_)
        return np.where(kinked, other, got) if result.param == "L5.W" else got

    monkeypatch.setattr(tensors, "batch_mean", wrong_at_kinks)
    bad = {r["name"]: r for r in tensors.check_results(ctx, [derive(ctx, "L5")])}
    assert not bad["L5.W"]["ok"] and bad["L5.b"]["ok"]
    message = " ".join(bad["L5.W"]["failures"])
    assert "vs finite differences: FAILED" in message and "one-sided" in message
    failing = [(int(i) - 1, int(j) - 1) for i, j in re.findall(r"\(i=(\d+), j=(\d+)\)", message)]
    assert failing and all(kinked[i, j] for i, j in failing)


def test_moved_losses_equal_the_network_recomputed_from_scratch(untied):
    top, net = untied.top, untied.net
    for key, coords in (("L5.W", [0, 7, 20]), ("L5'.b", [2]), ("L6.W", [1, 5]), ("L5.a", [3])):
        moved, _ = top.moved(key, np.array(coords), 1e-3)
        for c, value in zip(coords, moved):
            keep = net.params[key].flat[c]
            net.params[key].flat[c] = keep + 1e-3
            fresh = net.forward(untied.x1, untied.x2, untied.l).pair_loss
            net.params[key].flat[c] = keep
            assert value == pytest.approx(fresh, rel=1e-13, abs=1e-15)


def test_check_report_json_keys_and_exit_status(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text("input = [8, 8, 3]\n" + CONV + layer("L5", "dense", units=6, activation="prelu")
                    + layer("L6", "dense", units=3, activation="linear"))
    out = CliRunner().invoke(cli, ["check", "--spec", str(path), "--json", "--no-torch", "--steps", "2"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] is True
    assert {"ok", "tensors", "hinge_cases", "training"} <= set(data)
    assert set(data["hinge_cases"]) == {"same", "different_inside_margin", "different_outside_margin"}
    assert {"name", "checked", "total", "max_rel_error", "kinks"} <= set(data["tensors"][0])
    assert {"steps", "max_trajectory_deviation", "loss_first", "loss_last"} <= set(data["training"])
    again = CliRunner().invoke(cli, ["check", "--spec", str(path), "--json", "--no-torch", "--steps", "2"])
    assert again.output == out.output


def test_check_exits_1_when_a_printed_formula_is_wrong(tmp_path, monkeypatch):
    path = tmp_path / "small.toml"
    path.write_text("input = [8, 8, 3]\n" + CONV + layer("L5", "dense", units=6, activation="prelu")
                    + layer("L6", "dense", units=3, activation="linear"))
    monkeypatch.setitem(rules.RULES, ("distance", "second"), flipped)
    out = CliRunner().invoke(cli, ["check", "--spec", str(path), "--no-torch", "--steps", "1"])
    assert out.exit_code == 1 and "FAILED" in out.output and "L6'.W" in out.output


@pytest.mark.parametrize("args, message", [(("--data", "mnist"), "unknown data source 'mnist'"),
                                           (("--data", "cifar10:/nonexistent"), "no such CIFAR-10")])
def test_check_bad_data_is_one_line_and_exit_2(args, message):
    out = CliRunner().invoke(cli, ["check", *args])
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_check_runs_on_cifar10_python_batches(tmp_path):
    import pickle

    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (40, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, 40)]}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch))
    net = make(layer("L1", "conv", kernel=4, filters=3, stride=4, activation="relu"),
               layer("L5", "dense", units=6, activation="prelu"), layer("L6", "dense", units=3, activation="linear"),
               size=(32, 32, 3))
    report = certificate.run(net, data=f"cifar10:{path}", seed=0, steps=1, use_torch=False)
    assert report["ok"], report["failures"]
    assert report["data"] == f"cifar10:{path}"
    with pytest.raises(Exception, match="CIFAR-10 images are 32x32x3, the spec's input is 8x8x3"):
        certificate.run(SMALL, data=f"cifar10:{path}", seed=0, steps=1, use_torch=False)


def test_a_flat_loss_is_no_failure_of_the_training_replay():
    # dead ReLU units and a saturated tanh top (scaled up to spread D): no step can move the loss
    dead = spec.parse('''input = [10, 10, 1]
shared_weights = true
prelu = "scalar"
[[layer]]
name = "a-b"
type = "dense"
units = 3
activation = "relu"
[[layer]]
name = "a_b"
type = "dense"
units = 2
activation = "relu"
[[layer]]
name = "top"
type = "dense"
units = 2
activation = "tanh"
''', "dead.toml")
    report = certificate.run(dead, seed=0)
    replay = report["training"]
    assert replay["flat"] and replay["loss_first"] == replay["loss_last"] and replay["ok"]
    assert not [f for f in report["failures"] if f.startswith("training")]
    assert "the loss does not move" in report.render()
