"""Q3: numbers as students write them; every reading of the figure and every classic miscount."""

import pytest

from derive import spec
from derive.grade import counting, syntax
from derive.shapes import total_params

EXAM = spec.default_spec()


@pytest.mark.parametrize("text", ["2245760", "2 245 760", "2,245,760", "2.245.760", "2'245'760", "2\u202f245\u202f760",
                                  " 2245760 paramètres ", "2245760 parameters", "2*1122880", "2 * (1122880)"])
def test_numbers_as_students_write_them(text):
    assert counting.number(text) == 2245760


@pytest.mark.parametrize("text", ["2,24", "environ 2 millions", "22 45 760", "2.2e6", "-5", "", "1/3"])
def test_what_is_not_a_whole_number_is_unreadable(text):
    with pytest.raises(syntax.Unreadable) as err:
        counting.number(text)
    assert err.value.key in ("number", "empty")


def test_every_reading_of_the_figure_is_a_correct_total():
    found = counting.explanations(EXAM)
    for shared in (False, True):
        for prelu in ("scalar", "channel", "element"):
            total = total_params(EXAM, shared, prelu)
            assert any(not e.mistakes and e.shared == shared and e.prelu == prelu for e in found[total])


def test_each_miscount_gives_its_own_total():
    found = counting.explanations(EXAM)
    right = total_params(EXAM, False, "channel")
    biases = sum(layer.units if layer.type == "dense" else layer.filters for layer in EXAM.layers
                 if layer.type != "maxpool")
    assert ("biases_forgotten",) in [e.mistakes for e in found[right - 2 * biases]]
    slopes = next(layer.units for layer in EXAM.layers if layer.activation == "prelu")
    assert ("prelu_uncounted",) in [e.mistakes for e in found[right - 2 * slopes]]
    doubled = [e for e in found[total_params(EXAM, True, "channel")] if e.mistakes]
    assert doubled and doubled[0].mistakes == ("branches_not_doubled",) and not doubled[0].shared
    kinds = {m for es in found.values() for e in es for m in e.mistakes}
    assert kinds == set(counting.MISCOUNTS)
