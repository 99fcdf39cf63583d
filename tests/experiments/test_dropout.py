"""The dropout experiment (Ex. 1 Q6): the closed form of E[D] for identical inputs, and training."""

import numpy as np
import pytest

from derive import experiments
from derive.experiments import dropout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("dropout", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_monte_carlo_agrees_with_the_closed_form(result):
    for setting in result.numbers["monte_carlo"].values():
        for row in setting["images"]:
            assert abs(row["z"]) < 5 and row["sem"] > 0


def test_dropout_on_the_last_layer_alone_costs_p_over_1_minus_p_times_the_squared_norm(result):
    p = dropout.RATE
    mc = result.numbers["monte_carlo"]
    last = result.conclusion["layers"][-1]
    for row in mc[last]["images"]:
        assert row["closed_form"] == pytest.approx(p / (1 - p) * row["sq_norm_z"], rel=1e-9)
    both = mc["+".join(result.conclusion["layers"])]["images"]
    assert all(b["closed_form"] > a["closed_form"] for a, b in zip(mc[last]["images"], both))


def simulate(a, z_bias, W, p5, p6, draws, rng):
    """Inverted dropout by hand on a one-layer head: D for identical inputs in two branches."""
    def branch():
        m5 = (rng.random((draws, a.size)) >= p5) / (1 - p5)
        m6 = (rng.random((draws, W.shape[1])) >= p6) / (1 - p6)
        return ((a * m5) @ W + z_bias) * m6
    return 0.5 * np.sum((branch() - branch()) ** 2, axis=1)


@pytest.mark.parametrize("p5, p6", [(0.5, 0.0), (0.0, 0.3), (0.4, 0.5)])
def test_closed_form_against_an_independent_simulation(p5, p6):
    rng = np.random.default_rng(0)
    a, W, bias = rng.random(6), rng.standard_normal((6, 3)), rng.standard_normal(3)
    z = a @ W + bias
    D = simulate(a, bias, W, p5, p6, 200_000, rng)
    sem = D.std() / np.sqrt(D.size)
    assert abs(D.mean() - dropout._closed_form(a, z, W, p5, p6)) < 5 * sem
    # a formula that forgets the 1/(1 - p6) rescaling of the L5 spread is rejected
    wrong = (z @ z + p5 / (1 - p5) * ((a * a) @ (W * W).sum(axis=1))) - z @ z
    if p6:
        assert abs(D.mean() - wrong) > 10 * sem


def test_three_training_runs(result):
    runs = result.numbers["runs"]
    layers = result.conclusion["layers"]
    assert set(runs) == {"none", layers[0], "+".join(layers)}
    for run in runs.values():
        assert len(run["loss"]) == result.sizes["steps"] and run["embedding_sq_norm"] > 0
        assert 0 <= run["held_out"]["accuracy"] <= 1


def test_training_experiments_are_deterministic(result, tmp_path):
    """Two runs (the branches in two threads, masks drawn by seed) give the same bytes."""
    again = experiments.run("dropout", seed=0, quick=True, cache_dir=tmp_path, force=True)
    assert (again.directory / "result.json").read_bytes() == (result.directory / "result.json").read_bytes()
    assert [p.read_bytes() for p in again.figures] == [p.read_bytes() for p in result.figures]


def test_monte_carlo_on_a_branch_that_is_all_top():
    from derive.experiments import common
    from derive.spec import parse

    spec = parse('input = [4, 4, 1]\nshared_weights = true\n'
                 '[[layer]]\nname = "H"\ntype = "dense"\nunits = 6\nactivation = "relu"\n'
                 '[[layer]]\nname = "E"\ntype = "dense"\nunits = 3\nactivation = "linear"\n')
    net = common.network(spec, 0)
    images = np.random.default_rng(1).standard_normal((2, 4, 4, 1)).astype(np.float32)
    mc = dropout._monte_carlo(net, spec, images, 0.5, 0.5, 2000, 0)
    assert len(mc["images"]) == 2 and all(abs(row["z"]) < 5 and row["sem"] > 0 for row in mc["images"])


def test_a_layer_dead_on_the_image_gives_a_constant_d_not_a_division_by_zero():
    from derive import spec as specs
    from derive.engine.network import Network

    net_spec = specs.parse('input = [8, 8, 1]\nshared_weights = true\n[[layer]]\nname = "A"\ntype = "dense"\n'
                           'units = 2\nactivation = "relu"\n[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\n'
                           'activation = "relu"\n', "dead.toml")
    net = Network(net_spec, dtype=np.float64, seed=0)
    net.params["A.W"][:] = 0.0
    net.params["A.b"][:] = -1.0  # every unit of A is dead on every image
    images = np.random.default_rng(0).random((2, 8, 8, 1))
    mc = dropout._monte_carlo(net, net_spec, images, 0.5, 0.0, 50, seed=0)
    assert mc["max_relative_error"] == 0.0 and mc["max_abs_z"] == 0.0
    assert all(r["closed_form"] == r["monte_carlo"] == 0.0 for r in mc["images"])
    assert dropout._z_score(0.3, 0.0, 0.0) >= dropout.MISMATCH_Z  # a constant D that disagrees is no agreement
