"""The Moodle export: parsed back, every required element present, numbers equal to their sources."""

import base64

import pytest
from lxml import etree

from derive.shapes import total_params
from derive.variants import answers, batch, exam, family, moodle, quiz

FAMILY = family.default_family()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    v = batch.plan(FAMILY, seed=3, count=2, only="2")[0]
    folder = tmp_path_factory.mktemp("variant") / v.folder
    exam.build(v.spec, "en", ("md",), out=folder, cache_dir=store, variant=v.label)
    category = quiz.category(v, "en", folder)
    return v, category, moodle.checked(moodle.quiz([category]))


def test_the_quiz_parses_back_with_every_element_moodle_reads(built):
    _, _, data = built
    root = etree.fromstring(data)
    kinds = [q.get("type") for q in root.iter("question")]
    assert kinds[:2] == ["category", "description"]
    assert kinds.count("numerical") == 2 and kinds.count("essay") == 12
    assert moodle.check(data) == []
    for q in root.iter("question"):
        if q.get("type") != "category":
            assert q.findtext("name/text").startswith("variant-02 ")


def test_the_checker_finds_what_is_missing(built):
    _, _, data = built
    root = etree.fromstring(data)
    essay = next(q for q in root.iter("question") if q.get("type") == "essay")
    essay.remove(essay.find("graderinfo"))
    number = next(q for q in root.iter("question") if q.get("type") == "numerical")
    number.find("answer").set("fraction", "62.5")
    problems = moodle.check(etree.tostring(root))
    assert any("graderinfo" in p for p in problems)
    assert any("62.5" in p for p in problems)
    assert moodle.check(b"<quiz><question") and moodle.check(b"<notquiz/>")
    with pytest.raises(RuntimeError):
        moodle.checked(etree.tostring(root))


def test_numbers_equal_count_params_and_the_certified_gradient(built):
    v, _, data = built
    root = etree.fromstring(data)
    gradient, count = [q for q in root.iter("question") if q.get("type") == "numerical"]  # Q1, then Q3
    full = [a for a in count.findall("answer") if a.get("fraction") == "100"]
    assert [int(a.findtext("text")) for a in full] == [total_params(v.spec)]
    g = answers.gradient(v.spec, "en")
    first = gradient.find("answer")
    assert first.get("fraction") == "100"
    assert float(first.findtext("text")) == pytest.approx(g.choices[0].value, abs=1e-12)
    assert float(first.findtext("tolerance")) == pytest.approx(g.choices[0].tolerance)
    assert f"j = {g.j}" in gradient.findtext("questiontext/text").replace("\\(", "").replace("\\)", "")


def test_text_is_html_in_cdata_with_mathjax_delimiters_and_embedded_figures(built):
    _, _, data = built
    assert b"<![CDATA[" in data
    root = etree.fromstring(data)
    description = next(q for q in root.iter("question") if q.get("type") == "description")
    html = description.findtext("questiontext/text")
    assert "\\(" in html and "$" not in html
    assert "@@PLUGINFILE@@/exam-network.en.png" in html
    file = description.find("questiontext/file")
    assert file.get("name") == "exam-network.en.png" and file.get("encoding") == "base64"
    assert base64.b64decode(file.text)[:8] == b"\x89PNG\r\n\x1a\n"
    essay = next(q for q in root.iter("question") if q.get("type") == "essay")
    assert "<table>" in essay.findtext("graderinfo/text")


def test_the_same_variant_gives_the_same_bytes(built, tmp_path):
    v, category, data = built
    assert moodle.quiz([category]) == data
