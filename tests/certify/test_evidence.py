"""The finite-difference core: it agrees with known derivatives, flags kinks, and rejects wrong derivatives by name."""

import numpy as np
import pytest

from derive.certify import evidence


def cubic(x):
    return float(np.sum(x ** 3) + x[0] * x[-1])


def cubic_grad(x):
    g = 3 * x ** 2
    g[0] += x[-1]
    g[-1] += x[0]
    return g


def test_exhaustive_matches_a_known_gradient_and_restores_the_input():
    x = np.linspace(-1.5, 2.0, 7)
    before = x.copy()
    fd = evidence.exhaustive(cubic, x)
    assert np.array_equal(x, before)
    ev = evidence.compare("∂f/∂x", cubic_grad(x), fd, method="finite differences", atol=evidence.rounding_atol(10))
    assert ev.ok and ev.checked == 7 and ev.max_rel_error < 1e-8


def test_a_wrong_derivative_is_rejected_with_the_quantity_and_the_entry():
    x = np.linspace(-1.5, 2.0, 7)
    wrong = cubic_grad(x)
    wrong[4] *= 1.01  # one entry 1 % off
    ev = evidence.compare("∂f/∂x", wrong, evidence.exhaustive(cubic, x), method="finite differences",
                         atol=evidence.rounding_atol(10), index_names=("i",))
    assert not ev.ok
    msg = ev.message()
    assert "∂f/∂x" in msg and "finite differences" in msg and "FAILED" in msg and "(i=5)" in msg


def test_compare_reports_shape_mismatch_and_nan_as_failures():
    assert not evidence.compare("q", np.zeros(3), np.zeros(4), method="m").ok
    ev = evidence.compare("q", np.array([1.0, np.nan]), np.array([1.0, 2.0]), method="m")
    assert not ev.ok and ev.max_rel_error == np.inf


def test_exact_zeros_agree_and_a_zero_reference_needs_atol():
    assert evidence.compare("q", np.zeros(3), np.zeros(3), method="m").ok
    assert not evidence.compare("q", np.array([1e-9]), np.array([0.0]), method="m").ok
    assert evidence.compare("q", np.array([1e-12]), np.array([0.0]), method="m", atol=1e-10).ok


def test_batched_differences_flag_kink_crossings_apart():
    # f(x) = |x|: moving x by ±h crosses the kink when |x| < h
    x = np.array([-1.0, -3e-6, 0.5, 2e-6, 3.0])

    def moved(coords, step):
        y = x[coords] + step
        return np.abs(y), np.sign(y) != np.sign(x[coords])

    fd, kinks = evidence.batched(moved, np.arange(x.size))
    assert kinks.tolist() == [False, True, False, True, False]
    ev = evidence.compare("∂|x|/∂x", np.sign(x), fd, method="finite differences", kinks=kinks)
    assert ev.ok and ev.checked == 3 and ev.kinks == 2
    # without setting the kinks apart, the same comparison fails
    assert not evidence.compare("∂|x|/∂x", np.sign(x), fd, method="finite differences").ok


def test_directional_difference_equals_the_gradient_along_the_direction():
    x = np.linspace(-1, 1, 5)
    v = evidence.direction(x.shape, 3)
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert np.isclose(evidence.directional(cubic, x, v), cubic_grad(x) @ v, rtol=1e-8)
    assert np.array_equal(evidence.direction((4,), 7), evidence.direction((4,), 7))


def test_rounding_atol_grows_with_the_scale_and_shrinks_with_the_step():
    assert evidence.rounding_atol(10.0) == pytest.approx(10 * evidence.rounding_atol(1.0))
    assert evidence.rounding_atol(1.0, h=1e-3) < evidence.rounding_atol(1.0, h=1e-6)


def test_evidence_as_dict_has_the_report_keys():
    d = evidence.compare("q", np.ones(2), np.ones(2), method="m").as_dict()
    assert set(d) == {"name", "method", "checked", "total", "max_rel_error", "kinks", "ok"}
