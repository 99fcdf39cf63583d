"""The sparsity experiment (Ex. 1 Q7): the literal reading of ρ̂ on a linear layer leaves (0, 1)."""

import pytest

from derive import experiments

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("sparsity", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_literal_reading_is_undefined_on_a_linear_layer(result):
    c = result.conclusion
    # a linear unit with zero-mean weights has a negative batch mean about half the time
    assert c["literal_unit_share_outside"]["0"] > 0.25
    assert c["literal_undefined_batch_share"]["0"] > 0.5


def test_the_sigmoid_reading_never_is(result):
    assert max(result.conclusion["sigmoid_undefined_batch_share"].values()) == 0.0
    for check in result.numbers["plain"]["checkpoints"]:
        for layer in check["layers"].values():
            lo, hi = layer["sigmoid_rho_hat_range"]
            assert 0 < lo <= hi < 1


def test_training_under_each_reading(result):
    c = result.conclusion
    assert not c["literal_training_completed"] and c["literal_training_failed_at_step"] == 0
    assert c["sigmoid_training_completed"]
    assert "literal KL reading is undefined" in result.numbers["with_kl"]["literal"]["failure"]
