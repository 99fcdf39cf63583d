"""Answer units: complete metadata, a marking scheme that sums to the exam's points, checks that can fail."""

import dataclasses
import re
from pathlib import Path

import pytest

from derive import answers, spec
from derive.answers import LANGS, Item

UNITS = answers.load_all()
EXPECTED = {"ex1": 7, "ex2": 6, "bonus": 1}


def test_one_unit_per_question_in_exam_order():
    for section, n in EXPECTED.items():
        numbers = [u.number for u in UNITS if u.section == section]
        assert numbers == list(range(1, n + 1)), section
    assert [u.section for u in UNITS] == sorted((u.section for u in UNITS), key=answers.SECTIONS.index)
    assert len({u.id for u in UNITS}) == len(UNITS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_unit_has_prose_and_metadata_in_every_language(unit):
    folder = answers.ROOT / unit.folder
    for lang in LANGS:
        assert (folder / f"{lang}.md.j2").exists()
        assert unit.title[lang].strip() and unit.restate[lang].strip()
        assert all(item.text[lang].strip() for item in unit.scheme)
    assert unit.title["fr"] != unit.title["en"]


def test_marking_scheme_sums_to_the_exam_points():
    assert answers.scheme_problems() == []
    assert sum(u.points for u in UNITS if u.section == "ex1") == 7
    assert sum(u.points for u in UNITS if u.section == "ex2") == 7
    assert sorted(u.bonus for u in UNITS if u.bonus) == [0.5, 1.0]


def test_marking_scheme_check_catches_a_wrong_sum():
    broken = list(UNITS)
    u = broken[0]
    broken[0] = dataclasses.replace(u, scheme=u.scheme + (Item(0.25, {"fr": "x", "en": "x"}),))
    problems = answers.scheme_problems(broken)
    assert any(p.startswith(f"{u.id}: sub-items give") for p in problems)
    moved = [dataclasses.replace(x, points=x.points + 0.5) if x.id == "ex2.q1" else x for x in UNITS]
    got = sum(x.points for x in moved if x.section == "ex2")
    assert f"ex2: questions give {got} points, the exam 7.0" in answers.scheme_problems(moved)


def test_every_citation_names_a_known_reference():
    refs = answers.references()
    for path in answers.ROOT.glob("*/*.md.j2"):
        for key in re.findall(r'cite\("([^"]+)"\)', path.read_text(encoding="utf-8")):
            assert key in refs, f"{path}: unknown reference {key}"
    for key, ref in refs.items():
        assert {"short", "authors", "year", "title", "venue"} <= set(ref), key


def test_register_entries_are_bilingual():
    entries = answers.register()
    assert len(entries) >= 10
    for e in entries:
        for part in ("where", "issue", "reading"):
            assert set(e[part]) == set(LANGS)


def _unit(uid):
    return next(u for u in UNITS if u.id == uid)


class FakeInputs:
    def __init__(self, net, tmp_path):
        from derive import params

        self.spec, self.report, self.tmp = net, params.report(net), Path(tmp_path)

    def figure(self, name, draw):
        draw(self.tmp / name)
        return f"figures/{name}"


def test_parameter_count_check_fails_on_a_wrong_count(tmp_path):
    unit = _unit("ex1.q3")
    inputs = FakeInputs(spec.default_spec(), tmp_path)
    ctx = unit.solve(inputs)
    assert all(c.ok for c in unit.check(ctx))
    layers = [dict(layer) for layer in ctx["report"]["layers"]]
    layers[0]["params"] += 1  # a conv layer counted without one of its biases would look like this
    bad = dict(ctx, report=dict(ctx["report"], layers=layers))
    assert not all(c.ok for c in unit.check(bad))


def test_parameter_count_follows_another_spec(tmp_path):
    net = spec.parse('input = [8, 8, 1]\nshared_weights = true\n[[layer]]\nname = "L1"\ntype = "dense"\n'
                     'units = 4\nactivation = "prelu"\n', "tiny.toml")
    ctx = _unit("ex1.q3").solve(FakeInputs(net, tmp_path))
    assert ctx["report"]["total_params"] == (64 + 1) * 4 + 4
    assert all(c.ok for c in _unit("ex1.q3").check(ctx))


def test_convolution_check_fails_when_the_engine_flips_its_kernel():
    unit = _unit("ex2.q3")
    good = {"max_error_vs_correlate": 1e-16, "max_error_vs_convolve_flipped": 1e-16,
            "min_relative_gap_vs_convolve_unflipped": 0.9, "configurations": 7}
    assert all(c.ok for c in unit.check({"c": good}))
    # An engine computing signal processing's convolution would match convolve() unflipped instead.
    flipped = dict(good, max_error_vs_correlate=1.3, max_error_vs_convolve_flipped=1.3,
                   min_relative_gap_vs_convolve_unflipped=0.0)
    assert not any(c.ok for c in unit.check({"c": flipped}))
