"""The spec loader: the default spec, and one clear problem line for every kind of bad input."""

import os
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specgen import spec_dicts, to_toml

from derive import spec as specmod
from derive.errors import DeriveError

GOOD = {
    "input": [32, 32, 3],
    "layer": [
        {"name": "L1", "type": "conv", "kernel": 3, "filters": 8, "activation": "relu"},
        {"name": "L2", "type": "dense", "units": 4, "activation": "linear"},
    ],
}


def problems(data_or_text) -> tuple[str, ...]:
    text = data_or_text if isinstance(data_or_text, str) else to_toml(data_or_text)
    with pytest.raises(DeriveError) as info:
        specmod.parse(text, "s.toml")
    return info.value.problems


def with_layer(i, **changes):
    data = {"input": list(GOOD["input"]), "layer": [dict(t) for t in GOOD["layer"]]}
    for key, value in changes.items():
        if value is None:
            data["layer"][i].pop(key, None)
        else:
            data["layer"][i][key] = value
    return data


def test_default_spec_is_the_documented_reconstruction():
    net = specmod.default_spec()
    assert net.input == (32, 32, 3) and not net.shared_weights and net.prelu == "channel"
    kinds = [(layer.name, layer.type, layer.activation) for layer in net.layers]
    assert kinds == [("L1", "conv", "relu"), ("L2", "conv", "relu"), ("L3", "conv", "relu"),
                     ("L4", "conv", "relu"), ("L5", "dense", "prelu"), ("L6", "dense", "linear")]
    assert [layer.filters for layer in net.layers[:4]] == [32, 32, 64, 64]
    assert [layer.stride for layer in net.layers[:4]] == [(1, 1), (2, 2), (1, 1), (2, 2)]
    assert net.shapes() == [(32, 32, 32), (16, 16, 32), (16, 16, 64), (8, 8, 64), (256,), (32,)]


def test_defaults_follow_the_exam_stride_1_and_same_padding():
    net = specmod.parse(to_toml(GOOD))
    conv = net.layers[0]
    assert conv.stride == (1, 1) and conv.padding == "same" and conv.kernel == (3, 3)
    assert net.shared_weights is False and net.prelu == "channel"


def test_maxpool_stride_defaults_to_its_size_and_has_no_padding():
    data = {"input": [7, 9, 2], "layer": [{"name": "P", "type": "maxpool", "size": [2, 3]},
                                           {"name": "D", "type": "dense", "units": 1, "activation": "linear"}]}
    net = specmod.parse(to_toml(data))
    assert net.layers[0].stride == (2, 3)
    assert net.shapes()[0] == (3, 3, 2)


def test_with_options_overrides_and_rejects_unknown_convention():
    net = specmod.default_spec().with_options(shared=True, prelu="scalar")
    assert net.shared_weights and net.prelu == "scalar"
    with pytest.raises(DeriveError, match="PReLU convention"):
        net.with_options(prelu="per-pixel")


@pytest.mark.parametrize("data, pattern", [
    ({"layer": GOOD["layer"]}, r"missing field 'input'"),
    ({**GOOD, "colour": 1}, r"unknown top-level field 'colour'"),
    ({**GOOD, "shared_weights": "yes"}, r"'shared_weights' must be true or false"),
    ({**GOOD, "prelu": "pixel"}, r"'prelu' must be one of scalar, channel, element"),
    ({"input": [32, 32, 3]}, r"no layers"),
    ({"input": [32, 32], "layer": GOOD["layer"]}, r"'input' must be a list of 3"),
    ({"input": [32, 0, 3], "layer": GOOD["layer"]}, r"'input' must be a positive integer, got 0"),
    ({"input": [32, 32.5, 3], "layer": GOOD["layer"]}, r"'input' must be a positive integer, got 32.5"),
    (with_layer(0, type="pool"), r"layer 1 \('L1'\): field 'type' must be one of conv, maxpool, dense"),
    (with_layer(0, type=None), r"layer 1 \('L1'\): missing field 'type'"),
    (with_layer(0, filters=None), r"layer 1 \('L1'\): missing field 'filters'"),
    (with_layer(0, units=3), r"layer 1 \('L1'\): unknown field 'units' for a conv layer"),
    (with_layer(0, activation="softplus"), r"field 'activation' must be one of relu, prelu"),
    (with_layer(0, filters=-2), r"field 'filters' must be a positive integer, got -2"),
    (with_layer(0, filters=True), r"field 'filters' must be a positive integer, got True"),
    (with_layer(0, filters="8"), r"field 'filters' must be a positive integer, got '8'"),
    (with_layer(0, kernel=[3, 3, 3]), r"field 'kernel' must be an integer or a list of 2"),
    (with_layer(0, stride=0), r"field 'stride' must be a positive integer, got 0"),
    (with_layer(0, padding="full"), r"field 'padding' must be 'same' or 'valid'"),
    (with_layer(0, kernel=40, padding="valid"), r"kernel 40 is larger than the input height 32"),
    (with_layer(1, units=2**21), r"field 'units' is 2097152, larger than"),
    (with_layer(1, name=""), r"field 'name' must be 1-32 letters"),
    (with_layer(1, name="L5'"), r"field 'name' must be 1-32 letters"),
    (with_layer(1, name="L.5"), r"field 'name' must be 1-32 letters"),
    (with_layer(1, name=5), r"field 'name' must be 1-32 letters"),
    (with_layer(1, name="L1"), r"name 'L1' is used twice"),
])
def test_each_problem_is_one_line_naming_the_field(data, pattern):
    found = problems(data)
    assert len(found) == 1, found
    assert found[0].startswith("s.toml: ")
    assert re.search(pattern, found[0]), found[0]


def test_conv_after_dense_is_rejected():
    data = {"input": [8, 8, 1], "layer": [GOOD["layer"][1], dict(GOOD["layer"][0], name="C")]}
    (line,) = problems(data)
    assert "a conv layer cannot follow a dense layer" in line


def test_maxpool_larger_than_input_and_size_reaching_zero():
    pool = {"name": "P", "type": "maxpool", "size": 5}
    dense = {"name": "D", "type": "dense", "units": 2, "activation": "linear"}
    (line,) = problems({"input": [4, 8, 1], "layer": [pool, dense]})
    assert "pool size 5 is larger than the input height 4" in line
    halving = [{"name": f"P{i}", "type": "maxpool", "size": 2} for i in range(4)]
    (line,) = problems({"input": [8, 8, 1], "layer": halving + [dense]})
    assert "larger than the input height 1" in line


def test_parameter_count_overflow_is_rejected():
    data = {"input": [1024, 1024, 1024], "layer": [{"name": "D", "type": "dense", "units": 1000000,
                                                     "activation": "linear"}]}
    (line,) = problems(data)
    assert "more than" in line


def test_toml_syntax_error_gives_its_line():
    (line,) = problems('input = [32, 32, 3]\n\n[[layer]]\nname = "L1\n')
    assert "TOML syntax error" in line and "line 4" in line


def test_several_problems_give_one_line_each():
    data = with_layer(0, filters=0, activation="gelu")
    found = problems(data)
    assert len(found) == 2 and all(p.startswith("s.toml: layer 1") for p in found)


def test_missing_file_directory_and_binary(tmp_path):
    with pytest.raises(DeriveError, match="no such spec file"):
        specmod.load(tmp_path / "nope.toml")
    with pytest.raises(DeriveError, match="is a directory"):
        specmod.load(tmp_path)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DeriveError, match="not a UTF-8"):
        specmod.load(binary)


def _refusal(path, *args) -> str:
    """The one stderr line of ``derive <args> --spec path``, run with a time limit (a FIFO must not hang)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "derive", *(args or ("count-params",)), "--spec", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    return line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_a_device_is_not_read_as_a_spec(tmp_path):
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in _refusal(fifo)  # nobody writes to it: reading would wait forever
    assert "not a regular file" in _refusal("/dev/zero")  # reading would never end
    link = tmp_path / "link.toml"
    link.symlink_to("/dev/zero")
    assert "not a regular file" in _refusal(link)


def test_a_spec_file_has_a_bounded_size(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(specmod.default_spec_text() + "#" * specmod.MAX_SPEC_BYTES)
    with pytest.raises(DeriveError, match="larger than"):
        specmod.load(big)


@pytest.mark.parametrize("text", ["x = " + "[" * 5000 + "]" * 5000, "x = " + "{a = " * 5000 + "1" + "}" * 5000])
def test_deeply_nested_toml_is_one_clear_problem(tmp_path, text):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    assert "nested too deeply" in _refusal(path)


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(5)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2 and "=" in lines[i]:
            key = lines[i].split("=")[0]
            value = rng.choice(['0', '-1', '1e9', '"x"', 'true', '[]', '[1, "a"]', '{a = 1}', '3.5',
                                '99999999999999999999', '"same"', '"prelu"', '[0, 3]'])
            lines[i] = f"{key}= {value}"
        elif op == 3:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice("[]{}=\"#,.\\x\t") + lines[i][pos:]
        else:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mutated_default_spec_never_escapes_as_a_traceback(seed):
    text = _mutate(specmod.default_spec_text(), random.Random(seed))
    try:
        specmod.parse(text, "m.toml")
    except DeriveError as exc:
        assert exc.problems and all(p.startswith("m.toml: ") and "\n" not in p for p in exc.problems)


JUNK = st.one_of(st.integers(-3, 10**7), st.text(max_size=5), st.booleans(), st.floats(allow_nan=False),
                 st.lists(st.integers(-2, 40), max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_dicts(), st.data())
def test_random_field_values_never_escape_as_a_traceback(data, draw):
    tables = [data] + data["layer"]
    target = draw.draw(st.sampled_from(tables))
    key = draw.draw(st.sampled_from(sorted(k for k in target if k != "layer") + ["extra"]))
    target[key] = draw.draw(JUNK)
    try:
        specmod.parse(to_toml(data), "r.toml")
    except DeriveError as exc:
        assert exc.problems and all(p.startswith("r.toml: ") and "\n" not in p for p in exc.problems)
