"""The Glorot experiment (Ex. 2 Q5): back-propagated gradients shrink toward the input only with the standard init."""

import pytest

from derive import experiments


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("glorot", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_papers_network(result):
    sizes = result.numbers["layer_sizes"]
    assert sizes[0] == 32 * 32 and sizes[1:-1] == [1000] * 5 and sizes[-1] == result.numbers["classes"] == 9


def test_standard_init_shrinks_the_gradient_toward_the_input(result):
    std = result.numbers["schemes"]["glorot_standard"]["backprop_std"]
    assert all(a < b for a, b in zip(std, std[1:]))  # smaller at every step toward the input
    ratio = result.conclusion["backprop_ratio_first_last"]
    # linear regime: each layer multiplies the std by sqrt(n Var W) = sqrt(1/3) (standard) or 1 (normalized)
    assert result.conclusion["predicted_backprop_ratio"]["glorot_standard"] == pytest.approx(1 / 9)
    assert result.conclusion["predicted_backprop_ratio"]["glorot_normalized"] == pytest.approx(1.0)
    assert ratio["glorot_standard"] < 0.2 < 0.6 < ratio["glorot_normalized"] <= 1.05


def test_measured_ratios_follow_the_mean_field_product(result):
    for scheme in ("glorot_standard", "glorot_normalized"):
        s = result.numbers["schemes"][scheme]
        assert s["backprop_ratio_first_last"] == pytest.approx(s["predicted_ratio_with_slopes"], rel=0.1)


def test_weight_gradients_do_not_vanish_with_either_init(result):
    ratio = result.conclusion["weight_grad_ratio_first_last"]
    assert 0.7 < ratio["glorot_standard"] < 1.4 and 0.7 < ratio["glorot_normalized"] < 1.4


def test_two_figures(result):
    assert sorted(p.name for p in result.figures) == [f"glorot_{k}.{lang}.png" for k in ("backprop", "weights")
                                                      for lang in ("en", "fr")]
