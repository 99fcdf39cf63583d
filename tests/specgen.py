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


# Names the validator accepts that once confused the derivation: identifiers built from them collided
# (a-b and a_b; x, xp and the primed x; L0 and the input's 0; eta whose bias was beta, the KL weight),
# they named a derivation (kl, prelu), or they crashed a printer (several underscores in mathtext).
HOSTILE_NAMES = ("a-b", "a_b", "x", "xp", "L0", "L00", "eta", "beta", "rho", "rhohat", "kl", "prelu", "all", "upper",
                 "lower", "L5", "L6", "a__b__c", "a_", "z--", "t", "D", "l", "L", "R", "m", "i", "arg0_", "n_5",
                 "epsilon", "Sum", "sigmoid", "w5_6", "s6p", "B" * 32)


def layer_names(k: int):
    """``k`` distinct names the validator accepts, hostile ones often."""
    from derive.spec import NAME

    one = st.one_of(st.sampled_from(HOSTILE_NAMES), st.from_regex(NAME, fullmatch=True))
    return st.lists(one, min_size=k, max_size=k, unique=True)


@st.composite
def named_tops(draw):
    """Small specs whose top (two or three dense layers) carries random accepted names."""
    k = draw(st.integers(2, 3))
    names = draw(layer_names(k))
    side = draw(st.integers(8, 10))  # the Shapeset images of derive check are square, of side 8 at least
    data = {"input": [side, side, draw(st.sampled_from((1, 3)))], "shared_weights": draw(st.booleans()),
            "prelu": draw(st.sampled_from(("scalar", "channel", "element"))), "layer": []}
    for name in names:
        data["layer"].append({"name": name, "type": "dense", "units": draw(st.integers(1, 3)),
                              "activation": draw(st.sampled_from(ACTIVATIONS))})
    return data
