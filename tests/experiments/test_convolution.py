"""The convolution experiment (Ex. 2 Q3): cross-correlation, and convolution only with the kernel flipped."""

import pytest

from derive import experiments
from derive.engine import layers
from derive.spec import default_spec, parse


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("convolution", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_engine_is_cross_correlation_and_flipped_convolution(result):
    c = result.conclusion
    assert c["max_error_vs_correlate"] < 1e-12 and c["max_error_vs_convolve_flipped"] < 1e-12
    assert c["min_relative_gap_vs_convolve_unflipped"] > 0.1


def test_every_conv_layer_of_the_spec_is_checked(result):
    rows = result.numbers["configurations"]
    convs = [layer.name for layer in default_spec().layers if layer.type == "conv"]
    assert [r["layer"] for r in rows][: len(convs)] == convs
    assert {tuple(r["stride"]) for r in rows} >= {(1, 1), (2, 2), (1, 2)}
    assert {r["padding"] for r in rows} == {"same", "valid"}


def test_another_spec_with_valid_strided_kernels(tmp_path):
    spec = parse('input = [15, 13, 2]\n[[layer]]\nname = "A"\ntype = "conv"\nkernel = [5, 3]\nfilters = 3\n'
                 'stride = [2, 3]\npadding = "valid"\nactivation = "relu"\n'
                 '[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\nactivation = "linear"\n')
    r = experiments.run("convolution", spec=spec, quick=False, cache_dir=tmp_path)
    row = r.numbers["configurations"][0]
    assert row["layer"] == "A" and row["output"] == [6, 4, 3]
    assert row["max_error_vs_correlate"] < 1e-12 and row["relative_gap_vs_convolve_unflipped"] > 0.1


def test_a_flipping_engine_is_caught(tmp_path, monkeypatch):
    right = layers.conv
    monkeypatch.setattr(layers, "conv", lambda x, W, b, s, p: right(x, W[::-1, ::-1].copy(), b, s, p))
    bad = experiments.run("convolution", seed=0, quick=True, cache_dir=tmp_path, force=True)
    assert bad.conclusion["max_error_vs_correlate"] > 0.1
    assert bad.conclusion["max_error_vs_convolve_flipped"] > 0.1
