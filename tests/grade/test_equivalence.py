"""Agreement entry by entry, with a tolerance that a real difference exceeds; algebra only adds proof."""

import numpy as np
import sympy as sp

from derive.grade import equivalence, evaluation
from derive.symbolic import graph as graphs


def test_equal_arrays_agree_and_a_single_wrong_entry_is_found():
    ref = np.arange(24, dtype=float).reshape(2, 3, 4) - 5
    assert equivalence.agree(ref.copy(), ref, scale=20.0).equal
    bad = ref.copy()
    bad[1, 2, 3] += 1e-6
    found = equivalence.agree(bad, ref, scale=20.0)
    assert not found.equal and found.differ == 1 and found.worst[:2] == (1, (2, 3))


def test_rounding_is_tolerated_but_not_more():
    ref = np.linspace(-1, 1, 50).reshape(1, 50)
    assert equivalence.agree(ref * (1 + 1e-13), ref, scale=1.0).equal
    assert not equivalence.agree(ref * (1 + 1e-6), ref, scale=1.0).equal


def test_missing_entries_are_counted_apart_and_rows_can_be_selected():
    ref = np.ones((4, 3))
    answer = ref.copy()
    answer[2] = np.nan
    found = equivalence.agree(answer, ref, scale=1.0)
    assert found.differ == 0 and found.missing == 3 and found.rows_missing == (2,) and not found.equal
    assert equivalence.agree(answer, ref, scale=1.0, rows=np.array([0, 1, 3])).equal


def test_shapes_that_do_not_correspond_cannot_agree():
    assert equivalence.agree(np.zeros((1, 3, 4)), np.zeros((1, 4, 3)), scale=1.0) is None
    assert equivalence.agree(np.zeros((1, 3, 4)), np.zeros((12, 3, 4)), scale=1.0).compared == 144


def test_algebra_proves_sums_split_and_factored_and_refuses_a_difference():
    k, j = graphs.index("k"), graphs.index("j")
    s, t, w = (graphs.base(n) for n in ("s", "t", "w"))
    n = sp.Symbol("n", integer=True, positive=True)
    a = sp.Sum((s[k] - t[k]) * w[j, k], (k, 1, n)) * 3
    b = 3 * sp.Sum(s[k] * w[j, k], (k, 1, n)) - sp.Sum(3 * t[graphs.index("q")] * w[j, graphs.index("q")],
                                                         (graphs.index("q"), 1, n))
    assert equivalence.proved(a, b)
    assert not equivalence.proved(a, 2 * b)
    x = graphs.scalar("D")
    assert equivalence.proved(sp.Piecewise((1, x < 1), (0, True)), 1, ({x: 1 - sp.Symbol("e", positive=True)},))


def test_a_large_free_index_is_sampled_and_a_summed_one_is_not():
    assert len(evaluation.sample(4096)) == evaluation.SAMPLE and list(evaluation.sample(5)) == [0, 1, 2, 3, 4]
    k = graphs.index("k")
    j = graphs.index("j")
    values = {"w": np.arange(200.0 * 3).reshape(200, 3), "n_k": 3}
    tensors = evaluation.Tensors(values, frozenset(), {}, {}, 1)
    n = sp.Symbol("n_k", integer=True, positive=True)
    got = evaluation.evaluate(sp.Sum(graphs.base("w")[j, k], (k, 1, n)), tensors, ((j, 200),))
    assert got.shape == (1, evaluation.SAMPLE)
    assert np.allclose(got[0], values["w"].sum(axis=1)[evaluation.sample(200)])


def test_a_long_sum_is_evaluated_in_parts():
    x = graphs.base("x")
    j = graphs.index("j")
    expr = sp.Add(*[sp.Integer(i) * x[j] ** (1 + i % 7) for i in range(3000)])
    tensors = evaluation.Tensors({"x": np.array([0.5, -0.25])}, frozenset(), {}, {}, 1)
    got = evaluation.evaluate(expr, tensors, ((j, 2),))
    want = sum(i * np.array([0.5, -0.25]) ** (1 + i % 7) for i in range(3000))
    assert np.allclose(got[0], want)
