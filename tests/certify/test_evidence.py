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


def kinked(x, kinks, weights):
    """Moves of f_i(y) = y³ + Σ_k w_k·|y − kink_ik| at each coordinate x_i, with the kink-crossing flags.

    Its derivative at x_i is 3x_i² + Σ_k w_k·sign(x_i − kink_ik); a move crosses when a sign changes.
    """
    def moved(coords, step):
        y, k = x[coords] + step, kinks[coords]
        value = y ** 3 + (weights * np.abs(y[:, None] - k)).sum(axis=1)
        return value, (np.sign(y[:, None] - k) != np.sign(x[coords][:, None] - k)).any(axis=1)

    def derivative():
        return 3 * x ** 2 + (weights * np.sign(x[:, None] - kinks)).sum(axis=1)

    return moved, derivative()


FAR = 1.0  # a kink far from every coordinate


def kink_cases():
    """Coordinates whose ±h (h = 1e-5) crosses no kink, one on one side, kinks on both sides, ..."""
    x = np.array([0.7, 0.3, -0.4, 0.2, 0.5, 0.9])
    kinks = np.array([
        [x[0] + FAR, x[0] - FAR],      # none within h: central
        [x[1] + 4e-6, x[1] - FAR],     # +h crosses: backward one-sided
        [x[2] - 6e-6, x[2] + FAR],     # -h crosses: forward one-sided
        [x[3] + 3e-6, x[3] - 4e-6],    # both sides cross: central with h/8
        [x[4] + 1.5e-5, x[4] - 5e-6],  # -h crosses and so would +2h: central with h/8
        [x[5] + 1e-9, x[5] - 1e-9],    # both sides cross down to h/8⁴: unresolved
    ])
    return x, kinks, np.array([1.0, 2.0])


def test_differences_certify_coordinates_next_to_a_kink():
    x, kinks, w = kink_cases()
    moved, exact = kinked(x, kinks, w)
    d = evidence.differences(moved, np.arange(x.size))
    assert d.kind.tolist() == [evidence.CENTRAL, evidence.BACKWARD, evidence.FORWARD, evidence.CENTRAL,
                               evidence.CENTRAL, evidence.UNRESOLVED]
    assert d.step.tolist()[:5] == [1e-5, 1e-5, 1e-5, 1e-5 / 8, 1e-5 / 8]
    assert d.crossed.tolist() == [False, True, True, True, True, True]
    assert d.counts() == {"central": 1, "one-sided": 2, "smaller step": 2, "unresolved": 1,
                          "smallest step": 1e-5 / 8}
    assert np.allclose(d.values[:5], exact[:5], rtol=1e-9, atol=0)  # second order: h² ≈ 1e-10
    ev = evidence.compare_differences("∂f/∂x", exact[:5], evidence.Differences(
        d.values[:5], d.kind[:5], d.step[:5], d.crossed[:5]), scale=1.0)
    assert ev.ok and ev.checked == ev.total == 5 and ev.kinks == 4
    assert ev.as_dict()["differences"]["one-sided"] == 2
    # the unresolved coordinate is reported, and fails the check rather than pass unchecked
    ev = evidence.compare_differences("∂f/∂x", exact, d, scale=1.0)
    assert not ev.ok and ev.checked == 5 and "not certified" in ev.notes[0]


def test_wrong_values_at_kink_coordinates_fail():
    x, kinks, w = kink_cases()
    x, kinks = x[:5], kinks[:5]
    moved, exact = kinked(x, kinks, w)
    d = evidence.differences(moved, np.arange(x.size))
    for i in (1, 2, 3, 4):
        # the slope on the far side of the nearest kink: what a formula with the wrong piece there gives
        k = np.argmin(np.abs(kinks[i] - x[i]))
        wrong = exact.copy()
        wrong[i] -= 2 * w[k] * np.sign(x[i] - kinks[i, k])
        ev = evidence.compare_differences("∂f/∂x", wrong, d, scale=1.0, index_names=("i",))
        assert not ev.ok and ev.checked == 5, i
        assert f"(i={i + 1})" in ev.message() and "FAILED" in ev.message()
    straddling = (moved(np.arange(5), 1e-5)[0] - moved(np.arange(5), -1e-5)[0]) / 2e-5
    assert not evidence.compare_differences("∂f/∂x", straddling, d, scale=1.0).ok


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
