"""The loss experiment (Ex. 1 Q5): the properties its conclusions rest on, measured on the engine."""

import math

import numpy as np
import pytest

from derive import experiments
from derive.engine import layers


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("loss", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_hinge_stops_at_D_1_that_is_distance_sqrt2(result):
    c = result.conclusion
    assert c["hinge_stop_D"] == pytest.approx(1.0, abs=1e-9)
    assert c["hinge_stop_distance"] == pytest.approx(math.sqrt(2), abs=1e-9)
    D = np.array(result.numbers["grid_D"])
    norms = np.array(result.numbers["curves"]["1"]["grad_norm"])
    assert np.all(norms[D >= 1] == 0) and np.all(norms[(D > 0) & (D < 1)] > 0)


def test_engine_matches_closed_forms_and_finite_differences(result):
    assert result.conclusion["max_error_vs_closed_form"] < 1e-12
    assert result.numbers["finite_difference_max_rel_error"] < 1e-6
    measured = np.array(result.numbers["curves"]["0"]["D_measured"])
    np.testing.assert_allclose(measured, result.numbers["grid_D"], atol=1e-12)


def test_coinciding_different_label_embeddings_are_a_stationary_maximum(result):
    c = result.conclusion
    assert c["loss_coincide_l1"] == 1.0 and c["grad_norm_coincide_l1"] == 0.0
    assert c["curvature_coincide_l1"] == pytest.approx(-1.0, abs=1e-3)  # L = 1 - ½‖δ‖² nearby
    assert c["collapsed_network_max_grad"] == 0.0 and result.numbers["collapsed_network"]["loss"] == 1.0


def test_share_of_same_label_random_pairs(result):
    p = result.numbers["pairs"]
    se = math.sqrt(p["sum_p_squared"] * (1 - p["sum_p_squared"]) / p["pairs"])
    assert abs(p["monte_carlo"] - p["sum_p_squared"]) < 5 * se
    assert p["sum_p_squared"] >= p["one_over_K"] - 1e-12  # Cauchy-Schwarz: equality for balanced classes
    assert p["one_over_K"] == pytest.approx(1 / p["classes"])
    assert p["sum_p_squared"] - p["one_over_K"] < 0.01  # the generator's classes are balanced


def test_a_wrong_engine_loss_is_caught(tmp_path, monkeypatch):
    """The experiment measures the engine: a hinge at D = 2 must show up in its numbers."""
    right = layers.pair_loss

    def shifted(a, b, l):
        loss, D, g, h = right(a / math.sqrt(2), b / math.sqrt(2), l)
        return loss, D, g / math.sqrt(2), h / math.sqrt(2)

    monkeypatch.setattr(layers, "pair_loss", shifted)
    bad = experiments.run("loss", seed=0, quick=True, cache_dir=tmp_path, force=True)
    assert bad.conclusion["hinge_stop_D"] == pytest.approx(2.0, abs=1e-6)
    assert bad.conclusion["max_error_vs_closed_form"] > 0.1
