"""Test helpers: a minimal TOML writer and hypothesis strategies for random specs."""

from __future__ import annotations

import json

from hypothesis import strategies as st

ACTIVATIONS = ("relu", "prelu", "linear", "tanh", "sigmoid")


def toml_value(v) -> str:
    """One TOML value (strings, ints, floats, bools and lists of them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def to_toml(data: dict) -> str:
    """A spec dict (top-level scalars plus a 'layer' array of tables) as TOML text."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if k != "layer"]
    for table in data.get("layer", []):
        lines += ["", "[[layer]]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _window(draw, limit):
    if draw(st.booleans()):
        return draw(st.integers(1, limit))
    return [draw(st.integers(1, limit)), draw(st.integers(1, limit))]


@st.composite
def spec_dicts(draw, max_side=24):
    """Random spec dicts: a few conv/maxpool layers then one to three dense layers (validity not guaranteed)."""
    data = {
        "input": [draw(st.integers(1, max_side)), draw(st.integers(1, max_side)), draw(st.integers(1, 4))],
        "shared_weights": draw(st.booleans()),
        "prelu": draw(st.sampled_from(("scalar", "channel", "element"))),
        "layer": [],
    }
    for i in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 3)) == 0:
            table = {"name": f"P{i}", "type": "maxpool", "size": _window(draw, 3)}
            if draw(st.booleans()):
                table["stride"] = _window(draw, 3)
        else:
            table = {"name": f"C{i}", "type": "conv", "kernel": _window(draw, 5),
                     "filters": draw(st.integers(1, 6)), "stride": _window(draw, 3),
                     "padding": draw(st.sampled_from(("same", "valid"))),
                     "activation": draw(st.sampled_from(ACTIVATIONS))}
        data["layer"].append(table)
    for i in range(draw(st.integers(1, 3))):
        data["layer"].append({"name": f"D{i}", "type": "dense", "units": draw(st.integers(1, 12)),
                              "activation": draw(st.sampled_from(ACTIVATIONS))})
    return data
