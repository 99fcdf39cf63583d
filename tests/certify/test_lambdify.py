"""Index-form expressions evaluated on arrays agree with the same sums written with einsum."""

import numpy as np
import pytest
import sympy as sp

from derive.certify import lambdify
from derive.symbolic import graph

i, j, k = (graph.index(n) for n in "ijk")
s, w, x = graph.base("s"), graph.base("w"), graph.base("x")
n_j, n_k = sp.Symbol("n_j", integer=True, positive=True), sp.Symbol("n_k", integer=True, positive=True)
RNG = np.random.default_rng(0)
S, W = RNG.standard_normal((4, 5)), RNG.standard_normal((5, 3))  # s: 4 pairs x 5 units; w: 5 x 3
VALUES = {"s": S, "w": W, "n_j": 5, "n_k": 3}


def test_a_sum_over_an_index_is_a_matrix_product_per_pair():
    out = lambdify.evaluate(sp.Sum(s[j] * w[j, k], (j, 1, n_j)), VALUES, (k,), (3,), batched={"s"})
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, S @ W, rtol=1e-14)


def test_free_indices_broadcast_and_piecewise_is_elementwise():
    expr = sp.Piecewise((1, s[j] > 0), (0, True)) * w[j, k]
    out = lambdify.evaluate(expr, VALUES, (j, k), (5, 3), batched={"s"})
    np.testing.assert_array_equal(out, (S > 0)[:, :, None] * W[None])


def test_the_batch_mean_contracts_factor_by_factor_and_matches_the_plain_mean():
    expr = s[j] * w[j, k] * sp.Symbol("c") * sp.Sum(s[i] ** 2, (i, 1, n_j))
    values = {**VALUES, "c": 2.0}
    plain = lambdify.evaluate(expr, values, (j, k), (5, 3), batched={"s"}).mean(axis=0)
    fast = lambdify.evaluate(expr, values, (j, k), (5, 3), batched={"s"}, mean=True)
    np.testing.assert_allclose(fast, plain, rtol=1e-14)
    # a product that does not vary over the pairs is its own mean
    np.testing.assert_allclose(lambdify.evaluate(2 * w[j, k], VALUES, (j, k), (5, 3), batched={"s"}, mean=True), 2 * W)


def test_rows_select_pairs_and_batched_scalars_broadcast():
    values = {**VALUES, "l": np.array([0.0, 1.0, 1.0, 0.0])}
    out = lambdify.evaluate(sp.Symbol("l") * s[j], values, (j,), (5,), batched={"s", "l"}, rows=np.array([1, 3]))
    np.testing.assert_array_equal(out, [S[1], 0 * S[3]])


def test_a_sum_whose_index_no_array_carries_counts_its_terms():
    m = sp.Symbol("m", integer=True, positive=True)
    t = graph.index("t")
    out = lambdify.evaluate(sp.Sum(1 / m, (t, 1, m)), {"m": 7})
    np.testing.assert_allclose(out, [1.0])


@pytest.mark.parametrize("expr, message", [
    (s[j] * w[j, k], "free index k"),                    # k is neither free nor summed
    (sp.Sum(s[j], (j, 1, n_k)), "runs from 1 to n_k"),   # the sum does not cover the axis of j
    (s[j] * sp.Symbol("beta"), "no value for the symbol beta"),
])
def test_expressions_that_cannot_be_evaluated_say_why(expr, message):
    with pytest.raises(lambdify.EvaluationError, match=message):
        lambdify.evaluate(expr, VALUES, (j,), (5,), batched={"s"})


def test_the_sigmoid_function_is_the_logistic_function():
    z = graph.scalar("z")
    out = lambdify.evaluate(graph.sigmoid(z), {"z": np.array([-2.0, 0.0, 3.0])}, batched={"z"})
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-np.array([-2.0, 0.0, 3.0]))), rtol=1e-15)


def test_a_quantity_inside_and_outside_a_sum():
    expr = s[j] * sp.Sum(s[j] ** 2, (j, 1, n_j))
    out = lambdify.evaluate(expr, VALUES, (j,), (5,), batched={"s"})
    np.testing.assert_allclose(out, S * (S ** 2).sum(axis=1, keepdims=True), rtol=1e-14)


def test_conditions_on_arrays_of_different_shapes_combine():
    """A Piecewise whose 'and' joins conditions on arrays of different shapes (a pair's D, a unit's o)."""
    i = sp.Symbol("i", integer=True, positive=True)
    d, o = sp.Symbol("D", real=True), sp.IndexedBase("o", real=True)
    expr = sp.Piecewise((1, (d < 1) & (o[i] > 0)), (0, True)) + sp.Piecewise((2, (d > 3) | (o[i] < -1)), (0, True))
    values = {"D": np.array([0.5, 2.0, 4.0]), "o": np.array([[1.0, -2.0], [1.0, 0.5], [0.5, 0.5]])}
    got = lambdify.evaluate(expr, values, (i,), (2,), batched={"D", "o"})
    assert got.tolist() == [[1, 2], [0, 0], [2, 2]]
