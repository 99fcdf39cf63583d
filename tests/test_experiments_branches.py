"""The branches experiment (Ex. 1 Q4): what training does to L2 and L'2 under each weight setting."""

import math

import pytest

from derive import experiments


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("branches", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def checkpoints(result, run):
    return result.numbers["runs"][run]["checkpoints"]


def test_checkpoints_cover_the_run(result):
    z = result.sizes
    for run in ("untied_independent", "tied", "untied_same_init"):
        steps = [c["step"] for c in checkpoints(result, run)]
        assert steps == list(range(0, z["steps"] + 1, z["every"]))


def test_tied_branches_are_one_function(result):
    for c in checkpoints(result, "tied"):
        assert all(v == 0.0 for v in c["weight_distance"].values())
        assert c["embedding_gap"] == 0.0 and c["self_D"] == 0.0


def test_independent_draws_start_root2_apart_and_stay_far(result):
    start, end = checkpoints(result, "untied_independent")[0], checkpoints(result, "untied_independent")[-1]
    layer = result.conclusion["layer"]
    # two independent zero-mean draws: ‖W − W'‖² ≈ ‖W‖² + ‖W'‖², so the relative distance is √2
    assert start["weight_distance"][layer] == pytest.approx(math.sqrt(2), abs=0.05)
    assert end["weight_distance"][layer] > 1.0
    assert end["aligned_weight_distance"][layer] > 1.0


def test_one_draw_for_both_branches_drifts_apart(result):
    start, end = checkpoints(result, "untied_same_init")[0], checkpoints(result, "untied_same_init")[-1]
    assert all(v == 0.0 for v in start["weight_distance"].values()) and start["embedding_gap"] == 0.0
    # the branches see different images, so their gradients differ from the first step on
    assert all(v > 0.0 for v in end["weight_distance"].values()) and end["embedding_gap"] > 0.0


def test_channel_matching_is_a_correlation(result):
    layer = result.conclusion["layer"]
    for run in ("untied_independent", "untied_same_init", "tied"):
        for c in checkpoints(result, run):
            assert -1.0 <= c["matched_correlation"][layer] <= 1.0 + 1e-9
    tied_start = checkpoints(result, "tied")[0]["matched_correlation"][layer]
    assert tied_start > checkpoints(result, "untied_independent")[0]["matched_correlation"][layer]


def test_held_out_verification_is_reported(result):
    for run in result.numbers["runs"].values():
        assert 0.0 <= run["held_out"]["accuracy"] <= 1.0 and len(run["loss"]) == result.sizes["steps"]


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
