"""The vanishing-gradient experiment (Ex. 2 Q4): the problem at 20 layers and each remedy."""

import pytest

from derive import experiments


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("vanishing", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_depth(result):
    assert result.numbers["layer_sizes"][1:-1] == [result.conclusion["width"]] * 20


def test_saturating_units_with_the_standard_init_vanish(result):
    ratio = result.conclusion["backprop_ratio_first_last"]
    assert ratio["sigmoid_standard"] < 1e-8  # sigmoid' <= 1/4 and n Var W = 1/3 at each of 19 layers
    assert ratio["tanh_standard"] < 1e-2
    assert ratio["relu_standard"] < 1e-3  # ReLU alone is not the cure: its initialisation matters


@pytest.mark.parametrize("remedy", ["relu_he", "tanh_normalized", "sigmoid_batchnorm", "tanh_batchnorm",
                                    "sigmoid_residual", "tanh_residual"])
def test_each_remedy_keeps_the_gradient(result, remedy):
    ratio = result.conclusion["backprop_ratio_first_last"]
    assert ratio[remedy] > 0.1
    assert ratio[remedy] > 1e4 * ratio["sigmoid_standard"]


def test_with_tanh_and_the_standard_init_the_forward_signal_fades_too(result):
    c = result.numbers["configs"]["tanh_standard"]
    assert c["activation_rms"][-1] < 1e-3 * c["activation_rms"][0]
    # so the weight gradients (activation x back-propagated gradient) stay level but tiny
    assert 0.5 < c["weight_grad_ratio_first_last"] < 2
    assert c["weight_grad_rms"][0] < 1e-3 * result.numbers["configs"]["relu_he"]["weight_grad_rms"][0]
