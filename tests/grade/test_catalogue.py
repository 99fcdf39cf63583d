"""The catalogue: each mistake a derivation with a wrong rule, each differing from the certified result on the
tensors, combinable in pairs, with feedback in both languages and the marking-scheme items it loses."""

import numpy as np
import pytest

from derive.errors import DeriveError
from derive.grade import catalogue, evaluation
from derive.sheet import units
from derive.symbolic import derivation

UNITS = {u.id: u for u in units.load_all()}
REQUIRED = {"half_factor", "sign", "relu_derivative", "missing_sum", "margin_case", "norm_not_vector",
            "tied_not_summed", "missing_label", "swapped_indices", "kl_first_term", "kl_missing_mean"}


def test_the_catalogue_holds_the_classic_mistakes_with_feedback_in_both_languages():
    data = catalogue.data()["mistake"]
    assert set(catalogue.BY_ID) >= REQUIRED
    for m in catalogue.MISTAKES:
        assert data[m.id]["fr"] and data[m.id]["en"] and data[m.id]["fr"] != data[m.id]["en"]
        for q in m.questions:
            assert catalogue.lost(UNITS[q], [m.id]), (m.id, q)


def test_the_items_are_named_by_phrases_of_the_marking_scheme():
    unit = UNITS["ex1.q2"]
    (i,) = catalogue.items(unit, ["PReLU derivative"])
    assert "PReLU" in unit.scheme[i].text["en"]
    with pytest.raises(DeriveError, match="names 0 items"):
        catalogue.items(unit, ["a phrase no item has"])
    with pytest.raises(DeriveError, match="names 4 items"):
        catalogue.items(unit, ["$"])
    assert set(catalogue.assessed(UNITS["ex1.q1"], True)) > set(catalogue.assessed(UNITS["ex1.q1"], False))


@pytest.mark.slow
@pytest.mark.parametrize("question", ["ex1.q1", "ex1.q2", "ex1.q7"])
def test_every_mistake_and_pair_differs_from_the_certified_result(exam, question):
    target = exam.target(question)
    combos = catalogue.combinations(target)
    assert any(len(c) == 2 for c in combos)
    for combo in combos:
        wrong = catalogue.formula(target, combo)
        where = evaluation.frame(target.free, evaluation.index_sizes(wrong, target.vocab), sizes=target.tensors.sizes,
                                 fallback=target.sizes)
        right = where and evaluation.frame(target.free, target.sizes, dict(where), sizes=target.tensors.sizes)
        if where is None or right is None or where != right:
            continue  # another index set (a forgotten sum, swapped indices): it cannot agree entry by entry
        assert not np.allclose(target.values(("test", combo), wrong, where), target.reference(where)), combo


def test_rules_replaced_twice_never_combine_and_wrappers_compose():
    untied_q1 = type("T", (), {"question": "ex1.q1", "shared": False, "lower_activation": "prelu"})()
    pairs = {tuple(m.id for m in c) for c in catalogue.combinations(untied_q1) if len(c) == 2}
    assert ("margin_case", "missing_label") not in pairs and ("half_factor", "sign") in pairs
    assert not any("tied_not_summed" in p for p in pairs)
    table = catalogue.rules_for("half_factor", "sign")
    from derive import spec

    net = spec.default_spec()
    plain = derivation.derive(net, "L6", False).steps
    both = derivation.derive(net, "L6", False, rules=table).steps
    first = next(i for i, s in enumerate(plain) if "D" in str(s.lhs.expr) and "s6[k]" in str(s.lhs.variables[0]))
    assert both[first].rhs == -2 * plain[first].rhs
