"""The exam paper: every question stated, names and conventions from the spec, the figure drawn, same bytes."""

import re

import pytest

from derive.sheet import figures, units
from derive.spec import default_spec
from derive.variants import exam, family

VARIANT = next(
    s for s in family.default_family().draws(seed=1, count=10) if sum(layer.type == "conv" for layer in s.layers) == 3
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_default_paper_states_every_question_with_its_points(lang, store, tmp_path):
    written = exam.build(default_spec(), lang, ("md",), out=tmp_path, cache_dir=store)
    text = (tmp_path / f"exam.{lang}.md").read_text(encoding="utf-8")
    assert {p.name for p in written} == {f"exam.{lang}.md", f"exam-network.{lang}.png", f"glorot_backprop.{lang}.png"}
    assert ("reconstitution" if lang == "fr" else "reconstruction") in text
    positions = []
    for unit in units.for_spec(default_spec()):
        first_words = re.split(r"[$`{]", unit.statement[lang])[0][:25]
        assert first_words in text, unit.id
        positions.append(text.index(first_words))
    assert positions == sorted(positions)
    assert [bool(re.search(r"\(7\s*pts?", line)) for line in text.splitlines() if line.startswith("## ")] == [True] * 2
    assert re.search(r"bonus \+0[,.]5\s*pt", text)
    assert "w^{(56)}_{jk}" in text and "w^{(45)}_{ij}" in text
    assert ("chacune leurs propres poids" if lang == "fr" else "each have their own weights") in text


def test_a_variant_paper_uses_its_own_layer_names_and_conventions(store, tmp_path):
    exam.build(VARIANT, "en", ("md",), out=tmp_path, cache_dir=store, variant="07")
    text = (tmp_path / "exam.en.md").read_text(encoding="utf-8")
    upper, lower = VARIANT.layers[-1].name, VARIANT.layers[-2].name
    assert upper == "L5" and "L6" not in text
    assert "w^{(45)}_{jk}" in text and "w^{(56)}" not in text
    assert f"dropout is applied to layers {lower}, {lower[0]}'{lower[1:]}, {upper} and L'5" in text
    assert "Paper 07" in text and "reconstruction" not in text
    shared = "share their weights" in text
    assert shared == VARIANT.shared_weights
    slope = {"scalar": "one learned slope per layer", "channel": "one learned slope per unit"}[VARIANT.prelu]
    assert slope in text


def test_the_papers_figure_gives_kernels_filters_strides_but_not_the_sizes():
    conv = default_spec().layers[1]
    sheet = figures._label(conv, (16, 16, 32), "fr")
    paper = figures._label(conv, (16, 16, 32), "fr", shapes=False)
    assert "16×16×32" in sheet and "16×16×32" not in paper
    assert paper == "conv 3×3\npas 2\n32 filtres\nReLU"
    assert figures._label(default_spec().layers[-1], (32,), "fr", shapes=False) == "dense 32\nlinéaire"


def test_the_hand_drawn_figure_is_the_same_bytes_each_time(tmp_path):
    a = figures.architecture(VARIANT, tmp_path / "a.png", "fr", exam=True).read_bytes()
    b = figures.architecture(VARIANT, tmp_path / "b.png", "fr", exam=True).read_bytes()
    plain = figures.architecture(VARIANT, tmp_path / "c.png", "fr").read_bytes()
    assert a == b and a != plain


@pytest.mark.slow
def test_the_paper_builds_as_pdf_in_a_few_pages(store, tmp_path):
    from pypdf import PdfReader

    exam.build(default_spec(), "fr", ("pdf",), out=tmp_path, cache_dir=store)
    first = (tmp_path / "exam.fr.pdf").read_bytes()
    assert 2 <= len(PdfReader(tmp_path / "exam.fr.pdf").pages) <= 4
    exam.build(default_spec(), "fr", ("pdf",), out=tmp_path / "again", cache_dir=store)
    assert (tmp_path / "again" / "exam.fr.pdf").read_bytes() == first


def test_a_paper_for_another_spec_names_its_file_and_claims_no_reconstruction(store, tmp_path):
    other = default_spec().with_options(shared=True)
    exam.build(other, "en", ("md",), out=tmp_path, cache_dir=store)
    text = (tmp_path / "exam.en.md").read_text(encoding="utf-8")
    assert "reconstruct" not in text and f"`{other.source}`" in text and "share their weights" in text


@pytest.mark.parametrize("blocker", ["figures", "exam.en.md"])
def test_a_target_the_move_cannot_replace_is_refused_before_any_work(tmp_path, blocker):
    from derive.errors import DeriveError

    (tmp_path / "out").mkdir()
    if blocker == "figures":
        (tmp_path / "out" / blocker).write_text("x")
    else:
        (tmp_path / "out" / blocker).mkdir()
    with pytest.raises(DeriveError, match="exists and is not a"):
        exam.build(default_spec(), "en", ("md",), out=tmp_path / "out", cache_dir=tmp_path / "store")
    assert not (tmp_path / "store").exists()  # refused before the glorot figure was computed or read
