"""The family of variants: the default family's draws, determinism, distinctness, limits, bad files."""

import pytest

from derive import spec as specs
from derive.errors import DeriveError
from derive.shapes import branch_params
from derive.variants import family

FAMILY = family.default_family()


def test_twenty_draws_are_valid_distinct_and_within_limits():
    drawn = FAMILY.draws(seed=1, count=20)
    assert len(set(drawn)) == 20
    for spec in drawn:
        again = specs.parse(specs.to_toml(spec), spec.source)
        assert again == spec
        side = spec.shapes()[-3]
        assert min(side[:2]) >= 2 and max(side[:2]) <= 8
        assert branch_params(spec) <= FAMILY.limits["max_branch_params"]
        assert [layer.type for layer in spec.layers[-2:]] == ["dense", "dense"]
        assert [layer.activation for layer in spec.layers[-2:]] == ["prelu", "linear"]


def test_variant_k_is_the_same_alone_or_in_a_batch():
    batch = FAMILY.draws(seed=7, count=12)
    for k in (1, 5, 12):
        assert FAMILY.draw(seed=7, k=k) == batch[k - 1]
    assert FAMILY.draws(seed=7, count=5) == batch[:5]


def test_seeds_give_different_batches():
    assert FAMILY.draws(seed=1, count=5) != FAMILY.draws(seed=2, count=5)


def test_every_listed_value_is_drawn_somewhere():
    drawn = FAMILY.draws(seed=3, count=60)
    assert {s.prelu for s in drawn} == set(FAMILY.choices["prelu"])
    assert {s.shared_weights for s in drawn} == {False, True}
    assert {sum(layer.type == "conv" for layer in s.layers) for s in drawn} == set(FAMILY.choices["conv_layers"])
    assert {layer.kernel[0] for s in drawn for layer in s.layers if layer.type == "conv"} == set(
        FAMILY.choices["kernel"]
    )
    assert any(layer.type == "maxpool" for s in drawn for layer in s.layers)


def test_filters_never_decrease_along_a_branch():
    for spec in FAMILY.draws(seed=4, count=30):
        filters = [layer.filters for layer in spec.layers if layer.type == "conv"]
        assert filters == sorted(filters)


def test_the_exam_network_is_a_member_of_the_default_family():
    exam = specs.default_spec()
    convs = [layer for layer in exam.layers if layer.type == "conv"]
    assert len(convs) in FAMILY.choices["conv_layers"]
    assert {layer.kernel[0] for layer in convs} <= set(FAMILY.choices["kernel"])
    assert {layer.filters for layer in convs} <= set(FAMILY.choices["filters"])
    assert exam.layers[-2].units in FAMILY.choices["dense_units"]
    assert exam.layers[-1].units in FAMILY.choices["output_units"]
    assert FAMILY._keeps_limits(exam)


def test_a_family_too_small_for_the_batch_is_one_clear_refusal():
    text = family.default_text()
    for name, one in (
        ("conv_layers", "[3]"),
        ("kernel", "[3]"),
        ("filters", "[16]"),
        ("stride", "[2]"),
        ("pooling", "[0]"),
        ("dense_units", "[64]"),
        ("output_units", "[10]"),
        ("prelu", '["scalar"]'),
        ("shared_weights", "[false]"),
    ):
        text = _set(text, name, one)
    tiny = family.parse(text, "tiny.toml")
    assert len(tiny.draws(seed=0, count=1)) == 1
    with pytest.raises(DeriveError, match="too few distinct networks"):
        tiny.draws(seed=0, count=2)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("kernel", "[]", "non-empty list"),
        ("kernel", "[3, 0]", "integers from 1 to 11"),
        ("filters", "[16, 16]", "lists a value twice"),
        ("prelu", '["slope"]', "among scalar, channel, element"),
        ("shared_weights", "[0, 1]", "among false, true"),
        ("stride", '"2"', "non-empty list"),
        ("conv_layers", "[true]", "integers from 1 to 8"),
    ],
)
def test_bad_fields_are_named(field, value, message):
    with pytest.raises(DeriveError, match=message) as info:
        family.parse(_set(family.default_text(), field, value), "bad.toml")
    assert all(line.startswith("bad.toml: ") for line in info.value.problems)


def test_unknown_fields_limits_and_syntax():
    with pytest.raises(DeriveError, match="unknown field 'kernels'"):
        family.parse(family.default_text() + "kernels = [3]\n", "f.toml")
    with pytest.raises(DeriveError, match="min_side is larger than max_side"):
        family.parse(family.default_text().replace("min_side = 2", "min_side = 9"), "f.toml")
    with pytest.raises(DeriveError, match="missing field 'max_side'"):
        family.parse(family.default_text().replace("max_side = 8", ""), "f.toml")
    with pytest.raises(DeriveError, match="TOML syntax error"):
        family.parse("input = [", "f.toml")


def _set(text: str, field: str, value: str) -> str:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"{field} ="))
    lines[i] = f"{field} = {value}"
    return "\n".join(lines) + "\n"


def test_a_family_file_says_only_what_it_changes(tmp_path):
    path = tmp_path / "four.toml"
    path.write_text("conv_layers = [4]\nkernel = [3]\n[limits]\nmax_branch_params = 900_000\n", encoding="utf-8")
    four = family.load(path)
    assert four.choices["conv_layers"] == (4,) and four.choices["kernel"] == (3,)
    assert four.choices["filters"] == FAMILY.choices["filters"] and four.input == FAMILY.input
    assert four.limits == {**FAMILY.limits, "max_branch_params": 900_000}
    for spec in four.draws(seed=1, count=5):
        assert sum(layer.type == "conv" for layer in spec.layers) == 4
        assert branch_params(spec) <= 900_000
    path.write_text("kernel = [3, 0]\n", encoding="utf-8")
    with pytest.raises(DeriveError, match="integers from 1 to 11") as info:
        family.load(path)
    assert len(info.value.problems) == 1


def test_a_family_nested_too_deeply_is_one_line():
    with pytest.raises(DeriveError, match="nested too deeply"):
        family.parse("a = " + "[" * 5000 + "]" * 5000 + "\n")


@pytest.mark.parametrize("shape", ["[32, 16, 3]", "[4, 4, 3]", "[32, 32, 2]"])
def test_an_input_the_shapeset_cannot_draw_is_refused_with_the_family(shape):
    with pytest.raises(DeriveError, match="field 'input': the Shapeset generator draws square"):
        family.parse(f"input = {shape}\n", base=family.tomllib.loads(family.default_text()))


def test_a_family_file_that_opens_on_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "family.toml"
    path.write_bytes(b"\xef\xbb\xbfconv_layers = [4]\n")
    assert family.load(path).choices["conv_layers"] == (4,)
