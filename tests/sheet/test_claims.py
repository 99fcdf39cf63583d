"""Claims: predicates over named numbers, evaluated safely; a false one changes the wording or stops the build."""

import pytest

from derive.sheet.claims import Claim, PredicateError, evaluate, verdicts
from derive.sheet.units import claim


@pytest.mark.parametrize("predicate, numbers, expected", [
    ("a < b", {"a": 1, "b": 2}, True),
    ("a < b < c", {"a": 1, "b": 3, "c": 2}, False),
    ("abs(x - 1) < 1e-6 and not flag", {"x": 1.0, "flag": False}, True),
    ("max(values) - min(values) < 2 * sqrt(2) * se", {"values": [0.5, 0.52], "se": 0.02}, True),
    ("max(values) - min(values) < 2 * sqrt(2) * se", {"values": [0.5, 0.6], "se": 0.02}, False),
    ("x ** 2 == 4 or y", {"x": 2, "y": False}, True),
])
def test_predicates_are_evaluated_over_their_numbers(predicate, numbers, expected):
    assert evaluate(predicate, numbers) is expected


@pytest.mark.parametrize("predicate", [
    "__import__('os').system('true')", "x.real > 0", "open('f')", "[a for a in b]", "lambda: 1", "x[0] > 1",
    "x if y else z",
])
def test_anything_but_a_plain_expression_is_refused(predicate):
    with pytest.raises(PredicateError):
        evaluate(predicate, {"x": 1, "y": 1, "z": 1, "a": 1, "b": [1]})


def test_a_name_without_a_number_is_refused():
    with pytest.raises(PredicateError, match="names 'b'"):
        evaluate("a < b", {"a": 1})


def test_a_claim_records_its_predicate_numbers_and_verdict():
    c = claim("ex9.q1", "smaller", {"fr": "a est plus petit", "en": "a is smaller"}, "a < b", a=1, b=2.5)
    assert isinstance(c, Claim) and c.name == "smaller" and c.holds
    record = c.as_dict("ex9.q1")
    assert record == {"id": "ex9.q1.smaller", "question": "ex9.q1", "holds": True, "predicate": "a < b",
                      "numbers": {"a": 1, "b": 2.5}, "required": False,
                      "says": {"fr": "a est plus petit", "en": "a is smaller"}}
    wrong = claim("ex9.q1", "larger", {"fr": "", "en": ""}, "a > b", required=True, a=1, b=2.5)
    assert wrong.failure() == "claim ex9.q1.larger does not hold: a > b (with a = 1, b = 2.5)"


def test_verdicts_are_read_by_name_and_refuse_a_name_twice():
    v = verdicts([claim("q", "x", {}, "1 < 2"), claim("q", "y", {}, "2 < 1")])
    assert v.x is True and v.y is False
    with pytest.raises(AttributeError):
        _ = v.z
    with pytest.raises(ValueError, match="two claims"):
        verdicts([claim("q", "x", {}, "1 < 2"), claim("q", "x", {}, "1 < 2")])


# --- A failed claim is labelled so only where the text prints a wording in its place --------------

def _render(template: str, held: dict, **values):
    import jinja2

    from derive.sheet.claims import Replacements

    otherwise = Replacements(held)
    return jinja2.Environment().from_string(template).render(otherwise=otherwise, **values), otherwise


def test_a_replacement_is_printed_and_remembered_only_when_its_claim_fails():
    template = 'A{% call otherwise("x") %} instead {{ n }}{% endcall %}.'
    text, seen = _render(template, {"x": True}, n=1)
    assert text == "A." and seen.printed == {}
    text, seen = _render(template, {"x": False}, n=1)
    assert text == "A instead 1." and seen.printed == {"x": "instead 1"}
    with pytest.raises(ValueError, match="not a claim"):
        _render('{% call otherwise("y") %}z{% endcall %}', {"x": False})


def test_only_a_failed_claim_with_a_printed_wording_is_said_to_be_replaced():
    failed, held = claim("q", "x", {}, "2 < 1"), claim("q", "y", {}, "1 < 2")
    _, seen = _render('{% call otherwise("x") %}{% endcall %}', {"x": False, "y": True})  # an empty wording is none
    assert seen.instead([failed, held]) == {}
    _, seen = _render('{% call otherwise("x") %}the numbers say less{% endcall %}', {"x": False, "y": True})
    assert seen.instead([failed, held]) == {"x": "the numbers say less"}
