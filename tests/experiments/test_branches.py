"""The branches experiment (Ex. 1 Q4): what training does to L2 and L'2 under each weight setting."""

import math

import numpy as np
import pytest

from derive import experiments
from derive.experiments import branches, common
from derive.spec import default_spec

pytestmark = pytest.mark.slow

RUNS = branches.RUNS


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("branches", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def checkpoints(result, run):
    return result.numbers["runs"][run]["checkpoints"]


def test_checkpoints_cover_the_run(result):
    z = result.sizes
    for run in RUNS:
        steps = [c["step"] for c in checkpoints(result, run)]
        assert steps == list(range(0, z["steps"] + 1, z["every"]))


def test_every_run_uses_a_fifth_of_the_recipes_rate(result):
    rates = {run: result.numbers["runs"][run]["rate"] for run in RUNS}
    assert set(rates) == {"untied_independent", "tied", "untied_same_init"}
    assert set(rates.values()) == {common.RECIPE["lr"] / branches.RATE_DIVISOR}


def test_tied_branches_are_one_function(result):
    for c in checkpoints(result, "tied"):
        assert all(v == 0.0 for v in c["weight_distance"].values())
        assert c["self_D"] == 0.0 and c["self_D_over_different_D"] == 0.0 and c["offset_share"] == 0.0


def test_independent_draws_start_root2_apart_and_stay_far(result):
    start, end = checkpoints(result, "untied_independent")[0], checkpoints(result, "untied_independent")[-1]
    layer = result.conclusion["layer"]
    # two independent zero-mean draws: ‖W − W'‖² ≈ ‖W‖² + ‖W'‖², so the relative distance is √2
    assert start["weight_distance"][layer] == pytest.approx(math.sqrt(2), abs=0.05)
    assert end["weight_distance"][layer] > 1.0
    assert end["aligned_weight_distance"][layer] > 1.0
    # untrained independent branches agree on an image about as well as on two images of different classes
    assert start["self_D_over_different_D"] == pytest.approx(1.0, abs=0.25)


def test_one_draw_for_both_branches_drifts_apart(result):
    start, end = checkpoints(result, "untied_same_init")[0], checkpoints(result, "untied_same_init")[-1]
    assert all(v == 0.0 for v in start["weight_distance"].values()) and start["self_D"] == 0.0
    # the branches see different images, so their gradients differ from the first step on
    assert all(v > 0.0 for v in end["weight_distance"].values()) and end["self_D"] > 0.0


def test_channel_matching_is_a_correlation(result):
    layer = result.conclusion["layer"]
    for run in RUNS:
        for c in checkpoints(result, run):
            assert -1.0 <= c["matched_correlation"][layer] <= 1.0 + 1e-9
    tied_start = checkpoints(result, "tied")[0]["matched_correlation"][layer]
    assert tied_start > checkpoints(result, "untied_independent")[0]["matched_correlation"][layer]


def test_held_out_verification_is_reported(result):
    for run in result.numbers["runs"].values():
        assert 0.0 <= run["held_out"]["accuracy"] <= 1.0 and len(run["loss"]) == result.sizes["steps"]
        assert all(0.0 <= c["auc"] <= 1.0 for c in run["checkpoints"])


def test_conclusion_quotes_the_checkpoints(result):
    c = result.conclusion
    for run in RUNS:
        points = checkpoints(result, run)
        assert c["spread_min"][run] == min(p["spread"] for p in points[1:])
        assert c["auc_mean"][run] == pytest.approx(np.mean([p["auc"] for p in points[1:]]))
        assert c["top_correlation_end"][run] == points[-1]["matched_correlation"][c["top_layer"]]


def test_training_moves_the_weights_less_than_the_gap_between_branches(result):
    end = checkpoints(result, "untied_independent")[-1]
    layer = result.conclusion["layer"]
    assert 0 < end["displacement"][layer] < end["weight_distance"][layer]
    assert result.conclusion["displacement_end"]["untied_independent"] == end["displacement"][layer]


def test_a_channel_shuffle_keeps_the_function_and_moves_the_weights(result):
    p = result.numbers["permutation"]
    assert p["layer"] == result.conclusion["layer"]
    assert p["max_output_change"] < 1e-5  # float32 sums in another order, nothing more
    assert p["weight_distance_after"] > 1.0 > 0.5 > p["weight_distance_before"]


# --- the agreement metric on embeddings built to a known answer --------------------------------

def test_collapsed_outputs_read_as_no_agreement_whatever_their_norm():
    labels = np.repeat(np.arange(4), 5)
    for norm in (1e-3, 1.0, 1e3):
        f = np.tile([norm, 0.0], (20, 1))  # each branch constant, a constant of its own
        g = np.tile([0.0, norm], (20, 1))
        m = branches.embedding_agreement(f, g, labels)
        assert m["spread"] <= 1e-12 * norm ** 2 and m["auc"] == 0.5
        assert m["offset_share"] == pytest.approx(1.0) and m["self_D_over_different_D"] == pytest.approx(1.0)
        assert m["D_same"] == pytest.approx(m["D_different"]) == pytest.approx(norm ** 2)


def test_one_function_agrees_perfectly_and_separates_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 8)
    f = 3 * rng.normal(size=(5, 6))[labels] + 0.1 * rng.normal(size=(40, 6))
    m = branches.embedding_agreement(f, f.copy(), labels)
    assert m["self_D"] == 0.0 and m["self_D_over_different_D"] == 0.0
    assert m["auc"] > 0.99 and m["D_same"] < m["D_different"]


def test_unrelated_branches_agree_no_better_than_different_classes():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 9, 300)
    m = branches.embedding_agreement(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)), labels)
    assert m["self_D_over_different_D"] == pytest.approx(1.0, abs=0.1)
    assert m["auc"] == pytest.approx(0.5, abs=0.05)


def test_agreement_splits_into_offset_and_image_dependent_parts():
    rng = np.random.default_rng(2)
    f, g = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 2.0
    labels = rng.integers(0, 3, 30)
    m = branches.embedding_agreement(f, g, labels)
    centred = 0.5 * np.mean(np.sum(((f - f.mean(0)) - (g - g.mean(0))) ** 2, axis=1))
    assert m["self_D"] * (1 - m["offset_share"]) == pytest.approx(centred)
    # the spread: D between two images drawn independently, through one branch, averaged over both
    within = [np.mean([0.5 * np.sum((e[i] - e[j]) ** 2) for i in range(30) for j in range(30)]) for e in (f, g)]
    assert m["spread"] == pytest.approx(np.mean(within))


def test_auc_counts_pairs_as_mann_whitney_does():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 25)
    f, g = rng.normal(size=(25, 2)).round(1), rng.normal(size=(25, 2)).round(1)  # rounding makes ties
    D = np.array([[0.5 * np.sum((f[i] - g[j]) ** 2) for j in range(25)] for i in range(25)])
    same = [(i, j) for i in range(25) for j in range(25) if i != j and labels[i] == labels[j]]
    diff = [(i, j) for i in range(25) for j in range(25) if labels[i] != labels[j]]
    wins = sum((D[d] > D[s]) + 0.5 * (D[d] == D[s]) for s in same for d in diff)
    assert branches.embedding_agreement(f, g, labels)["auc"] == pytest.approx(wins / (len(same) * len(diff)))


def test_a_collapsed_network_gets_no_push_on_its_output_bias():
    """The stationary point the sheet describes: constant outputs, a balanced batch, every D < 1."""
    spec = default_spec()
    net = common.network(spec, 0)
    last = spec.layers[-1].name
    for key in (last, last + "'"):
        net.params[key + ".W"][:] = 0.0
    net.params[last + ".b"][:] = 0.1
    net.params[last + "'.b"][:] = -0.1
    x = np.random.default_rng(4).normal(size=(8, *spec.input)).astype(np.float32)
    l = np.array([0, 1] * 4)
    grads = net.backward(net.forward(x[:4].repeat(2, 0), x[4:].repeat(2, 0), l))
    assert np.all(net.forward(x, x[::-1], np.zeros(8)).D < 1)
    assert np.abs(grads[last + ".b"]).max() < 1e-7 and np.abs(grads[last + "'.b"]).max() < 1e-7
    # with one more different-label pair than same-label ones the push no longer cancels
    unbalanced = net.backward(net.forward(x[:4].repeat(2, 0), x[4:].repeat(2, 0), np.array([0, 1, 1, 1] * 2)))
    assert np.abs(unbalanced[last + ".b"]).max() > 1e-3
