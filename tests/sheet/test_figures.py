"""Figures drawn from their numbers: the convolution diagram's output is the formula's; labels per language."""

import pytest

from derive.shapes import out_size, same_padding
from derive.sheet import figures


@pytest.mark.parametrize("size, kernel, stride, padding", [(7, 3, 2, "same"), (7, 3, 1, "same"), (8, 3, 2, "valid"),
                                                          (6, 2, 2, "same"), (9, 5, 1, "valid")])
def test_the_drawn_output_is_the_formulas(tmp_path, size, kernel, stride, padding):
    g = figures.convolution(tmp_path / "c.png", "en", size=size, kernel=kernel, stride=stride, padding=padding)
    assert g.drawn_output == out_size(size, kernel, stride, padding)
    assert g.padding == (same_padding(size, kernel, stride)[0] if padding == "same" else 0)
    # the highlighted output cell is the one the highlighted window gives
    assert g.window == (g.cell[0] * stride, g.cell[1] * stride)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_the_same_numbers_give_the_same_bytes_and_each_language_its_words(tmp_path):
    paths = {key: tmp_path / f"{key}.png" for key in ("fr", "fr2", "en")}
    for key, path in paths.items():
        figures.convolution(path, key[:2])
    assert paths["fr"].read_bytes() == paths["fr2"].read_bytes() != paths["en"].read_bytes()
    assert set(figures.WORDS["fr"]) == set(figures.WORDS["en"])
