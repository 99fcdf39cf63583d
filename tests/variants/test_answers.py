"""The machine-graded answers of a variant: Q3's totals and Q1's gradient entry, against independent sources."""

import numpy as np
import pytest

from derive.certify import tensors as certified
from derive.shapes import total_params
from derive.spec import default_spec
from derive.variants import answers, family

SPECS = [default_spec(), *family.default_family().draws(seed=5, count=2)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.source)
def test_the_full_mark_count_is_count_params_and_other_readings_are_partial(spec):
    choices = answers.count_choices(spec, "en")
    full = [c for c in choices if c.fraction == 100]
    assert [c.value for c in full] == [total_params(spec)]
    assert choices[0] is full[0]  # Moodle takes the first answer that matches: the right one first
    readings = {
        total_params(spec, shared, prelu) for shared in (False, True) for prelu in ("scalar", "channel", "element")
    } - {total_params(spec)}
    partial = {c.value for c in choices if c.fraction == answers.OTHER_READING}
    assert readings <= partial
    no_biases = next(c for c in choices if c.mistakes == ("biases_forgotten",))
    assert 0 <= no_biases.fraction < 100 and "bias" in no_biases.feedback.lower()
    assert all(c.fraction in answers.FRACTIONS for c in choices)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.source)
def test_the_gradient_is_the_networks_own_backpropagation_on_the_stated_pair(spec):
    g = answers.gradient(spec, "en")
    right = g.choices[0]
    ctx = certified.Context(spec, seed=0)
    given = dict(g.given)
    # find the pair the question states, then backpropagate that pair alone through the network
    rows = [r for r in range(len(ctx.l)) if ctx.l[r] == given["l"] and abs(ctx.cache.D[r] - given["D"]) < 1e-5]
    assert len(rows) == 1
    r = rows[0]
    cache = ctx.net.forward(ctx.x1[r : r + 1], ctx.x2[r : r + 1], ctx.l[r : r + 1])
    upper = spec.layers[-1].name
    grad = ctx.net.backward(cache)[f"{upper}.W"][g.j - 1, g.k - 1]
    assert abs(right.value - grad) <= right.tolerance
    assert right.tolerance < 0.01 * abs(grad) + 1e-9


def test_the_gradient_values_stated_give_the_answer_within_its_tolerance():
    spec = SPECS[1]
    g = answers.gradient(spec, "fr")
    v = dict(g.given)
    names = list(v)
    delta = 1 if v["l"] == 0 else (-1 if v["D"] < 1 else 0)
    s6, s6p, s5 = (v[n] for n in names[2:5])
    factor = s5 - v[names[5]] if spec.shared_weights else s5
    assert abs(delta * (s6 - s6p) * factor - g.choices[0].value) <= g.choices[0].tolerance


def test_wrong_answers_are_the_catalogues_and_none_is_within_the_right_ones_tolerance():
    g = answers.gradient(default_spec(), "en")
    right, wrong = g.choices[0], g.choices[1:]
    assert {"sign", "half_factor"} <= {m for c in wrong for m in c.mistakes}
    sign = next(c for c in wrong if c.mistakes == ("sign",))
    assert sign.value == pytest.approx(-right.value)
    half = next(c for c in wrong if c.mistakes == ("half_factor",))
    assert half.value == pytest.approx(2 * right.value, rel=1e-5)
    for c in wrong:
        assert c.fraction == 0 and c.feedback
        assert abs(c.value - right.value) > right.tolerance


def test_moodle_fractions_round_down():
    assert answers.moodle_fraction(100) == 100
    assert answers.moodle_fraction(62.5) == 60
    assert answers.moodle_fraction(0.1) == 0
    assert np.isclose(answers.moodle_fraction(33.34), 33.33333)
